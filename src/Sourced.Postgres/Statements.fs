namespace Sourced.Postgres

open System.Threading
open System.Threading.Tasks
open Npgsql

/// The store's SQL, rendered once for its schema and prefix.
type internal Statements(names: Names, prepare: bool, discoveryBatch: int) =
    let render = Sql.render names

    let claims =
        System.Collections.Concurrent.ConcurrentDictionary<struct (int * int * bool), string>()

    let pick (count: int) (one: string, many: string) = if count = 1 then one else many

    member _.Names = names

    /// Prepares a hot statement on its connection (once per pooled connection), unless turned off.
    member _.Prepare(command: NpgsqlCommand, ct: CancellationToken) : Task =
        if prepare then
            command.PrepareAsync ct
        else
            Task.CompletedTask

    member _.Prepare(batch: NpgsqlBatch, ct: CancellationToken) : Task =
        if prepare then
            batch.PrepareAsync ct
        else
            Task.CompletedTask

    member val AppendToNewStream = render Sql.AppendToNewStream
    member val AppendAfterSeq = render Sql.AppendAfterSeq
    member val AppendOneToNewStream = render Sql.AppendOneToNewStream
    member val AppendOneAfterSeq = render Sql.AppendOneAfterSeq
    member val AppendNext = render Sql.AppendNext
    member val StreamSeq = render Sql.StreamSeq
    member val ExistingIds = render Sql.ExistingIds
    member val ReadStream = render Sql.ReadStream
    member val ReadCorrelation = render Sql.ReadCorrelation
    member val ReadLog = render Sql.ReadLog
    member val Schedule = render Sql.Schedule
    member val TakeDue = render Sql.TakeDue
    member val LockDiscovery = render Sql.LockDiscovery
    member val LockGroup = render Sql.LockGroup
    member val InsertGroup = render Sql.InsertGroup
    member val UpdateGroupTypes = render Sql.UpdateGroupTypes
    member val RefreshPending = render Sql.RefreshPending
    member val Discover = (render Sql.Discover).Replace("{discovery_limit}", string discoveryBatch)
    member val AsynchronousCommit = Sql.AsynchronousCommit
    member val JitOff = Sql.JitOff

    /// The claim of up to `streams` streams of up to `batch` messages each, with or without their history (one
    /// statement per variant, rendered once).
    member _.Claim(streams: int, batch: int, history: bool) : string =
        claims.GetOrAdd(
            struct (streams, batch, history),
            fun struct (streams, batch, history) ->
                (render (Sql.Claim history))
                    .Replace("{claimed_streams}", string streams)
                    .Replace("{batch}", string batch)
        )

    member val Release = render Sql.Release
    member val private Fences = render (Sql.Fence false), render (Sql.Fence true)
    member val private Acknowledges = render (Sql.Acknowledge false), render (Sql.Acknowledge true)
    member val private Completes = render (Sql.Complete false), render (Sql.Complete true)

    /// Statements over one row or many (`Sql.rowsOf`), for `count` rows.
    member statements.Fence(count: int) = pick count statements.Fences
    member statements.Acknowledge(count: int) = pick count statements.Acknowledges
    member statements.Complete(count: int) = pick count statements.Completes
    member val EnsureOffset = render Sql.EnsureOffset
    member val LockOffset = render Sql.LockOffset
    member val PendingUpTo = render Sql.PendingUpTo
    member val StopGroup = render Sql.StopGroup
    member val StartGroup = render Sql.StartGroup
    member val ResetGroup = render Sql.ResetGroup
    member val RecordFailure = render Sql.RecordFailure
    member val RetryCount = render Sql.RetryCount
    member val GroupExists = render Sql.GroupExists
    member val GroupIds = render Sql.GroupIds
    member val Stats = render Sql.Stats
    member val Heartbeat = render Sql.Heartbeat
    member val Reclaim = render Sql.Reclaim
    member val Notify = Sql.Notify
