/// What only the PostgreSQL store has to get right: names, server settings, copied databases, discovery
/// across transactions that commit out of order, and leases of claims it lost track of.
module Sourced.Postgres.Tests.PostgresTests

open System
open System.Runtime.ExceptionServices
open System.Threading
open System.Threading.Tasks
open Expecto
open Npgsql
open Sourced
open Sourced.Postgres
open Sourced.Tests.Support
open Sourced.Tests.StoreContract.Kit

/// Runs `body` on a store installed in a fresh schema (unless `options` names another) of `dataSource`, with
/// the schema's name; then drops the schema.
let private onStore
    (dataSource: NpgsqlDataSource)
    (options: PostgresOptions -> PostgresOptions)
    (body: string -> PostgresStore -> Task<unit>)
    =
    task {
        let settings =
            options
                { PostgresOptions.defaults with
                    Schema = Server.freshSchema ()
                }

        let store = new PostgresStore(dataSource, settings)

        let! outcome =
            task {
                try
                    do! store.InstallAsync ct
                    do! body settings.Schema store
                    return None
                with error ->
                    return Some error
            }

        do! (store :> IAsyncDisposable).DisposeAsync()

        use drop =
            dataSource.CreateCommand $"DROP SCHEMA IF EXISTS \"{settings.Schema}\" CASCADE"

        let! _ = drop.ExecuteNonQueryAsync()

        match outcome with
        | Some error -> ExceptionDispatchInfo.Capture(error).Throw()
        | None -> ()
    }

/// `onStore` on a data source of its own, whose connection string `configure` sets; the body gets the data source.
let private onConfiguredStore
    (configure: NpgsqlConnectionStringBuilder -> unit)
    (body: NpgsqlDataSource -> string -> PostgresStore -> Task<unit>)
    =
    task {
        let builder = NpgsqlConnectionStringBuilder(Server.connectionString ())
        configure builder
        use dataSource = NpgsqlDataSource.Create builder.ConnectionString
        do! onStore dataSource id (body dataSource)
    }

/// Claims and completes until nothing is left; gives every message claimed, in order.
let private drainAll (store: IMessageStore) (group: string) =
    task {
        let seen = ResizeArray<Message>()
        let mutable more = true

        while more do
            match! claim store group 10 with
            | Some claimed ->
                seen.AddRange(claimed.Messages |> List.map (fun pending -> pending.Message))
                do! completeAll store claimed
            | None -> more <- false

        return List.ofSeq seen
    }

let tests =
    testList
        "postgres only"
        [
            testCaseTask "reserved words work as schema and prefix names" (fun () ->
                onStore
                    (Stores.source ())
                    (fun options ->
                        { options with
                            Schema = "user"
                            Prefix = "order"
                        })
                    (fun _ store ->
                        task {
                            let store = store :> IMessageStore
                            do! register store "g" [ happened ] StartFrom.Beginning
                            let! stored = appendTo store "s" 0L [ message "s" happened 1 ]
                            let! claimed = claimSome store "g" 10
                            Expect.equal (pending claimed) (fresh stored) "claimed"
                            do! completeAll store claimed
                        }))

            testCase "a name too long for a notification channel is refused, saying why" (fun () ->
                let error =
                    Expect.throwsC
                        (fun () ->
                            new PostgresStore(
                                Stores.source (),
                                { PostgresOptions.defaults with
                                    Schema = String('s', 31)
                                }
                            )
                            |> ignore)
                        id

                Expect.stringContains error.Message "1 to 30 lowercase letters" "what names may be")

            testCaseTask "installing refuses a store copied from a cluster with later transaction ids" (fun () ->
                let dataSource = Stores.source ()

                onStore dataSource id (fun schema store ->
                    task {
                        do! register store "g" [ happened ] StartFrom.Beginning

                        use ahead =
                            dataSource.CreateCommand(
                                $"UPDATE \"{schema}\".sourced_groups "
                                + "SET cursor_xid = (pg_current_xact_id()::text::bigint + 1000000)::text::xid8"
                            )

                        let! _ = ahead.ExecuteNonQueryAsync()
                        let! error = raises<InvalidOperationException>(fun () -> store.InstallAsync ct)
                        Expect.stringContains error.Message "copied from another cluster" "why"
                    }))

            testCaseTask
                "a completion that loses a deadlock is completed once, step by step, after the other side ends"
                (fun () ->
                    // The victim of a deadlock is the side whose deadlock_timeout fires first once the cycle is
                    // closed: the store's connections wait 200 ms and the other side a minute, so it is always the
                    // completion (and the other side's transaction, which holds discovery back, stays short).
                    let shortDeadlockTimeout (builder: NpgsqlConnectionStringBuilder) =
                        builder.Options <- "-c deadlock_timeout=200ms"

                    onConfiguredStore shortDeadlockTimeout (fun dataSource schema store ->
                        task {
                            let store = store :> IMessageStore
                            do! register store "g" [ happened ] StartFrom.Beginning
                            let! _ = appendTo store "target" 0L [ message "target" other 1 ]
                            let! stored = appendTo store "s" 0L [ message "s" happened 2 ]
                            let! claimed = claimSome store "g" 10
                            let appended = following 1L [ message "target" other 3 ]

                            let deadlocks () =
                                task {
                                    use count =
                                        dataSource.CreateCommand(
                                            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
                                        )

                                    let! value = count.ExecuteScalarAsync()
                                    return unbox<int64> value
                                }

                            let! deadlocksBefore = deadlocks ()

                            // Another transaction holds the target stream's head, so the completion (appends and an
                            // acknowledgement only: one batch) fences its offset and then waits for the head.
                            use! other = dataSource.OpenConnectionAsync()
                            use! otherTransaction = other.BeginTransactionAsync()

                            let otherSql (sql: string) =
                                task {
                                    use command = new NpgsqlCommand(sql, other, otherTransaction)
                                    return! command.ExecuteNonQueryAsync()
                                }

                            let! _ = otherSql "SET LOCAL deadlock_timeout = '1min'"

                            let! _ =
                                otherSql
                                    $"UPDATE \"{schema}\".sourced_streams SET seq = seq WHERE stream_id = 'target'"

                            let completing =
                                store.CompleteAsync(
                                    claimed,
                                    [ handle [ Action.AppendAfter("target", 1L, appended) ] claimed.Messages[0] ],
                                    ct
                                )

                            // Once the completion waits for the head (within 30 s), the other transaction wants the
                            // offsets the completion fenced: a deadlock, closed inside the server at once. A table
                            // lock, granted to the waiting side the moment the victim lets go (a freed row could be
                            // fenced first by the step-by-step retry, which would then deadlock again).
                            let! otherWon =
                                task {
                                    try
                                        let! _ =
                                            otherSql (
                                                "DO $$ DECLARE deadline timestamptz := clock_timestamp() + interval '30 s'; "
                                                + "BEGIN WHILE NOT EXISTS (SELECT 1 FROM pg_locks WHERE NOT granted "
                                                + "AND pg_backend_pid() = ANY (pg_blocking_pids(pid))) LOOP "
                                                + "IF clock_timestamp() > deadline THEN "
                                                + "RAISE 'the completion never waited for the stream head'; END IF; "
                                                + "PERFORM pg_sleep(0.002); END LOOP; "
                                                + $"LOCK TABLE \"{schema}\".sourced_offsets IN SHARE MODE; END $$"
                                            )

                                        return true
                                    with :? PostgresException as error when
                                        error.SqlState = PostgresErrorCodes.DeadlockDetected ->
                                        return false
                                }

                            do! otherTransaction.RollbackAsync()
                            let! completed = completing
                            Expect.equal completed CompleteResult.Completed "completed, whichever side lost"

                            // The server counts the deadlock; the completion's connection, closed here, reports it
                            // to the statistics view as it exits (an idle one could hold it back for 10 s).
                            dataSource.Clear()
                            let mutable counted = false
                            let deadline = DateTime.UtcNow.AddSeconds 10.0

                            while not counted && DateTime.UtcNow < deadline do
                                let! now = deadlocks ()
                                counted <- now > deadlocksBefore

                                if not counted then
                                    do! Task.Delay 50

                            Expect.isTrue counted "a deadlock happened"
                            Expect.isTrue otherWon "the completion was its victim, so the step-by-step path ran"

                            let! target = readStream store "target"
                            Expect.equal (seqs target) [ 1L; 2L ] "the append stored once"

                            Expect.equal
                                (ids target |> List.last)
                                (ids appended |> List.head)
                                "the completion's message"

                            do! expectNoClaim store "g" "acknowledged"
                            Expect.equal (pending claimed) (fresh stored) "the claimed message was the one stored"
                        }))

            testCaseTask
                "a pool of one connection is enough, even when a claim is the store's first statement"
                (fun () ->
                    onConfiguredStore
                        (fun builder ->
                            builder.MaxPoolSize <- 1
                            // Seconds to wait for a pooled connection: a store that needs two at once fails fast.
                            builder.Timeout <- 3)
                        (fun _ _ store ->
                            task {
                                let store = store :> IMessageStore
                                do! register store "g" [ happened ] StartFrom.Beginning
                                let! nothing = claim store "g" 10
                                Expect.isNone nothing "nothing to claim yet"
                                let! stored = appendTo store "s" 0L [ message "s" happened 1 ]
                                let! claimed = claimSome store "g" 10
                                Expect.equal (pending claimed) (fresh stored) "claimed"
                                do! completeAll store claimed
                            }))

            testCaseTask
                "claims and discovery steps run on their prepared plans, not planned again each time"
                (fun () ->
                    // One pooled connection: the store's statements and the check below share its session.
                    onConfiguredStore (fun builder -> builder.MaxPoolSize <- 1) (fun dataSource schema store ->
                        task {
                            let store = store :> IMessageStore
                            // Enough rows for the planner's estimates to matter: 20,000 messages in 200 streams.
                            for index in 1..200 do
                                let! _ =
                                    appendTo
                                        store
                                        $"s-{index}"
                                        0L
                                        [ for seq in 1..100 -> message $"s-{index}" happened seq ]

                                ()

                            use analyze = dataSource.CreateCommand $"ANALYZE \"{schema}\".sourced_messages"
                            let! _ = analyze.ExecuteNonQueryAsync()
                            do! register store "g" [ happened ] StartFrom.Beginning

                            for _ in 1..12 do
                                let! claimed = claimSome store "g" 10
                                do! completeAll store claimed

                            use prepared =
                                dataSource.CreateCommand
                                    "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"

                            use! reader = prepared.ExecuteReaderAsync()
                            let plans = ResizeArray()

                            while! reader.ReadAsync() do
                                plans.Add((reader.GetString 0, reader.GetInt64 1, reader.GetInt64 2))

                            // NOTE: PostgreSQL plans a prepared statement's first five executions with their
                            // parameters, then keeps its generic plan unless that one looks costlier (as a
                            // parameter LIMIT or a branch chosen by a parameter makes it: then all 12 are
                            // custom). Slack of two for a statistics change that invalidates the plan.
                            for name, marker in [ "discovery step", "discoverer AS"; "claim", "claimed AS (" ] do
                                match
                                    plans
                                    |> Seq.filter (fun (text: string, _, _) -> text.Contains marker)
                                    |> List.ofSeq
                                with
                                | [ _, generic, custom ] ->
                                    Expect.isLessThanOrEqual
                                        custom
                                        7L
                                        $"{name}: planned afresh only while PostgreSQL tries plans"

                                    Expect.isGreaterThanOrEqual generic 5L $"{name}: its generic plan used after that"
                                | found -> failtest $"{name}: expected one prepared statement, found {found.Length}"
                        }))

            testCaseTask "the store works when the server's default isolation is repeatable read" (fun () ->
                onConfiguredStore
                    (fun builder -> builder.Options <- @"-c default_transaction_isolation=repeatable\ read")
                    (fun _ _ store ->
                        task {
                            let store = store :> IMessageStore
                            do! register store "g" [ happened ] StartFrom.Beginning

                            let! _ =
                                inParallel 4 (fun index -> store.AppendNextAsync([ message "s" happened index ], ct))

                            let! seen = drainAll store "g"
                            Expect.equal (seqs seen) [ 1L; 2L; 3L; 4L ] "every append, claimed in order"
                        }))

            testCaseTask
                "the store works without prepared statements (behind a pooler that cannot keep them)"
                (fun () ->
                    onStore
                        (Stores.source ())
                        (fun options ->
                            { options with
                                PrepareStatements = false
                            })
                        (fun _ store ->
                            task {
                                let store = store :> IMessageStore
                                do! register store "g" [ happened ] StartFrom.Beginning
                                let! _ = appendTo store "s" 0L [ message "s" happened 1 ]
                                let! _ = appendTo store "s" 1L [ message "s" happened 2; message "s" happened 3 ]
                                let! _ = store.AppendNextAsync([ message "t" happened 4 ], ct)
                                let! seen = drainAll store "g"
                                Expect.equal seen.Length 4 "every message claimed and completed"
                            }))

            testCaseTask
                "a group from now misses nothing when its stream's first new message commits after a later one"
                (fun () ->
                    onStore (Stores.source ()) (fun options -> { options with DiscoveryBatch = 1 }) (fun _ store ->
                        task {
                            let store = store :> IMessageStore
                            let! _ = appendTo store "s" 0L [ message "s" happened 0 ]
                            do! register store "g" [ happened ] StartFrom.Now

                            let started =
                                TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)

                            let proceed =
                                TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)

                            // The older transaction writes elsewhere first, then its message of "s" commits
                            // after a newer transaction's message of "s" with a lower seq.
                            let older =
                                store.TransactAsync(
                                    (fun transaction ->
                                        task {
                                            let! _ = transaction.AppendNextAsync([ message "x" happened 1 ], ct)
                                            started.SetResult()
                                            do! proceed.Task
                                            return! transaction.AppendNextAsync([ message "s" happened 3 ], ct)
                                        }),
                                    ct
                                )

                            do! started.Task
                            let! newer = store.AppendNextAsync([ message "s" happened 2 ], ct)
                            proceed.SetResult()
                            let! late = older
                            let! seen = drainAll store "g"

                            Expect.equal
                                (seen |> List.filter (fun message -> message.StreamId = "s") |> ids)
                                (ids (newer @ late))
                                "both messages of s after the group started"
                        }))

            testCaseTask "a claim the store lost track of is not renewed by heartbeats, so it expires" (fun () ->
                let clock = ManualClock start

                withStore Stores.create clock (fun store ->
                    task {
                        do! register store "g" [ happened ] StartFrom.Beginning
                        let! _ = appendTo store "s" 0L [ message "s" happened 1; message "s" happened 2 ]
                        let! claimed = claimSome store "g" 10
                        let stranger = handle [] (List.last claimed.Messages)

                        let! _ =
                            raises<ArgumentException>(fun () ->
                                store.CompleteAsync(claimed, [ stranger ], ct) :> Task)

                        clock.Advance(TimeSpan.FromSeconds 8.0)
                        do! store.HeartbeatAsync([ "worker-1" ], ct)
                        clock.Advance(TimeSpan.FromSeconds 4.0)
                        let! reclaimed = store.ReclaimAsync(TimeSpan.FromSeconds 10.0, ct)
                        Expect.equal reclaimed 1 "the forgotten claim expired"
                        let! again = claimSome store "g" 10
                        Expect.equal again.StreamId "s" "its stream is claimable again"
                    }))
        ]
