namespace Sourced.Postgres

open System
open System.Text.Json
open System.Threading
open System.Threading.Tasks
open Npgsql
open Sourced

/// Messages to and from rows: parameter arrays for inserts, readers for selects, JSON for metadata and errors.
[<RequireQualifiedAccess>]
module internal Rows =

    /// PostgreSQL keeps microseconds, in UTC.
    let utc (time: DateTimeOffset) : DateTimeOffset =
        let ticks = time.UtcTicks
        DateTimeOffset(ticks - ticks % 10L, TimeSpan.Zero)

    let metadataText (metadata: Metadata) : string =
        Json.write (fun writer ->
            writer.WriteStartObject()

            for pair in metadata do
                writer.WritePropertyName pair.Key
                pair.Value.WriteTo writer

            writer.WriteEndObject())
        |> Json.toText

    let metadataOf (text: string) : Metadata =
        if text = "{}" then
            Metadata.empty
        else
            // NOTE: the parsed root is a clone that owns its document; its values stay valid without a clone each.
            let json = Json.parse text

            json.EnumerateObject()
            |> Seq.map (fun property -> property.Name, property.Value)
            |> Map.ofSeq

    let add (parameters: NpgsqlParameterCollection) (name: string) (value: 'T) =
        parameters.Add(NpgsqlParameter<'T>(name, value)) |> ignore

    /// One column of the rows of a fence or an acknowledgement (`Sql.rowsOf`): a scalar for one row, an array
    /// (the name in the plural) for many.
    let private addColumn (parameters: NpgsqlParameterCollection) (name: string) (values: 'T array) =
        if values.Length = 1 then
            add parameters name values[0]
        else
            add parameters (name + "s") values

    /// Acknowledgements for `Sql.Acknowledge` and `Sql.Complete`: group, stream, seq and the claim's epoch (none,
    /// sent as -1: always moves).
    let addAcknowledgements
        (parameters: NpgsqlParameterCollection)
        (rows: (string * string * int64 * int64 option) list)
        =
        addColumn parameters "group" [| for group, _, _, _ in rows -> group |]
        addColumn parameters "stream" [| for _, stream, _, _ in rows -> stream |]
        addColumn parameters "seq" [| for _, _, seq, _ in rows -> seq |]
        addColumn parameters "epoch" [| for _, _, _, epoch in rows -> defaultArg epoch -1L |]

    /// Claims for `Sql.Fence`: group, stream and token.
    let addFences (parameters: NpgsqlParameterCollection) (claims: (string * string * Guid) list) =
        addColumn parameters "group" [| for group, _, _ in claims -> group |]
        addColumn parameters "stream" [| for _, stream, _ in claims -> stream |]
        addColumn parameters "token" [| for _, _, token in claims -> token |]

    /// The columns of `messages` as the arrays an insert unnests (everything but stream and seq).
    let addMessages (parameters: NpgsqlParameterCollection) (messages: Message list) =
        add parameters "ids" [| for message in messages -> message.Id |]
        add parameters "types" [| for message in messages -> message.Type |]
        add parameters "created" [| for message in messages -> utc message.CreatedAt |]
        add parameters "causations" [| for message in messages -> message.CausationId |]
        add parameters "correlations" [| for message in messages -> message.CorrelationId |]
        add parameters "metadatas" [| for message in messages -> metadataText message.Metadata |]
        add parameters "payloads" [| for message in messages -> Json.toText message.Payload |]

    /// The columns of one message as scalars (`Sql.InsertOneAfterHead`).
    let addMessage (parameters: NpgsqlParameterCollection) (message: Message) =
        add parameters "id" message.Id
        add parameters "type" message.Type
        add parameters "created" (utc message.CreatedAt)
        add parameters "causation" message.CausationId
        add parameters "correlation" message.CorrelationId
        add parameters "metadata" (metadataText message.Metadata)
        add parameters "payload" (Json.toText message.Payload)

    /// A message from `Sql.MessageColumns`, starting at column `first`.
    let read (reader: NpgsqlDataReader) (first: int) : Message =
        {
            Position = reader.GetInt64 first
            Id = reader.GetGuid(first + 1)
            StreamId = reader.GetString(first + 2)
            Seq = reader.GetInt64(first + 3)
            Type = reader.GetString(first + 4)
            CreatedAt = reader.GetFieldValue<DateTimeOffset>(first + 5)
            CausationId = reader.GetGuid(first + 6)
            CorrelationId = reader.GetGuid(first + 7)
            Metadata = metadataOf (reader.GetString(first + 8))
            Payload = Json.parse (reader.GetString(first + 9))
        }

    /// Every row of a reader, as messages.
    let readAll (reader: NpgsqlDataReader) (ct: CancellationToken) : Task<Message list> =
        task {
            let messages = ResizeArray()

            while! reader.ReadAsync ct do
                messages.Add(read reader 0)

            return List.ofSeq messages
        }

    let private writeMessage (writer: Utf8JsonWriter) (message: Message) =
        writer.WriteStartObject()
        writer.WriteString("id", message.Id)
        writer.WriteString("streamId", message.StreamId)
        writer.WriteNumber("seq", message.Seq)
        writer.WriteString("type", message.Type)
        writer.WriteString("createdAt", message.CreatedAt)
        writer.WriteString("causationId", message.CausationId)
        writer.WriteString("correlationId", message.CorrelationId)
        writer.WriteNumber("position", message.Position)
        writer.WritePropertyName "metadata"
        (Json.parse (metadataText message.Metadata)).WriteTo writer
        writer.WritePropertyName "payload"
        message.Payload.WriteTo writer
        writer.WriteEndObject()

    let private messageOf (json: JsonElement) : Message =
        {
            Id = json.GetProperty("id").GetGuid()
            StreamId = json.GetProperty("streamId").GetString()
            Seq = json.GetProperty("seq").GetInt64()
            Type = json.GetProperty("type").GetString()
            CreatedAt = json.GetProperty("createdAt").GetDateTimeOffset()
            CausationId = json.GetProperty("causationId").GetGuid()
            CorrelationId = json.GetProperty("correlationId").GetGuid()
            Position = json.GetProperty("position").GetInt64()
            Metadata = metadataOf (json.GetProperty("metadata").GetRawText())
            Payload = json.GetProperty("payload").Clone()
        }

    /// A group's recorded error, as stored in its `error` column.
    let errorText (error: GroupError) : string =
        Json.write (fun writer ->
            writer.WriteStartObject()
            writer.WriteString("error", error.Error)
            writer.WriteString("exceptionType", error.ExceptionType)
            writer.WriteString("detail", error.Detail)
            writer.WriteString("at", error.At)

            match error.Message with
            | Some message ->
                writer.WritePropertyName "message"
                writeMessage writer message
            | None -> writer.WriteNull "message"

            writer.WriteEndObject())
        |> Json.toText

    let errorOf (text: string) : GroupError =
        let json = Json.parse text

        {
            Error = json.GetProperty("error").GetString()
            ExceptionType = json.GetProperty("exceptionType").GetString()
            Detail = json.GetProperty("detail").GetString()
            At = json.GetProperty("at").GetDateTimeOffset()
            Message =
                match json.GetProperty "message" with
                | message when message.ValueKind = JsonValueKind.Null -> None
                | message -> Some(messageOf message)
        }
