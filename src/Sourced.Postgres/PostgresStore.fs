namespace Sourced.Postgres

open System
open System.Threading
open System.Threading.Tasks
open Npgsql
open Sourced

/// The PostgreSQL store: the whole store contract over an `NpgsqlDataSource`, shared by any number of processes.
/// See docs/postgres.md for how claims, discovery and appends work; the parts live in `Claims`, `Completions`
/// and `Groups`.
type PostgresStore(dataSource: NpgsqlDataSource, options: PostgresOptions, clock: TimeProvider) =
    let names = Names.create options

    let statements =
        Statements(names, options.PrepareStatements, options.DiscoveryBatch)

    let notifier = new Notifier(dataSource, names.Channel)
    let session = Session(dataSource, statements, clock, notifier)
    let claims = Claims(session, options)
    let completions = Completions(session, claims)
    let groups = Groups(session, claims)

    /// Messages read by one statement, in the order it gives them.
    let read (ct: CancellationToken) (sql: string) (parameters: NpgsqlParameterCollection -> unit) =
        session.Query ct sql parameters (fun reader -> Rows.readAll reader ct)

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
            session.Single ct (fun transaction -> transaction.Append(streamId, Position.After expectedSeq, messages))

        member _.AppendNextAsync(messages, ct) =
            session.Single ct (fun transaction -> transaction.AppendNext messages)

        member _.ReadStreamAsync(streamId, after, upTo, ct) =
            read ct statements.ReadStream (fun parameters ->
                Rows.add parameters "stream" streamId
                Rows.add parameters "after" after
                Rows.add parameters "upTo" (defaultArg upTo Int64.MaxValue))

        member _.ReadCorrelationAsync(correlationId, ct) =
            read ct statements.ReadCorrelation (fun parameters -> Rows.add parameters "correlation" correlationId)

        member _.ReadLogAsync(after, limit, ct) =
            task {
                if limit < 1 then
                    invalidArg (nameof limit) "A page needs a limit of at least 1."

                return!
                    read ct statements.ReadLog (fun parameters ->
                        Rows.add parameters "after" after
                        Rows.add parameters "limit" limit)
            }

        member _.ScheduleAsync(at, messages, ct) =
            session.Run ct (fun transaction ->
                task { do! (transaction :> IStoreTransaction).ScheduleAsync(at, messages, ct) })
            :> Task

        member _.PromoteDueAsync(ct) =
            session.Run ct (fun transaction ->
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

        member _.RegisterGroupAsync(group, ct) = groups.RegisterAsync(group, ct)

        member _.StopGroupAsync(group, reason, error, ct) =
            groups.StopAsync(group, reason, error, ct)

        member _.StartGroupAsync(group, ct) = groups.StartAsync(group, ct)
        member _.ResetGroupAsync(group, ct) = groups.ResetAsync(group, ct)

        member _.RecordFailureAsync(group, attempt, recovery, error, ct) =
            groups.RecordFailureAsync(group, attempt, recovery, error, ct)

        member _.RetryCountAsync(group, ct) = groups.RetryCountAsync(group, ct)
        member _.GroupStatsAsync(ct) = groups.StatsAsync ct

        member _.ClaimAsync(request, ct) =
            task {
                let! claimed = claims.Claim request 1 ct
                return List.tryHead claimed
            }

        member _.ClaimManyAsync(request, streams, ct) = claims.Claim request streams ct

        member _.CompleteAsync(claim, handled, ct) =
            completions.CompleteAsync(claim, handled, ct)

        member store.CompleteManyAsync(completed, ct) =
            completions.CompleteManyAsync(store, completed, ct)

        member _.ReleaseAsync(claim, ct) = claims.Release claim ct

        member _.HeartbeatAsync(workers, ct) =
            task {
                let! _ =
                    session.Execute ct statements.Heartbeat (fun parameters ->
                        Rows.add parameters "workers" (Array.ofList workers)
                        Rows.add parameters "tokens" claims.Live
                        Rows.add parameters "now" (Rows.utc (clock.GetUtcNow())))

                ()
            }

        member _.ReclaimAsync(staleAfter, ct) =
            let now = clock.GetUtcNow()

            session.Execute ct statements.Reclaim (fun parameters ->
                Rows.add parameters "cutoff" (Rows.utc (now - staleAfter))
                Rows.add parameters "forget" (Rows.utc (now - TimeSpan.FromDays 1.0)))

        member _.TransactAsync<'T>(work: IStoreTransaction -> Task<'T>, ct) : Task<'T> =
            session.Run ct (fun transaction -> work transaction)

        member _.Subscribe(listener) = notifier.Subscribe listener

    interface IAsyncDisposable with
        member _.DisposeAsync() =
            (notifier :> IAsyncDisposable).DisposeAsync()

    /// For containers disposed synchronously: waits for the notifier to stop.
    interface IDisposable with
        member store.Dispose() =
            (store :> IAsyncDisposable).DisposeAsync().AsTask().GetAwaiter().GetResult()
