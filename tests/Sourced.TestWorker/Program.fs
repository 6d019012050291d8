/// A worker process for tests that need real processes: it runs a runtime under the Supervisor and reports
/// what it does on standard output, one line per event.
module Sourced.TestWorker.Program

open System
open System.Threading
open System.Threading.Tasks
open Npgsql
open Sourced
open Sourced.Postgres

let say (line: string) =
    Console.Out.WriteLine line
    Console.Out.Flush()

/// A reactor of batches of one message: each says it began, waits until the runtime's stop has begun
/// (`stopBegun`), then takes `delay` more before it commits and says so. A stop therefore always finds the
/// first batch in flight, and a runtime that did not wait for it has `delay` to show it.
let slow (stopBegun: Task) (delay: TimeSpan) : Reactor =
    {
        Group = "slow"
        Types = [ "work.item" ]
        Commands = []
        NeedsHistory = false
        BatchSize = Some 1
        StartFrom = StartFrom.Beginning
        Handle =
            fun batch ct ->
                task {
                    let message = (List.head batch.Messages).Message
                    say $"begin {message.Seq}"
                    do! stopBegun.WaitAsync ct
                    do! Task.Delay(delay, ct)

                    return
                        {
                            Handled =
                                [
                                    {
                                        Message = message
                                        Actions =
                                            [
                                                Action.Sync(fun _ ->
                                                    say $"end {message.Seq}"
                                                    Task.FromResult())
                                            ]
                                    }
                                ]
                            Failure = None
                        }
                }
    }

/// `memory-slow <messages> <delay ms>`: a memory store with work queued for `slow`; runs until SIGTERM or Ctrl+C.
let memorySlow (messages: int) (delay: TimeSpan) =
    task {
        let store = MemoryStore() :> IMessageStore
        let completed = ref 0

        let stopBegun =
            TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)

        let runtime =
            new Runtime(
                store,
                [ slow stopBegun.Task delay ],
                { RuntimeOptions.defaults with
                    Workers = 1
                    Name = "test-worker"
                }
            )

        use _ =
            runtime.Subscribe(function
                | RuntimeEvent.BatchCompleted _ -> Interlocked.Increment completed |> ignore
                | RuntimeEvent.Started _ -> say "ready"
                | RuntimeEvent.Stopping -> stopBegun.TrySetResult() |> ignore
                | _ -> ())

        let! _ =
            store.AppendNextAsync(
                [ for _ in 1..messages -> Message.create "work" "work.item" Json.emptyObject ],
                CancellationToken.None
            )

        do! Supervisor.runAsync runtime (TimeSpan.FromSeconds 30.0)
        say $"stopped after {completed.Value} batches"
    }

/// The connection string of `postgres` mode.
[<Literal>]
let ConnectionVariable = "SOURCED_WORKER_PG"

/// Group "effects": writes one row per message into `<schema>.effects` (see `createEffects`) inside the
/// completing transaction, so an effect exists exactly when its message is acknowledged; then runs `afterLast`
/// with the batch's last message, still inside the transaction.
let effects (schema: string) (worker: string) (afterLast: Message -> CancellationToken -> Task) : Reactor =
    let record (message: Message) (last: bool) (sync: SyncContext) =
        task {
            let transaction = sync.Transaction.Value :?> NpgsqlTransaction

            use insert =
                new NpgsqlCommand(
                    $"INSERT INTO {schema}.effects (stream_id, seq, message_id, worker) VALUES ($1, $2, $3, $4)",
                    transaction.Connection,
                    transaction
                )

            insert.Parameters.AddWithValue message.StreamId |> ignore
            insert.Parameters.AddWithValue message.Seq |> ignore
            insert.Parameters.AddWithValue message.Id |> ignore
            insert.Parameters.AddWithValue worker |> ignore
            let! _ = insert.ExecuteNonQueryAsync sync.CancellationToken

            if last then
                do! afterLast message sync.CancellationToken
        }

    {
        Group = "effects"
        Types = [ "work.item" ]
        Commands = []
        NeedsHistory = false
        BatchSize = Some 5
        StartFrom = StartFrom.Beginning
        Handle =
            fun batch _ ->
                let count = batch.Messages.Length

                Task.FromResult
                    {
                        Handled =
                            batch.Messages
                            |> List.mapi (fun index pending ->
                                {
                                    Message = pending.Message
                                    Actions = [ Action.Sync(record pending.Message (index = count - 1)) ]
                                })
                        Failure = None
                    }
    }

/// The table `effects` writes to.
let createEffects (dataSource: NpgsqlDataSource) (schema: string) : Task =
    task {
        use create =
            dataSource.CreateCommand(
                $"CREATE TABLE {schema}.effects (id bigint GENERATED ALWAYS AS IDENTITY, stream_id text NOT NULL, "
                + "seq bigint NOT NULL, message_id uuid NOT NULL, worker text NOT NULL)"
            )

        let! _ = create.ExecuteNonQueryAsync()
        ()
    }

/// The end of each batch of `postgres` mode, still inside its transaction: waits `pace` while this process has
/// committed fewer than `blockAfter` batches (`committed ()`); from then on says "inside <stream> <seq>" and blocks
/// until cancelled, so that the transaction stays open (and can never commit) until the process is killed.
let pacedUntil (pace: TimeSpan) (blockAfter: int option) (committed: unit -> int) =
    fun (message: Message) (ct: CancellationToken) ->
        match blockAfter with
        | Some commits when committed () >= commits ->
            say $"inside {message.StreamId} {message.Seq}"
            Task.Delay(Timeout.InfiniteTimeSpan, ct)
        | _ -> Task.Delay(pace, ct)

/// Runs the reactors that `reactorsOf` makes on the PostgreSQL store in `schema` (installed by the caller) as
/// process `name`: two workers, quick heartbeats, promotions and catch-up, a lease of `staleAfter`; says what the
/// runtime reports; runs until SIGTERM or killed. `reactorsOf` also gets how many batches this process has
/// committed so far (safe to call from any worker).
let private serve
    (schema: string)
    (name: string)
    (staleAfter: TimeSpan)
    (reactorsOf: NpgsqlDataSource -> (unit -> int) -> Reactor list)
    =
    task {
        let committed = ref 0

        use dataSource =
            NpgsqlDataSource.Create(Environment.GetEnvironmentVariable ConnectionVariable)

        let store =
            new PostgresStore(
                dataSource,
                { PostgresOptions.defaults with
                    Schema = schema
                }
            )

        let runtime =
            new Runtime(
                store,
                reactorsOf dataSource (fun () -> Volatile.Read &committed.contents),
                { RuntimeOptions.defaults with
                    Workers = 2
                    Name = name
                    HeartbeatInterval = TimeSpan.FromMilliseconds 200.0
                    StaleAfter = staleAfter
                    CatchUpInterval = TimeSpan.FromSeconds 1.0
                    PromoteInterval = TimeSpan.FromMilliseconds 100.0
                }
            )

        use _ =
            runtime.Subscribe(function
                | RuntimeEvent.Started _ -> say "ready"
                | RuntimeEvent.BatchCompleted(_, stream, count) ->
                    Interlocked.Increment &committed.contents |> ignore
                    say $"committed {stream} {count}"
                | RuntimeEvent.ClaimLost(_, stream) -> say $"claim lost {stream}"
                | RuntimeEvent.Conflicted(_, stream) -> say $"conflicted {stream}"
                | RuntimeEvent.Reclaimed count -> say $"reclaimed {count}"
                | RuntimeEvent.Retrying(failure, _) -> say $"retrying: {failure.Error.Message}"
                | RuntimeEvent.GroupStopped failure -> say $"stopped group: {failure.Error.Message}"
                | RuntimeEvent.Trouble(operation, error) -> say $"trouble {operation}: {error.Message}"
                | _ -> ())

        do! Supervisor.runAsync runtime (TimeSpan.FromSeconds 30.0)
        do! (store :> IAsyncDisposable).DisposeAsync()
        say "stopped"
    }

/// `postgres <schema> <name> <pace ms> <block after|never>`: two workers of group "effects" (a 2 s lease); each
/// batch waits `pace` in its open transaction, until this process has committed `block after` batches: every later
/// batch says "inside <stream> <seq>" and blocks in its open transaction (see `pacedUntil`).
let postgres (schema: string) (name: string) (pace: TimeSpan) (blockAfter: int option) =
    serve schema name (TimeSpan.FromSeconds 2.0) (fun _ committed ->
        [ effects schema name (pacedUntil pace blockAfter committed) ])

/// `workflow <schema> <name> <hold step|none>`: the workflow `Relay.definition`, recording its step runs (in the
/// table `Relay.createStepRuns` made) as process `name`; the body of step `hold`, if one is named, never ends on
/// its own (a 3 s lease).
let workflow (schema: string) (name: string) (hold: string option) =
    serve schema name (TimeSpan.FromSeconds 3.0) (fun dataSource _ ->
        let runs: Relay.StepRuns =
            {
                DataSource = dataSource
                Schema = schema
                Process = name
                Hold = hold
            }

        [ Workflow.toReactor (Relay.definition runs) ])

[<EntryPoint>]
let main argv =
    match argv with
    | [| "memory-slow"; messages; delay |] ->
        (memorySlow (int messages) (TimeSpan.FromMilliseconds(float delay))).GetAwaiter().GetResult()
        0
    | [| "postgres"; schema; name; pace; blockAfter |] ->
        let blockAfter = if blockAfter = "never" then None else Some(int blockAfter)
        (postgres schema name (TimeSpan.FromMilliseconds(float pace)) blockAfter).GetAwaiter().GetResult()
        0
    | [| "workflow"; schema; name; hold |] ->
        (workflow schema name (if hold = "none" then None else Some hold)).GetAwaiter().GetResult()
        0
    | _ ->
        eprintfn "usage: Sourced.TestWorker memory-slow <messages> <delay ms>"

        eprintfn
            "       Sourced.TestWorker postgres <schema> <name> <pace ms> <block after|never>   (connection string in %s)"
            ConnectionVariable

        eprintfn
            "       Sourced.TestWorker workflow <schema> <name> <hold step|none>   (connection string in %s)"
            ConnectionVariable

        2
