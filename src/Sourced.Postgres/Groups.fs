namespace Sourced.Postgres

open System
open System.Threading
open System.Threading.Tasks
open Npgsql
open Sourced

/// Consumer groups: registration, stopping, starting, resets, failures and their statistics.
type internal Groups(session: Session, claims: Claims) =
    let statements = session.Statements

    let groupExists (ct: CancellationToken) (group: string) =
        task {
            let! count =
                session.Scalar ct statements.GroupExists (fun parameters -> Rows.add parameters "group" group)

            return unbox<int64> count > 0L
        }

    member _.RegisterAsync(group: GroupInfo, ct: CancellationToken) : Task =
        if String.IsNullOrWhiteSpace group.Id then
            invalidArg (nameof group) "A consumer group needs an id."

        session.Run ct (fun transaction ->
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

    member _.StopAsync(group: string, reason: string, error: GroupError option, ct: CancellationToken) =
        task {
            let! stopped =
                session.Execute ct statements.StopGroup (fun parameters ->
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
                return if exists then false else Session.UnknownGroup group
        }

    member _.StartAsync(group: string, ct: CancellationToken) : Task =
        task {
            let! started =
                session.Execute ct statements.StartGroup (fun parameters -> Rows.add parameters "group" group)

            if started = 0 then
                Session.UnknownGroup group

            session.Notifier.Publish(StoreNotification.GroupStarted group)
        }

    member _.ResetAsync(group: string, ct: CancellationToken) : Task =
        task {
            let! exists = groupExists ct group

            if not exists then
                Session.UnknownGroup group

            do!
                session.Run ct (fun transaction ->
                    task {
                        for sql in [ statements.LockDiscovery; statements.ResetGroup ] do
                            use statement = transaction.Command sql
                            Rows.add statement.Parameters "group" group
                            let! _ = statement.ExecuteNonQueryAsync ct
                            ()
                    })
        }

    member _.RecordFailureAsync
        (group: string, attempt: int, recovery: Recovery, error: GroupError, ct: CancellationToken)
        =
        task {
            let! recorded =
                session.Execute ct statements.RecordFailure (fun parameters ->
                    Rows.add parameters "group" group
                    Rows.add parameters "attempt" attempt
                    Rows.add parameters "now" (Rows.utc (session.Clock.GetUtcNow()))
                    Rows.add parameters "error" (Rows.errorText error)
                    Rows.add parameters "reason" $"{error.ExceptionType}: {error.Error}"

                    match recovery with
                    | Recovery.Stop ->
                        Rows.add parameters "stop" true
                        Rows.add parameters "retryAt" (Rows.utc (session.Clock.GetUtcNow()))
                    | Recovery.RetryAt at ->
                        Rows.add parameters "stop" false
                        Rows.add parameters "retryAt" (Rows.utc at))

            if recorded > 0 then
                return true
            else
                let! exists = groupExists ct group
                return if exists then false else Session.UnknownGroup group
        }

    member _.RetryCountAsync(group: string, ct: CancellationToken) =
        task {
            let! found =
                session.Scalar ct statements.RetryCount (fun parameters -> Rows.add parameters "group" group)

            return
                match found with
                | :? int as retries -> retries
                | _ -> Session.UnknownGroup group
        }

    member _.StatsAsync(ct: CancellationToken) =
        task {
            let! groups =
                session.Query ct statements.GroupIds ignore (fun reader ->
                    task {
                        let groups = ResizeArray<string>()

                        while! reader.ReadAsync ct do
                            groups.Add(reader.GetString 0)

                        return List.ofSeq groups
                    })

            for group in groups do
                do! claims.DiscoverAll ct group

            use! connection = session.DataSource.OpenConnectionAsync ct
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
