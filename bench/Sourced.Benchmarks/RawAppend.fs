/// The raw-Npgsql baselines of the append scenario: what a hand-written application needs to store the same events
/// in the same tables with the same guarantees, written as fast as we know how.
///
/// Why they are fair: they write every row and column the store writes (the same messages table, so the same
/// indexes and the same `xid` and `position` defaults, and the same stream row), and they keep the store's
/// guarantees: an append is atomic, and optimistic (the stream row moves from the expected seq, or, for a new
/// stream, is created; otherwise nothing is stored and the caller is told). They skip what a hand-written append
/// need not do: they return nothing (the store returns the stored messages with their positions), they send no
/// notification, and one-event appends use scalar parameters. Statements are prepared (once per pooled
/// connection), as the store's are. JSON goes as text, cast server-side, as the store does (typed jsonb array
/// parameters measured slower). The 100-event batch is tried three ways: unnest of
/// parameter arrays, a multi-row VALUES list, and binary COPY (which cannot join the stream row, so it runs in a
/// transaction after the stream-row statement); the fastest is the baseline.
module Sourced.Benchmarks.RawAppend

open System.Text.Json
open System.Threading
open System.Threading.Tasks
open Npgsql
open NpgsqlTypes
open Sourced

let private ct = CancellationToken.None

/// One append: the stream, the seq it is expected at, and its messages (seqs after it, as callers give them).
type Append =
    {
        StreamId: string
        After: int64
        Messages: Message list
    }

let conflict (append: Append) : 'T =
    invalidOp $"Stream '{append.StreamId}' was not at seq {append.After}: the benchmark's streams are its own."

let private add (parameters: NpgsqlParameterCollection) (name: string) (value: 'T) =
    parameters.Add(NpgsqlParameter<'T>(name, value)) |> ignore

let private metadataText (metadata: Metadata) : string =
    if metadata.IsEmpty then
        "{}"
    else
        JsonSerializer.Serialize(metadata |> Map.toSeq |> dict)

/// The columns of one message as parameters `@id<suffix>`, `@type<suffix>`, ...
let private addMessage (parameters: NpgsqlParameterCollection) (suffix: string) (message: Message) =
    add parameters ("id" + suffix) message.Id
    add parameters ("type" + suffix) message.Type
    add parameters ("created" + suffix) message.CreatedAt
    add parameters ("causation" + suffix) message.CausationId
    add parameters ("correlation" + suffix) message.CorrelationId
    add parameters ("metadata" + suffix) (metadataText message.Metadata)
    add parameters ("payload" + suffix) (message.Payload.GetRawText())

/// The stream and, for an existing stream, the expected seq; the event count for batches.
let private addHead (parameters: NpgsqlParameterCollection) (append: Append) (count: bool) =
    add parameters "stream" append.StreamId

    if append.After > 0L then
        add parameters "expected" append.After

    if count then
        add parameters "count" (int64 append.Messages.Length)

let private checkStored (append: Append) (stored: int) =
    if stored <> append.Messages.Length then
        conflict append

/// Raw, one event: one statement (stream row + message) in its own implicit transaction.
let one (dataSource: NpgsqlDataSource) (tables: Postgres.Tables) =
    let toNew = Postgres.render tables BenchSql.OneToNewStream
    let afterSeq = Postgres.render tables BenchSql.OneAfterSeq

    fun (append: Append) ->
        task {
            use! connection = dataSource.OpenConnectionAsync ct

            use insert =
                new NpgsqlCommand((if append.After = 0L then toNew else afterSeq), connection)

            addHead insert.Parameters append false
            addMessage insert.Parameters "" (List.exactlyOne append.Messages)
            do! insert.PrepareAsync ct
            let! stored = insert.ExecuteNonQueryAsync ct
            checkStored append stored
        }
        :> Task

/// Raw, one event: the same statement in an explicit transaction (BEGIN goes with it, COMMIT is a round trip).
let oneInTransaction (dataSource: NpgsqlDataSource) (tables: Postgres.Tables) =
    let toNew = Postgres.render tables BenchSql.OneToNewStream
    let afterSeq = Postgres.render tables BenchSql.OneAfterSeq

    fun (append: Append) ->
        task {
            use! connection = dataSource.OpenConnectionAsync ct
            use! transaction = connection.BeginTransactionAsync ct

            use insert =
                new NpgsqlCommand((if append.After = 0L then toNew else afterSeq), connection, transaction)

            addHead insert.Parameters append false
            addMessage insert.Parameters "" (List.exactlyOne append.Messages)
            do! insert.PrepareAsync ct
            let! stored = insert.ExecuteNonQueryAsync ct
            checkStored append stored
            do! transaction.CommitAsync ct
        }
        :> Task

/// Raw, many events: one statement, the events as parameter arrays unnested server-side.
let arrays (dataSource: NpgsqlDataSource) (tables: Postgres.Tables) =
    let toNew = Postgres.render tables BenchSql.ManyToNewStreamFromArrays
    let afterSeq = Postgres.render tables BenchSql.ManyAfterSeqFromArrays

    fun (append: Append) ->
        task {
            use! connection = dataSource.OpenConnectionAsync ct

            use insert =
                new NpgsqlCommand((if append.After = 0L then toNew else afterSeq), connection)

            let messages = append.Messages
            addHead insert.Parameters append true
            add insert.Parameters "ids" [| for message in messages -> message.Id |]
            add insert.Parameters "types" [| for message in messages -> message.Type |]
            add insert.Parameters "created" [| for message in messages -> message.CreatedAt |]
            add insert.Parameters "causations" [| for message in messages -> message.CausationId |]
            add insert.Parameters "correlations" [| for message in messages -> message.CorrelationId |]

            add insert.Parameters "metadatas" [| for message in messages -> metadataText message.Metadata |]
            add insert.Parameters "payloads" [| for message in messages -> message.Payload.GetRawText() |]
            do! insert.PrepareAsync ct
            let! stored = insert.ExecuteNonQueryAsync ct
            checkStored append stored
        }
        :> Task

/// Raw, many events: one statement, a multi-row VALUES list with a parameter per column and event.
let values (dataSource: NpgsqlDataSource) (tables: Postgres.Tables) (size: int) =
    let toNew = Postgres.render tables (BenchSql.manyFromValues BenchSql.NewHead size)

    let afterSeq =
        Postgres.render tables (BenchSql.manyFromValues BenchSql.MovedHead size)

    fun (append: Append) ->
        task {
            use! connection = dataSource.OpenConnectionAsync ct

            use insert =
                new NpgsqlCommand((if append.After = 0L then toNew else afterSeq), connection)

            addHead insert.Parameters append true

            append.Messages
            |> List.iteri (fun n message -> addMessage insert.Parameters (string n) message)

            do! insert.PrepareAsync ct
            let! stored = insert.ExecuteNonQueryAsync ct
            checkStored append stored
        }
        :> Task

/// Raw, many events: a transaction that moves the stream row, then binary COPY of the rows, then commit.
let copy (dataSource: NpgsqlDataSource) (tables: Postgres.Tables) =
    let toNew = Postgres.render tables BenchSql.NewStreamRow
    let afterSeq = Postgres.render tables BenchSql.MoveStreamRow
    let copyRows = Postgres.render tables BenchSql.CopyMessages

    fun (append: Append) ->
        task {
            use! connection = dataSource.OpenConnectionAsync ct
            use! transaction = connection.BeginTransactionAsync ct

            use head =
                new NpgsqlCommand((if append.After = 0L then toNew else afterSeq), connection, transaction)

            addHead head.Parameters append true
            do! head.PrepareAsync ct
            let! moved = head.ExecuteNonQueryAsync ct

            if moved <> 1 then
                conflict append

            let! writer = connection.BeginBinaryImportAsync(copyRows, ct)

            try
                for message in append.Messages do
                    do! writer.StartRowAsync ct
                    do! writer.WriteAsync(message.Id, NpgsqlDbType.Uuid, ct)
                    do! writer.WriteAsync(append.StreamId, NpgsqlDbType.Text, ct)
                    do! writer.WriteAsync(message.Seq, NpgsqlDbType.Bigint, ct)
                    do! writer.WriteAsync(message.Type, NpgsqlDbType.Text, ct)
                    do! writer.WriteAsync(message.CreatedAt, NpgsqlDbType.TimestampTz, ct)
                    do! writer.WriteAsync(message.CausationId, NpgsqlDbType.Uuid, ct)
                    do! writer.WriteAsync(message.CorrelationId, NpgsqlDbType.Uuid, ct)
                    do! writer.WriteAsync(metadataText message.Metadata, NpgsqlDbType.Jsonb, ct)
                    do! writer.WriteAsync(message.Payload.GetRawText(), NpgsqlDbType.Jsonb, ct)

                let! _ = writer.CompleteAsync ct
                ()
            finally
                writer.Dispose()

            do! transaction.CommitAsync ct
        }
        :> Task
