/// The catch-up baseline: Marten's async daemon running a projection that does nothing with each event, over
/// events stored with Marten's own append API (string stream ids, quick append) in a schema of its own.
module Sourced.Benchmarks.MartenDaemon

open System
open System.Diagnostics
open System.Threading
open System.Threading.Tasks
open JasperFx
open JasperFx.Events
open JasperFx.Events.Daemon
open JasperFx.Events.Projections
open Marten
open Marten.Events.Projections
open Npgsql

let private ct = CancellationToken.None

/// Does nothing with each event (Marten has loaded and deserialized it, and records the shard's progress).
type NoOpProjection(name: string) as projection =
    inherit EventProjection()
    do projection.Name <- name
    override _.ApplyAsync(_: IDocumentOperations, _: IEvent, _: CancellationToken) = ValueTask.CompletedTask

let private storeIn (schema: string) (eventType: Type) (projection: NoOpProjection option) : DocumentStore =
    DocumentStore.For(fun options ->
        options.Connection(Postgres.connectionString ())
        options.DatabaseSchemaName <- schema
        options.AutoCreateSchemaObjects <- AutoCreate.All
        options.Events.StreamIdentity <- StreamIdentity.AsString
        options.Events.AppendMode <- EventAppendMode.Quick
        options.Events.AddEventType eventType
        options.Projections.AsyncMode <- DaemonMode.Solo

        projection
        |> Option.iter (fun projection -> options.Projections.Add(projection, ProjectionLifecycle.Async)))

/// Stores each transaction's streams and events in one session, with Marten's own append API.
let seedAsync (schema: string) (eventType: Type) (transactions: (string * obj list) list list) : Task =
    task {
        use store = storeIn schema eventType None
        do! store.Storage.ApplyAllConfiguredChangesToDatabaseAsync()

        for transaction in transactions do
            use session = store.LightweightSession()

            for streamId, events in transaction do
                session.Events.Append(streamId, Array.ofList events) |> ignore

            do! session.SaveChangesAsync ct
    }

/// Runs Marten's async daemon over a new projection until its shard reaches the highest sequence; gives the
/// seconds from start to there (the store is built and its schema checked before the clock starts). Checks the
/// shard's recorded progress.
let catchUpAsync (dataSource: NpgsqlDataSource) (schema: string) (eventType: Type) (name: string) (highest: int64) =
    task {
        let projection = NoOpProjection name
        use store = storeIn schema eventType (Some projection)
        do! store.Storage.ApplyAllConfiguredChangesToDatabaseAsync()
        use! daemon = store.BuildProjectionDaemonAsync()
        let shard = projection.ShardNames() |> Array.exactlyOne
        let started = Stopwatch.GetTimestamp()
        do! daemon.StartAllAsync()

        let! _ =
            daemon.Tracker.WaitForShardState(shard, highest, Nullable(TimeSpan.FromMinutes 2.0))

        let seconds = Stopwatch.GetElapsedTime(started).TotalSeconds
        do! daemon.StopAllAsync()
        eprintfn "    Marten's daemon: %.2f s" seconds

        use progress =
            dataSource.CreateCommand
                $"SELECT coalesce(max(last_seq_id), 0) FROM {schema}.mt_event_progression WHERE name = @shard"

        progress.Parameters.AddWithValue("shard", shard.Identity) |> ignore
        let! recorded = progress.ExecuteScalarAsync ct
        let recorded = unbox<int64> recorded

        if recorded <> highest then
            invalidOp $"Marten's shard '{shard.Identity}' recorded sequence {recorded}, not {highest}."

        return seconds
    }
