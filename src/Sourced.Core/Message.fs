namespace Sourced

open System
open System.Text.Json

/// String-keyed, JSON-valued message metadata (request id, user id, producer, ...).
type Metadata = Map<string, JsonElement>

/// The envelope of every command and event in the log.
/// `Position` is the global position in the store's log; it is 0 until the message is stored.
[<CustomEquality; NoComparison>]
type Message =
    {
        /// Unique in the store; the causation and correlation ids of other messages point at it.
        Id: Guid
        /// The stream it belongs to: one actor instance, one workflow run, ...
        StreamId: string
        /// Its place in its stream, counting from 1; 0 until it is numbered or stored.
        Seq: int64
        /// The stored type name, e.g. `carts.item_added`: what codecs decode by and consumer groups subscribe to.
        Type: string
        /// When it was created (by the code or the reaction that made it), not when it was stored.
        CreatedAt: DateTimeOffset
        /// The id of the message that caused it; its own id when nothing did.
        CausationId: Guid
        /// The id shared by a whole chain (command, its events, the reactions to them): the first message's id.
        CorrelationId: Guid
        /// Request id, user id, producer, ...: messages it causes inherit it underneath their own.
        Metadata: Metadata
        /// The message's data, as its codec wrote it.
        Payload: JsonElement
        /// Its place in the store's global log; 0 until stored.
        Position: int64
    }

    override message.Equals(other: obj) =
        match other with
        | :? Message as other ->
            message.Id = other.Id
            && message.StreamId = other.StreamId
            && message.Seq = other.Seq
            && message.Type = other.Type
            && message.CreatedAt = other.CreatedAt
            && message.CausationId = other.CausationId
            && message.CorrelationId = other.CorrelationId
            && message.Position = other.Position
            && Json.deepEquals message.Payload other.Payload
            && message.Metadata.Count = other.Metadata.Count
            && message.Metadata
               |> Map.forall (fun key value ->
                   match other.Metadata.TryFind key with
                   | Some otherValue -> Json.deepEquals value otherValue
                   | None -> false)
        | _ -> false

    override message.GetHashCode() =
        HashCode.Combine(message.Id, message.StreamId, message.Seq, message.Type)

    override message.ToString() =
        sprintf "%s %s#%d %s" message.Type message.StreamId message.Seq (Json.toText message.Payload)

/// Well-known metadata keys written by Sourced itself.
[<RequireQualifiedAccess>]
module MetadataKeys =
    /// The consumer group whose reaction dispatched a command.
    [<Literal>]
    let Producer = "producer"

    /// When a scheduled message was scheduled (it is promoted into its stream later).
    [<Literal>]
    let ScheduledAt = "scheduled_at"

/// Building and reading message metadata.
[<RequireQualifiedAccess>]
module Metadata =
    /// No metadata.
    let empty: Metadata = Map.empty

    /// Metadata from string pairs, e.g. `Metadata.ofStrings [ "request_id", "r-1" ]`.
    let ofStrings (pairs: (string * string) list) : Metadata =
        pairs |> List.map (fun (key, value) -> key, Json.ofString value) |> Map.ofList

    /// Adds a key with a JSON value (replacing any value it had).
    let add (key: string) (value: JsonElement) (metadata: Metadata) : Metadata = Map.add key value metadata

    /// Adds a key with a string value (replacing any value it had).
    let addString (key: string) (value: string) (metadata: Metadata) : Metadata =
        Map.add key (Json.ofString value) metadata

    /// The value of a key when it is a JSON string.
    let tryString (key: string) (metadata: Metadata) : string option =
        match Map.tryFind key metadata with
        | Some value when value.ValueKind = JsonValueKind.String -> Some(value.GetString())
        | _ -> None

    /// `overrides` wins on clashing keys.
    let merge (baseline: Metadata) (overrides: Metadata) : Metadata =
        Map.fold (fun merged key value -> Map.add key value merged) baseline overrides

/// Making stream ids.
[<RequireQualifiedAccess>]
module StreamId =
    /// A fresh stream id (`<uuid>`), or `<prefix>-<uuid>` when a prefix is given.
    let create (prefix: string option) : string =
        let id = Guid.CreateVersion7().ToString()

        match prefix with
        | Some prefix when not (String.IsNullOrWhiteSpace prefix) -> prefix + "-" + id
        | _ -> id

/// Creating messages and deriving them from one another.
[<RequireQualifiedAccess>]
module Message =

    /// A new message with its own id as causation and correlation id; not yet in a stream sequence.
    let create (streamId: string) (messageType: string) (payload: JsonElement) : Message =
        if String.IsNullOrWhiteSpace streamId then
            invalidArg (nameof streamId) $"A '{messageType}' message needs a stream id."

        if String.IsNullOrWhiteSpace messageType then
            invalidArg (nameof messageType) $"A message for stream '{streamId}' needs a type."

        let id = Guid.CreateVersion7()

        {
            Id = id
            StreamId = streamId
            Seq = 0L
            Type = messageType
            CreatedAt = DateTimeOffset.UtcNow
            CausationId = id
            CorrelationId = id
            Metadata = Metadata.empty
            Payload = payload
            Position = 0L
        }

    /// `child` as caused by `parent`: causation = parent id, correlation = parent's correlation,
    /// and the parent's metadata underneath the child's own.
    let causedBy (parent: Message) (child: Message) : Message =
        { child with
            CausationId = parent.Id
            CorrelationId = parent.CorrelationId
            Metadata = Metadata.merge parent.Metadata child.Metadata
        }

    /// A copy with one more metadata entry, a JSON value (replacing any value the key had).
    let withMetadata (key: string) (value: JsonElement) (message: Message) : Message =
        { message with
            Metadata = Map.add key value message.Metadata
        }

    /// A copy with one more metadata entry, a string (replacing any value the key had).
    let withMetadataString (key: string) (value: string) (message: Message) : Message =
        withMetadata key (Json.ofString value) message

    /// True when both have the same type, stream and payload: the comparison used by the test helpers.
    let sameContent (left: Message) (right: Message) : bool =
        left.Type = right.Type
        && left.StreamId = right.StreamId
        && Json.deepEquals left.Payload right.Payload
