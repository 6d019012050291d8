namespace Sourced.Postgres

open System
open System.Collections.Concurrent
open System.Data
open System.Runtime.ExceptionServices
open System.Threading
open System.Threading.Tasks
open Npgsql
open Sourced

/// The store's handle on a claim: the fencing token and the offset's reset epoch when it was taken.
type internal PostgresClaim = { Token: Guid; Epoch: int64 }

/// The PostgreSQL store: the whole store contract over an `NpgsqlDataSource`, shared by any number of processes.
/// See docs/postgres.md for how claims, discovery and appends work.
type PostgresStore(dataSource: NpgsqlDataSource, options: PostgresOptions, clock: TimeProvider) =
    let names = Names.create options

    let statements =
        Statements(names, options.PrepareStatements, options.DiscoveryBatch)

    let notifier = new Notifier(dataSource, names.Channel)

    let notifyAppended (messages: Message list) =
        if not messages.IsEmpty then
            notifier.Publish(
                StoreNotification.MessagesAppended(messages |> List.map (fun message -> message.Type) |> List.distinct)
            )

    /// The tokens of the claims this store handed out and still tracks: heartbeats renew only these, so a
    /// claim that was lost track of (a failure between claiming and completing) expires instead.
    let live = ConcurrentDictionary<Guid, byte>()

    let command (connection: NpgsqlConnection) (sql: string) = new NpgsqlCommand(sql, connection)

    /// Every transaction is READ COMMITTED whatever the server's default: the statements rely on each one
    /// seeing what committed before it started, and on row locks being re-checked rather than failing.
    let beginReadCommitted (connection: NpgsqlConnection) (ct: CancellationToken) =
        connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, ct)

    /// Runs `work` in a transaction, committed when it returns `Ok`, rolled back on `Error` or an exception.
    /// The commit is not cancellable: once it is sent, the outcome is whatever the server did.
    let transact (ct: CancellationToken) (work: PostgresTransaction -> Task<Result<'T, 'Error>>) =
        task {
            use! connection = dataSource.OpenConnectionAsync ct
            use! transaction = beginReadCommitted connection ct
            let store = PostgresTransaction(statements, connection, transaction, clock, ct)
            let! outcome = work store

            match outcome with
            | Ok _ ->
                do! transaction.CommitAsync CancellationToken.None
                notifyAppended store.Appended
            | Error _ -> do! transaction.RollbackAsync CancellationToken.None

            return outcome
        }

    let run ct (work: PostgresTransaction -> Task<'T>) : Task<'T> =
        task {
            match! transact ct (fun transaction -> task { let! result = work transaction in return Ok result }) with
            | Ok result -> return result
            | Error(error: exn) -> return raise error
        }

    let mutable readCommittedByDefault: bool option = None

    /// Whether the server runs transactions READ COMMITTED by default (it nearly always does). Then a single
    /// statement or a batch runs in its implicit transaction, which saves the round trip of a COMMIT.
    let implicitIsReadCommitted (ct: CancellationToken) =
        task {
            match readCommittedByDefault with
            | Some known -> return known
            | None ->
                use! connection = dataSource.OpenConnectionAsync ct

                use show =
                    command connection "SELECT current_setting('default_transaction_isolation')"

                let! level = show.ExecuteScalarAsync ct
                let known = string level = "read committed"
                readCommittedByDefault <- Some known
                return known
        }

    /// Work of one statement (an append outside a transaction, say): in its implicit transaction when that is
    /// READ COMMITTED, or else in an explicit one.
    let single ct (work: PostgresTransaction -> Task<'T>) : Task<'T> =
        task {
            match! implicitIsReadCommitted ct with
            | false -> return! run ct work
            | true ->
                use! connection = dataSource.OpenConnectionAsync ct
                let store = PostgresTransaction(statements, connection, null, clock, ct)
                let! result = work store
                notifyAppended store.Appended
                return result
        }

    /// One statement in its own transaction; gives the number of rows it changed.
    let execute (ct: CancellationToken) (sql: string) (parameters: NpgsqlParameterCollection -> unit) =
        single ct (fun transaction ->
            task {
                use statement = transaction.Command sql
                parameters statement.Parameters
                return! statement.ExecuteNonQueryAsync ct
            })

    let unknownGroup (group: string) : 'T =
        invalidArg (nameof group) $"No consumer group '{group}' is registered."

    let groupExists (ct: CancellationToken) (group: string) =
        task {
            use! connection = dataSource.OpenConnectionAsync ct
            use exists = command connection statements.GroupExists
            Rows.add exists.Parameters "group" group
            let! count = exists.ExecuteScalarAsync ct
            return unbox<int64> count > 0L
        }

    /// What one discovery step saw: whether more may be found at once, whether committed messages of the
    /// group wait above the horizon, and whether it was skipped because another transaction is discovering.
    let discovered (reader: NpgsqlDataReader) =
        let scanned = reader.GetInt64 0
        let got = not (reader.IsDBNull 3) && reader.GetBoolean 3

        {|
            More = got && scanned = int64 options.DiscoveryBatch
            Waiting = reader.GetBoolean 4
            Skipped = not got
        |}

    /// Waits a little for transactions older than committed messages to end, until `deadline`; false when late.
    let waitForHorizon (deadline: DateTime) (ct: CancellationToken) =
        task {
            if DateTime.UtcNow >= deadline then
                return false
            else
                do! Task.Delay(TimeSpan.FromMilliseconds 5.0, ct)
                return true
        }

    /// Runs discovery steps for a group until everything committed is discovered (waiting up to `DiscoveryWait`
    /// for older transactions), or another process is discovering it.
    let discoverAll (ct: CancellationToken) (group: string) =
        task {
            let deadline = DateTime.UtcNow + options.DiscoveryWait
            let mutable more = true

            while more do
                use! connection = dataSource.OpenConnectionAsync ct
                use! transaction = beginReadCommitted connection ct
                use discover = new NpgsqlCommand(statements.Discover, connection, transaction)
                Rows.add discover.Parameters "group" group

                let! step =
                    task {
                        use! reader = discover.ExecuteReaderAsync ct
                        let! _ = reader.ReadAsync ct
                        return discovered reader
                    }

                do! transaction.CommitAsync CancellationToken.None

                if step.More then
                    more <- true
                elif step.Waiting then
                    let! early = waitForHorizon deadline ct
                    more <- early
                else
                    more <- false
        }

    /// Stops renewing a claim: it is ending (completed, released or settled), or else it expires.
    let forget (claim: Claim) =
        live.TryRemove((claim.Token :?> PostgresClaim).Token) |> ignore

    let release (claim: Claim) (ct: CancellationToken) =
        task {
            forget claim
            let handle = claim.Token :?> PostgresClaim

            let! _ =
                execute ct statements.Release (fun parameters ->
                    Rows.add parameters "group" claim.Group
                    Rows.add parameters "stream" claim.StreamId
                    Rows.add parameters "token" handle.Token)

            ()
        }

    /// Whether completing these appends or schedules messages (others may act on them at once, so its commit must
    /// be durable); acknowledgements and `Sync` writes alone may commit asynchronously.
    let storesMessages (handled: Handled list) =
        handled
        |> List.exists (fun item ->
            item.Actions
            |> List.exists (fun action ->
                match action with
                | Action.AppendAfter _
                | Action.AppendNext _
                | Action.Schedule _ -> true
                | Action.Ack
                | Action.Sync _
                | Action.Retry -> false))

    /// A claimed stream with nothing pending any more (processed in a unit, say): point it at its next message.
    let settle (claim: Claim) (ct: CancellationToken) =
        forget claim

        run ct (fun transaction ->
            task {
                use acknowledge = transaction.Command(statements.Acknowledge 1)
                Rows.addAcknowledgements acknowledge.Parameters [ claim.Group, claim.StreamId, 0L, None ]
                let! _ = acknowledge.ExecuteNonQueryAsync ct
                // In this transaction: it holds the offset's row lock now, so a release on another connection
                // would wait for it forever.
                use release = transaction.Command statements.Release
                Rows.add release.Parameters "group" claim.Group
                Rows.add release.Parameters "stream" claim.StreamId
                Rows.add release.Parameters "token" (claim.Token :?> PostgresClaim).Token
                let! _ = release.ExecuteNonQueryAsync ct
                ()
            })

    /// One discovery step and one claim attempt of up to `streams` streams, in one round trip and one transaction
    /// (plus its commit). With `awaitDiscovery` it first waits for a discovery running in another transaction to
    /// commit, so the claim sees the streams that discovery found.
    let claimOnce (request: ClaimRequest) (streams: int) (awaitDiscovery: bool) (ct: CancellationToken) =
        task {
            use! connection = dataSource.OpenConnectionAsync ct
            let! implicitly = implicitIsReadCommitted ct

            use! transaction =
                if implicitly then
                    ValueTask.FromResult<NpgsqlTransaction> null
                else
                    beginReadCommitted connection ct

            use batch = new NpgsqlBatch(connection, transaction)
            batch.BatchCommands.Add(NpgsqlBatchCommand(statements.AsynchronousCommit))

            if awaitDiscovery then
                let wait = NpgsqlBatchCommand(statements.LockDiscovery)
                Rows.add wait.Parameters "group" request.Group
                batch.BatchCommands.Add wait

            let discover = NpgsqlBatchCommand(statements.Discover)
            Rows.add discover.Parameters "group" request.Group
            batch.BatchCommands.Add discover
            let tokens = Array.init (max 1 streams) (fun _ -> Guid.NewGuid())

            let claim =
                NpgsqlBatchCommand(statements.Claim(tokens.Length, max 1 request.BatchSize, request.WithHistory))

            Rows.add claim.Parameters "group" request.Group
            Rows.add claim.Parameters "now" (Rows.utc (clock.GetUtcNow()))
            Rows.add claim.Parameters "worker" request.Worker
            Rows.add claim.Parameters "tokens" tokens
            batch.BatchCommands.Add claim
            do! statements.Prepare(batch, ct)
            // Per claimed stream, in stream order: its token, acked and high seqs, epoch, and messages.
            let claimed =
                ResizeArray<Guid * string * int64 * int64 * ResizeArray<Message * bool>>()

            let mutable known = true

            // Tracked before the claims can exist; a token leaves `live` unless its claim is handed out, so a
            // claim taken by a call that failed afterwards (cancelled, say) is never renewed, and expires.
            for token in tokens do
                live[token] <- 0uy

            let! discovery =
                task {
                    try
                        use! reader = batch.ExecuteReaderAsync ct
                        let! _ = reader.NextResultAsync ct

                        if awaitDiscovery then
                            let! _ = reader.NextResultAsync ct
                            ()

                        let! _ = reader.ReadAsync ct
                        let discovery = discovered reader
                        let! _ = reader.NextResultAsync ct

                        while! reader.ReadAsync ct do
                            known <- reader.GetInt64 0 > 0L

                            if not (reader.IsDBNull 1) then
                                let token = reader.GetGuid 5

                                let _, _, _, _, rows =
                                    match Seq.tryLast claimed with
                                    | Some(last, _, _, _, _ as current) when last = token -> current
                                    | _ ->
                                        let current =
                                            token,
                                            reader.GetString 1,
                                            reader.GetInt64 3,
                                            reader.GetInt64 4,
                                            ResizeArray()

                                        claimed.Add current
                                        current

                                if not (reader.IsDBNull 7) then
                                    rows.Add(Rows.read reader 7, reader.GetBoolean 6)

                        do! reader.DisposeAsync()

                        if not implicitly then
                            do! transaction.CommitAsync CancellationToken.None

                        return discovery
                    with error ->
                        for token in tokens do
                            live.TryRemove token |> ignore

                        ExceptionDispatchInfo.Capture(error).Throw()
                        return Unchecked.defaultof<_>
                }

            for token in tokens do
                if not (claimed |> Seq.exists (fun (held, _, _, _, _) -> held = token)) then
                    live.TryRemove token |> ignore

            if not known then
                return unknownGroup request.Group
            else
                return
                    discovery,
                    [
                        for token, streamId, high, epoch, rows in claimed ->
                            {
                                Group = request.Group
                                StreamId = streamId
                                Messages =
                                    [
                                        for message, inBatch in rows do
                                            if inBatch then
                                                {
                                                    Message = message
                                                    Replaying = message.Seq <= high
                                                }
                                    ]
                                History =
                                    if request.WithHistory then
                                        rows |> Seq.map fst |> List.ofSeq
                                    else
                                        []
                                Token = { Token = token; Epoch = epoch }
                            }
                    ]
        }

    /// Claims of up to `streams` streams with messages for the group: discovery steps and claim attempts until
    /// some are found, or nothing is left (waiting up to `DiscoveryWait` for older transactions to end).
    let claimAsync (request: ClaimRequest) (streams: int) (ct: CancellationToken) =
        task {
            let deadline = DateTime.UtcNow + options.DiscoveryWait
            let mutable result = []
            let mutable searching = true
            let mutable awaitDiscovery = false

            while searching do
                let! discovery, claimed = claimOnce request streams awaitDiscovery ct
                awaitDiscovery <- false
                let empty, found = claimed |> List.partition (fun claim -> claim.Messages.IsEmpty)

                for claim in empty do
                    do! settle claim ct

                match found with
                | _ :: _ ->
                    result <- found
                    searching <- false
                | [] when not empty.IsEmpty || discovery.More -> ()
                | [] when discovery.Skipped -> awaitDiscovery <- true
                | [] when discovery.Waiting ->
                    let! early = waitForHorizon deadline ct
                    searching <- early
                | [] -> searching <- false

            return result
        }

    /// The parameters of `Sql.Fence` for these claims.
    let addFences (parameters: NpgsqlParameterCollection) (completions: (Claim * Handled list) list) =
        Rows.addFences
            parameters
            [
                for claim, _ in completions -> claim.Group, claim.StreamId, (claim.Token :?> PostgresClaim).Token
            ]

    /// The parameters of `Sql.Complete`: the acknowledgements, and whether the commit may be asynchronous.
    let addCompletion
        (parameters: NpgsqlParameterCollection)
        (completions: (Claim * Handled list) list)
        acknowledgements
        =
        Rows.addAcknowledgements parameters acknowledgements
        Rows.add parameters "asynchronous" (not (completions |> List.exists (snd >> storesMessages)))

    /// Completes claims in one transaction: fences them all in one statement (a lost claim executes nothing),
    /// executes the actions of those still held (their appends first, then their syncs), and acknowledges them
    /// all in one statement. Gives each claim's result, or the first conflict, which rolls everything back (as
    /// does an exception).
    let completeTogether (completions: (Claim * Handled list) list) (ct: CancellationToken) =
        transact ct (fun transaction ->
            task {
                use fence = transaction.Command(statements.Fence completions.Length)

                addFences fence.Parameters completions

                do! statements.Prepare(fence, ct)
                let held = Collections.Generic.HashSet<struct (string * string)>()

                do!
                    task {
                        use! reader = fence.ExecuteReaderAsync ct

                        while! reader.ReadAsync ct do
                            held.Add(struct (reader.GetString 0, reader.GetString 1)) |> ignore
                    }

                let isHeld (claim: Claim) =
                    held.Contains(struct (claim.Group, claim.StreamId))

                let mutable conflict = None
                let applied = ResizeArray()

                for claim, handled in completions do
                    if conflict.IsNone && isHeld claim then
                        match! Store.applyAsync transaction handled ct with
                        | Error failed -> conflict <- Some failed
                        | Ok(seq, syncs) -> applied.Add((claim, seq, syncs))

                match conflict with
                | Some conflict -> return Error conflict
                | None ->
                    for _, _, syncs in applied do
                        do! Store.syncAsync transaction syncs

                    let acknowledgements =
                        [
                            for claim, seq, _ in applied do
                                match seq with
                                | Some seq ->
                                    claim.Group, claim.StreamId, seq, Some (claim.Token :?> PostgresClaim).Epoch
                                | None -> ()
                        ]

                    if not acknowledgements.IsEmpty then
                        use complete = transaction.Command(statements.Complete acknowledgements.Length)
                        addCompletion complete.Parameters completions acknowledgements

                        do! statements.Prepare(complete, ct)
                        let! _ = complete.ExecuteNonQueryAsync ct
                        ()

                    return
                        Ok
                            [
                                for claim, _ in completions ->
                                    if isHeld claim then
                                        CompleteResult.Completed
                                    else
                                        CompleteResult.Lost
                            ]
            })

    /// Whether a completion can be sent in one batch: appends and acknowledgements only (a `Sync` needs the
    /// appends' outcome first, a schedule checks ids first).
    let pipelinable (completions: (Claim * Handled list) list) =
        completions
        |> List.forall (fun (_, handled) ->
            Store.processed handled
            |> List.forall (fun item ->
                item.Actions
                |> List.forall (fun action ->
                    match action with
                    | Action.AppendAfter _
                    | Action.AppendNext _
                    | Action.Ack -> true
                    | Action.Schedule _
                    | Action.Sync _
                    | Action.Retry -> false)))

    /// `completeTogether` in one round trip plus the commit, for completions that only append and acknowledge:
    /// the fence, every append and the acknowledgement go in one batch, and the transaction commits only if every
    /// claim was still held and every append applied. Otherwise it is rolled back and gives None: the caller
    /// completes them step by step, which tells each claim's outcome (lost, conflict, error).
    let completePipelined (completions: (Claim * Handled list) list) (ct: CancellationToken) =
        task {
            let! outcome =
                transact ct (fun transaction ->
                    task {
                        use batch = transaction.Batch()
                        let fence = NpgsqlBatchCommand(statements.Fence completions.Length)

                        addFences fence.Parameters completions

                        batch.BatchCommands.Add fence
                        let reads = ResizeArray<NpgsqlDataReader -> Task<bool>>()

                        let acknowledgements =
                            [
                                for claim, handled in completions do
                                    let processed = Store.processed handled

                                    for item in processed do
                                        for action in item.Actions do
                                            match transaction.BatchCommand action with
                                            | Some(command, read) ->
                                                batch.BatchCommands.Add command
                                                reads.Add read
                                            | None -> ()

                                    match List.tryLast processed with
                                    | Some last ->
                                        claim.Group,
                                        claim.StreamId,
                                        last.Message.Seq,
                                        Some (claim.Token :?> PostgresClaim).Epoch
                                    | None -> ()
                            ]

                        if not acknowledgements.IsEmpty then
                            let complete = NpgsqlBatchCommand(statements.Complete acknowledgements.Length)

                            addCompletion complete.Parameters completions acknowledgements

                            batch.BatchCommands.Add complete

                        do! statements.Prepare(batch, ct)

                        try
                            use! reader = batch.ExecuteReaderAsync ct
                            let mutable held = 0

                            while! reader.ReadAsync ct do
                                held <- held + 1

                            let mutable applied = held = completions.Length

                            for read in reads do
                                let! _ = reader.NextResultAsync ct
                                let! fine = read reader
                                applied <- applied && fine

                            if applied then
                                return Ok [ for _ in completions -> CompleteResult.Completed ]
                            else
                                return Error()
                        with :? PostgresException ->
                            return Error()
                    })

            match outcome with
            | Ok results -> return Some results
            | Error() -> return None
        }

    /// Completes claims in one batch when they only append and acknowledge, or else (or when that batch rolled
    /// back) step by step in one transaction.
    let completeAll (completions: (Claim * Handled list) list) (ct: CancellationToken) =
        task {
            let! pipelined =
                if pipelinable completions then
                    completePipelined completions ct
                else
                    Task.FromResult None

            match pipelined with
            | Some results -> return Ok results
            | None -> return! completeTogether completions ct
        }

    new(dataSource: NpgsqlDataSource) = new PostgresStore(dataSource, PostgresOptions.defaults, TimeProvider.System)

    new(dataSource: NpgsqlDataSource, options: PostgresOptions) =
        new PostgresStore(dataSource, options, TimeProvider.System)

    /// Creates the schema and tables, or upgrades them to this version's; safe to run from many processes at once.
    member _.InstallAsync(ct: CancellationToken) : Task =
        Migrations.installAsync dataSource names ct

    /// Whether the tables are there at this version's schema.
    member _.IsInstalledAsync(ct: CancellationToken) : Task<bool> =
        Migrations.isInstalledAsync dataSource names ct

    interface IMessageStore with
        member _.Clock = clock

        member _.AppendAsync(streamId, expectedSeq, messages, ct) =
            Store.checkSequence streamId expectedSeq messages
            single ct (fun transaction -> transaction.Append(streamId, Position.After expectedSeq, messages))

        member _.AppendNextAsync(messages, ct) =
            single ct (fun transaction -> transaction.AppendNext messages)

        member _.ReadStreamAsync(streamId, after, upTo, ct) =
            task {
                use! connection = dataSource.OpenConnectionAsync ct
                use read = command connection statements.ReadStream
                Rows.add read.Parameters "stream" streamId
                Rows.add read.Parameters "after" after
                Rows.add read.Parameters "upTo" (defaultArg upTo Int64.MaxValue)
                use! reader = read.ExecuteReaderAsync ct
                return! Rows.readAll reader ct
            }

        member _.ReadCorrelationAsync(correlationId, ct) =
            task {
                use! connection = dataSource.OpenConnectionAsync ct
                use read = command connection statements.ReadCorrelation
                Rows.add read.Parameters "correlation" correlationId
                use! reader = read.ExecuteReaderAsync ct
                return! Rows.readAll reader ct
            }

        member _.ReadLogAsync(after, limit, ct) =
            task {
                if limit < 1 then
                    invalidArg (nameof limit) "A page needs a limit of at least 1."

                use! connection = dataSource.OpenConnectionAsync ct
                use read = command connection statements.ReadLog
                Rows.add read.Parameters "after" after
                Rows.add read.Parameters "limit" limit
                use! reader = read.ExecuteReaderAsync ct
                return! Rows.readAll reader ct
            }

        member _.ScheduleAsync(at, messages, ct) =
            run ct (fun transaction -> task { do! (transaction :> IStoreTransaction).ScheduleAsync(at, messages, ct) })
            :> Task

        member _.PromoteDueAsync(ct) =
            run ct (fun transaction ->
                task {
                    let now = Rows.utc (clock.GetUtcNow())
                    use take = transaction.Command statements.TakeDue
                    Rows.add take.Parameters "now" now

                    let! due =
                        task {
                            use! reader = take.ExecuteReaderAsync ct
                            let due = ResizeArray<Message>()

                            while! reader.ReadAsync ct do
                                due.Add
                                    {
                                        Id = reader.GetGuid 0
                                        StreamId = reader.GetString 1
                                        Type = reader.GetString 2
                                        CausationId = reader.GetGuid 3
                                        CorrelationId = reader.GetGuid 4
                                        Metadata = Rows.metadataOf (reader.GetString 5)
                                        Payload = Json.parse (reader.GetString 6)
                                        CreatedAt = now
                                        Seq = 0L
                                        Position = 0L
                                    }

                            return List.ofSeq due
                        }

                    let! promoted = transaction.AppendNext due
                    return promoted.Length
                })

        member _.RegisterGroupAsync(group, ct) =
            if String.IsNullOrWhiteSpace group.Id then
                invalidArg (nameof group) "A consumer group needs an id."

            run ct (fun transaction ->
                task {
                    use serialize = transaction.Command statements.LockDiscovery
                    Rows.add serialize.Parameters "group" group.Id
                    let! _ = serialize.ExecuteNonQueryAsync ct
                    use lockGroup = transaction.Command statements.LockGroup
                    Rows.add lockGroup.Parameters "group" group.Id

                    let! existing =
                        task {
                            use! reader = lockGroup.ExecuteReaderAsync ct
                            let! found = reader.ReadAsync ct

                            return
                                if found then
                                    Some(reader.GetFieldValue<string[]> 0)
                                else
                                    None
                        }

                    let types = group.Types |> List.distinct |> Array.ofList

                    match existing with
                    | None ->
                        use insert = transaction.Command statements.InsertGroup
                        Rows.add insert.Parameters "group" group.Id
                        Rows.add insert.Parameters "types" types

                        Rows.add
                            insert.Parameters
                            "start"
                            (match group.StartFrom with
                             | StartFrom.Beginning -> "beginning"
                             | StartFrom.Now -> "now")

                        let! _ = insert.ExecuteNonQueryAsync ct
                        ()
                    | Some current when Set.ofArray current <> Set.ofArray types ->
                        use update = transaction.Command statements.UpdateGroupTypes
                        Rows.add update.Parameters "group" group.Id
                        Rows.add update.Parameters "types" types

                        Rows.add
                            update.Parameters
                            "rescan"
                            (types |> Array.exists (fun t -> not (Array.contains t current)))

                        let! _ = update.ExecuteNonQueryAsync ct
                        use refresh = transaction.Command statements.RefreshPending
                        Rows.add refresh.Parameters "group" group.Id
                        let! _ = refresh.ExecuteNonQueryAsync ct
                        ()
                    | Some _ -> ()
                })
            :> Task

        member _.StopGroupAsync(group, reason, error, ct) =
            task {
                let! stopped =
                    execute ct statements.StopGroup (fun parameters ->
                        Rows.add parameters "group" group
                        Rows.add parameters "reason" reason

                        parameters.Add(
                            NpgsqlParameter(
                                "error",
                                NpgsqlTypes.NpgsqlDbType.Text,
                                Value =
                                    (match error with
                                     | Some error -> box (Rows.errorText error)
                                     | None -> box DBNull.Value)
                            )
                        )
                        |> ignore)

                if stopped > 0 then
                    return true
                else
                    let! exists = groupExists ct group
                    return if exists then false else unknownGroup group
            }

        member _.StartGroupAsync(group, ct) =
            task {
                let! started =
                    execute ct statements.StartGroup (fun parameters -> Rows.add parameters "group" group)

                if started = 0 then
                    unknownGroup group

                notifier.Publish(StoreNotification.GroupStarted group)
            }

        member _.ResetGroupAsync(group, ct) =
            task {
                let! exists = groupExists ct group

                if not exists then
                    unknownGroup group

                do!
                    run ct (fun transaction ->
                        task {
                            for sql in [ statements.LockDiscovery; statements.ResetGroup ] do
                                use statement = transaction.Command sql
                                Rows.add statement.Parameters "group" group
                                let! _ = statement.ExecuteNonQueryAsync ct
                                ()
                        })
            }

        member _.RecordFailureAsync(group, attempt, recovery, error, ct) =
            task {
                let! recorded =
                    execute ct statements.RecordFailure (fun parameters ->
                        Rows.add parameters "group" group
                        Rows.add parameters "attempt" attempt
                        Rows.add parameters "now" (Rows.utc (clock.GetUtcNow()))
                        Rows.add parameters "error" (Rows.errorText error)
                        Rows.add parameters "reason" $"{error.ExceptionType}: {error.Error}"

                        match recovery with
                        | Recovery.Stop ->
                            Rows.add parameters "stop" true
                            Rows.add parameters "retryAt" (Rows.utc (clock.GetUtcNow()))
                        | Recovery.RetryAt at ->
                            Rows.add parameters "stop" false
                            Rows.add parameters "retryAt" (Rows.utc at))

                if recorded > 0 then
                    return true
                else
                    let! exists = groupExists ct group
                    return if exists then false else unknownGroup group
            }

        member _.RetryCountAsync(group, ct) =
            task {
                use! connection = dataSource.OpenConnectionAsync ct
                use count = command connection statements.RetryCount
                Rows.add count.Parameters "group" group
                let! found = count.ExecuteScalarAsync ct

                return
                    match found with
                    | :? int as retries -> retries
                    | _ -> unknownGroup group
            }

        member _.GroupStatsAsync(ct) =
            task {
                let! groups =
                    task {
                        use! connection = dataSource.OpenConnectionAsync ct
                        use ids = command connection statements.GroupIds
                        use! reader = ids.ExecuteReaderAsync ct
                        let groups = ResizeArray<string>()

                        while! reader.ReadAsync ct do
                            groups.Add(reader.GetString 0)

                        return List.ofSeq groups
                    }

                for group in groups do
                    do! discoverAll ct group

                use! connection = dataSource.OpenConnectionAsync ct
                use stats = new NpgsqlBatch(connection)
                stats.BatchCommands.Add(NpgsqlBatchCommand(statements.JitOff))
                stats.BatchCommands.Add(NpgsqlBatchCommand(statements.Stats))
                use! reader = stats.ExecuteReaderAsync ct
                let! _ = reader.NextResultAsync ct
                let rows = ResizeArray<GroupStats>()

                while! reader.ReadAsync ct do
                    rows.Add
                        {
                            Id = reader.GetString 0
                            Status =
                                if reader.GetString 1 = "active" then
                                    GroupStatus.Active
                                else
                                    GroupStatus.Stopped
                            Reason = if reader.IsDBNull 2 then None else Some(reader.GetString 2)
                            Error =
                                if reader.IsDBNull 3 then
                                    None
                                else
                                    Some(Rows.errorOf (reader.GetString 3))
                            RetryAt =
                                if reader.IsDBNull 4 then
                                    None
                                else
                                    Some(reader.GetFieldValue<DateTimeOffset> 4)
                            RetryCount = reader.GetInt32 5
                            Streams = reader.GetInt64 6
                            PendingStreams = reader.GetInt64 7
                            Lag = reader.GetInt64 8
                        }

                return List.ofSeq rows
            }

        member _.ClaimAsync(request, ct) =
            task {
                let! claims = claimAsync request 1 ct
                return List.tryHead claims
            }

        member _.ClaimManyAsync(request, streams, ct) = claimAsync request streams ct

        member _.CompleteAsync(claim, handled, ct) =
            task {
                // The claim ends here, or fails to, or (when `handled` is no prefix of it) expires.
                forget claim
                Store.checkPrefix claim handled

                let! outcome =
                    task {
                        try
                            let! completed = completeAll [ claim, handled ] ct
                            return Ok completed
                        with
                        | :? PostgresException as error when
                            error.SqlState = PostgresErrorCodes.DeadlockDetected
                            || error.SqlState = PostgresErrorCodes.SerializationFailure
                            ->
                            return Ok(Error(CompleteResult.Conflict(claim.StreamId, -1L, -1L)))
                        | error -> return Error error
                    }

                match outcome with
                | Ok(Ok results) -> return List.exactlyOne results
                | Ok(Error conflict) ->
                    do! release claim ct
                    return conflict
                | Error error ->
                    do! release claim CancellationToken.None
                    return raise error
            }

        member store.CompleteManyAsync(completions, ct) =
            task {
                match completions with
                | []
                | [ _ ] -> return! Store.completeEachAsync store completions ct
                | _ when
                    not (
                        completions
                        |> List.forall (fun (claim, handled) -> Store.isPrefix claim handled)
                    )
                    ->
                    return! Store.completeEachAsync store completions ct
                | _ ->
                    for claim, _ in completions do
                        forget claim

                    let! together =
                        task {
                            try
                                let! completed = completeAll completions ct
                                return Ok completed
                            with error ->
                                return Error error
                        }

                    match together with
                    | Ok(Ok results) -> return results |> List.map Ok
                    // NOTE: rolled back; one by one, each gets its own outcome.
                    | Ok(Error _)
                    | Error _ -> return! Store.completeEachAsync store completions ct
            }

        member _.ReleaseAsync(claim, ct) = release claim ct

        member _.HeartbeatAsync(workers, ct) =
            task {
                let! _ =
                    execute ct statements.Heartbeat (fun parameters ->
                        Rows.add parameters "workers" (Array.ofList workers)
                        Rows.add parameters "tokens" (Array.ofSeq live.Keys)
                        Rows.add parameters "now" (Rows.utc (clock.GetUtcNow())))

                ()
            }

        member _.ReclaimAsync(staleAfter, ct) =
            let now = clock.GetUtcNow()

            execute ct statements.Reclaim (fun parameters ->
                Rows.add parameters "cutoff" (Rows.utc (now - staleAfter))
                Rows.add parameters "forget" (Rows.utc (now - TimeSpan.FromDays 1.0)))

        member _.TransactAsync<'T>(work: IStoreTransaction -> Task<'T>, ct) : Task<'T> =
            run ct (fun transaction -> work transaction)

        member _.Subscribe(listener) = notifier.Subscribe listener

    interface IAsyncDisposable with
        member _.DisposeAsync() =
            (notifier :> IAsyncDisposable).DisposeAsync()

    /// For containers disposed synchronously: waits for the notifier to stop.
    interface IDisposable with
        member store.Dispose() =
            (store :> IAsyncDisposable).DisposeAsync().AsTask().GetAwaiter().GetResult()
