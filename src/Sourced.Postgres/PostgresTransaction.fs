namespace Sourced.Postgres

open System
open System.Data.Common
open System.Threading
open System.Threading.Tasks
open Npgsql
open Sourced

/// Where an append goes in its stream.
[<RequireQualifiedAccess>]
type internal Position =
    /// After the given seq, or not at all (optimistic concurrency).
    | After of int64

/// Store operations inside one PostgreSQL transaction: what completions, units and `TransactAsync` run on.
/// With a null `transaction`, each statement runs in its own implicit transaction (single-statement work).
type internal PostgresTransaction
    (statements: Statements, connection: NpgsqlConnection, transaction: NpgsqlTransaction, clock: TimeProvider, ct) =
    let appended = ResizeArray<Message>()

    let command (sql: string) =
        new NpgsqlCommand(sql, connection, transaction)

    /// A message id that is already stored. The server names it when the connection includes error details.
    let alreadyStored (messages: Message list) (error: PostgresException) =
        let named =
            match error.Detail with
            | null -> None
            | detail when detail.StartsWith "Key (id)=(" ->
                let id = detail.Substring(10, detail.IndexOf ')' - 10)
                messages |> List.tryFind (fun message -> string message.Id = id)
            | _ -> None

        let text =
            match named with
            | Some message ->
                $"Message {message.Id} ('{message.Type}' for stream '{message.StreamId}') is already stored."
            | None ->
                let streams =
                    messages
                    |> List.map (fun message -> $"'{message.StreamId}'")
                    |> List.distinct
                    |> String.concat ", "

                $"A message of this append (to {streams}) is already stored: message ids must be new."

        ArgumentException(text, "messages")

    let checkNew (messages: Message list) =
        for message in messages do
            if String.IsNullOrWhiteSpace message.StreamId then
                invalidArg (nameof messages) $"A '{message.Type}' message has no stream id."

            if String.IsNullOrWhiteSpace message.Type then
                invalidArg (nameof messages) $"A message for stream '{message.StreamId}' has no type."

        match
            messages
            |> List.countBy (fun message -> message.Id)
            |> List.tryFind (fun (_, n) -> n > 1)
        with
        | Some(id, _) -> invalidArg (nameof messages) $"Message {id} appears twice in one append."
        | None -> ()

    let actualSeq (streamId: string) =
        task {
            use seq = command statements.StreamSeq
            Rows.add seq.Parameters "stream" streamId
            let! actual = seq.ExecuteScalarAsync ct
            return unbox<int64> actual
        }

    /// An append's statement text and parameters.
    let appendStatement
        (streamId: string)
        (at: Position)
        (messages: Message list)
        (parameters: NpgsqlParameterCollection)
        =
        let one = messages.Length = 1
        Rows.add parameters "stream" streamId
        Rows.add parameters "count" (int64 messages.Length)

        match at with
        | Position.After expected -> Rows.add parameters "expected" expected

        if one then
            Rows.addMessage parameters messages.Head
        else
            Rows.addMessages parameters messages

        match at with
        | Position.After 0L when one -> statements.AppendOneToNewStream
        | Position.After 0L -> statements.AppendToNewStream
        | Position.After _ when one -> statements.AppendOneAfterSeq
        | Position.After _ -> statements.AppendAfterSeq

    /// The messages of an append as stored, from its (position, seq) rows; remembered for notifications.
    let stored (streamId: string) (messages: Message list) (rows: (int64 * int64) list) =
        let stored =
            List.map2
                (fun (message: Message) (position, seq) ->
                    { message with
                        StreamId = streamId
                        Position = position
                        Seq = seq
                        CreatedAt = Rows.utc message.CreatedAt
                    })
                messages
                rows

        appended.AddRange stored
        stored

    let readAppended (reader: NpgsqlDataReader) =
        task {
            let rows = ResizeArray()

            while! reader.ReadAsync ct do
                rows.Add(reader.GetInt64 0, reader.GetInt64 1)

            return List.ofSeq rows
        }

    /// The messages of an AppendNext as stored, from its (id, position, seq) rows; remembered for notifications.
    let storedNext (messages: Message list) (rows: Collections.Generic.Dictionary<Guid, int64 * int64>) =
        let stored =
            messages
            |> List.map (fun message ->
                let position, seq = rows[message.Id]

                { message with
                    Position = position
                    Seq = seq
                    CreatedAt = Rows.utc message.CreatedAt
                })

        appended.AddRange stored
        stored

    let readAppendedNext (reader: NpgsqlDataReader) =
        task {
            let rows = Collections.Generic.Dictionary<Guid, int64 * int64>()

            while! reader.ReadAsync ct do
                rows[reader.GetGuid 0] <- (reader.GetInt64 1, reader.GetInt64 2)

            return rows
        }

    let appendNextStatement (messages: Message list) (parameters: NpgsqlParameterCollection) =
        Rows.addMessages parameters messages
        Rows.add parameters "streams" [| for message in messages -> message.StreamId |]
        statements.AppendNext

    /// Appends one stream's messages in one statement; an empty result is a conflict.
    member _.Append(streamId: string, at: Position, messages: Message list) : Task<AppendResult> =
        task {
            checkNew messages

            if messages.IsEmpty then
                return AppendResult.Appended []
            else
                use append = command null
                append.CommandText <- appendStatement streamId at messages append.Parameters

                let! rows =
                    task {
                        try
                            do! statements.Prepare(append, ct)
                            use! reader = append.ExecuteReaderAsync ct
                            return! readAppended reader
                        with :? PostgresException as error when
                            error.SqlState = PostgresErrorCodes.UniqueViolation
                            && error.ConstraintName = $"{statements.Names.Prefix}_messages_id" ->
                            return raise (alreadyStored messages error)
                    }

                match rows with
                | [] ->
                    let! actual = actualSeq streamId
                    return AppendResult.Conflict actual
                | rows -> return AppendResult.Appended(stored streamId messages rows)
        }

    /// Each message at the end of its stream, in one statement; positions follow the messages' order.
    member _.AppendNext(messages: Message list) : Task<Message list> =
        task {
            checkNew messages

            if messages.IsEmpty then
                return []
            else
                use append = command null
                append.CommandText <- appendNextStatement messages append.Parameters
                do! statements.Prepare(append, ct)

                let! rows =
                    task {
                        try
                            use! reader = append.ExecuteReaderAsync ct
                            return! readAppendedNext reader
                        with :? PostgresException as error when
                            error.SqlState = PostgresErrorCodes.UniqueViolation
                            && error.ConstraintName = $"{statements.Names.Prefix}_messages_id" ->
                            return raise (alreadyStored messages error)
                    }

                return storedNext messages rows
        }

    /// An action's appends as one command of a batch (none when it appends nothing), with how to read its result:
    /// false when an optimistic append found its stream at another seq. Checks the messages as `AppendAsync`
    /// and `AppendNextAsync` do.
    member _.BatchCommand(action: Action) : (NpgsqlBatchCommand * (NpgsqlDataReader -> Task<bool>)) option =
        match action with
        | Action.AppendAfter(streamId, expected, messages) when not messages.IsEmpty ->
            Store.checkSequence streamId expected messages
            checkNew messages
            let append = NpgsqlBatchCommand()
            append.CommandText <- appendStatement streamId (Position.After expected) messages append.Parameters

            Some(
                append,
                fun reader ->
                    task {
                        match! readAppended reader with
                        | [] -> return false
                        | rows ->
                            stored streamId messages rows |> ignore
                            return true
                    }
            )
        | Action.AppendNext messages when not messages.IsEmpty ->
            checkNew messages
            let append = NpgsqlBatchCommand()
            append.CommandText <- appendNextStatement messages append.Parameters

            Some(
                append,
                fun reader ->
                    task {
                        let! rows = readAppendedNext reader
                        storedNext messages rows |> ignore
                        return true
                    }
            )
        | _ -> None

    /// A batch of commands in this transaction.
    member _.Batch() =
        new NpgsqlBatch(connection, transaction)

    /// What this transaction stored, in order (for notifications once it commits).
    member _.Appended: Message list = List.ofSeq appended

    member _.Connection = connection

    member _.Command(sql: string) = command sql

    interface IStoreTransaction with
        member _.SyncContext =
            {
                Transaction = Option.ofObj (transaction :> DbTransaction)
                CancellationToken = ct
            }

        member transaction.AppendAsync(streamId, expectedSeq, messages, _) =
            Store.checkSequence streamId expectedSeq messages
            transaction.Append(streamId, Position.After expectedSeq, messages)

        member transaction.AppendNextAsync(messages, _) = transaction.AppendNext messages

        member _.ReadStreamAsync(streamId, after, upTo, _) =
            task {
                use read = command statements.ReadStream
                Rows.add read.Parameters "stream" streamId
                Rows.add read.Parameters "after" after
                Rows.add read.Parameters "upTo" (defaultArg upTo Int64.MaxValue)
                use! reader = read.ExecuteReaderAsync ct
                return! Rows.readAll reader ct
            }

        member _.ScheduleAsync(at, messages, _) =
            task {
                checkNew messages

                if not messages.IsEmpty then
                    use existing = command statements.ExistingIds
                    Rows.add existing.Parameters "ids" [| for message in messages -> message.Id |]
                    let! taken = existing.ExecuteScalarAsync ct

                    match taken with
                    | :? Guid as id -> invalidArg (nameof messages) $"Message {id} is already stored or scheduled."
                    | _ -> ()

                    let now = clock.GetUtcNow()

                    let messages =
                        messages
                        |> List.map (
                            Message.withMetadata
                                MetadataKeys.ScheduledAt
                                (Json.write (fun writer -> writer.WriteStringValue now))
                        )

                    use schedule = command statements.Schedule
                    Rows.add schedule.Parameters "due" (Rows.utc at)
                    Rows.add schedule.Parameters "streams" [| for message in messages -> message.StreamId |]
                    Rows.addMessages schedule.Parameters messages
                    let! _ = schedule.ExecuteNonQueryAsync ct
                    ()
            }

        member _.PendingAsync(group, streamId, upTo, _) =
            task {
                use ensure = command statements.EnsureOffset
                Rows.add ensure.Parameters "group" group
                Rows.add ensure.Parameters "stream" streamId
                let! _ = ensure.ExecuteNonQueryAsync ct

                use lockOffset = command statements.LockOffset
                Rows.add lockOffset.Parameters "group" group
                Rows.add lockOffset.Parameters "stream" streamId

                let! offset =
                    task {
                        try
                            use! reader = lockOffset.ExecuteReaderAsync ct
                            let! found = reader.ReadAsync ct

                            if not found then
                                return invalidArg (nameof group) $"No consumer group '{group}' is registered."
                            else
                                return
                                    reader.GetInt64 0,
                                    reader.GetInt64 1,
                                    not (reader.IsDBNull 2),
                                    reader.GetFieldValue<string[]> 3
                        with :? PostgresException as error when error.SqlState = PostgresErrorCodes.LockNotAvailable ->
                            // A worker is completing a batch of this stream right now.
                            return raise (StreamBusyException(group, streamId))
                    }

                let acked, high, claimed, types = offset

                if claimed then
                    raise (StreamBusyException(group, streamId))

                use pending = command statements.PendingUpTo
                Rows.add pending.Parameters "stream" streamId
                Rows.add pending.Parameters "acked" acked
                Rows.add pending.Parameters "upTo" upTo
                Rows.add pending.Parameters "types" types
                use! reader = pending.ExecuteReaderAsync ct
                let! messages = Rows.readAll reader ct

                return
                    messages
                    |> List.map (fun message ->
                        {
                            Message = message
                            Replaying = message.Seq <= high
                        })
            }

        member _.AcknowledgeAsync(group, streamId, seq, _) =
            task {
                use ensure = command statements.EnsureOffset
                Rows.add ensure.Parameters "group" group
                Rows.add ensure.Parameters "stream" streamId
                let! _ = ensure.ExecuteNonQueryAsync ct
                use acknowledge = command (statements.Acknowledge 1)
                Rows.addAcknowledgements acknowledge.Parameters [ group, streamId, seq, None ]
                let! _ = acknowledge.ExecuteNonQueryAsync ct
                ()
            }
