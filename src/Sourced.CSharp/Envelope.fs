namespace Sourced.CSharp

open System
open System.Collections.Generic
open System.ComponentModel
open System.Runtime.InteropServices
open System.Text.Json
open System.Threading
open System.Threading.Tasks
open Sourced

/// A stored or outgoing message as C# sees it: its envelope and its JSON payload.
[<Sealed; AllowNullLiteral>]
type Envelope internal (message: Message) =
    /// Unique in the store; the causation and correlation ids of other messages point at it.
    member _.Id: Guid = message.Id
    /// The stream it belongs to.
    member _.StreamId: string = message.StreamId
    /// Its place in its stream (0 until stored).
    member _.Seq: int64 = message.Seq
    /// The stored type name, e.g. `carts.item_added`.
    member _.Type: string = message.Type
    /// When it was created, not when it was stored.
    member _.CreatedAt: DateTimeOffset = message.CreatedAt
    /// The id of the message that caused it; its own id when nothing did.
    member _.CausationId: Guid = message.CausationId
    /// The id shared by a whole chain (command, its events, the reactions to them): the first message's id.
    member _.CorrelationId: Guid = message.CorrelationId
    /// Its place in the store's global log (0 until stored).
    member _.Position: int64 = message.Position
    /// The message's data as JSON.
    member _.Payload: JsonElement = message.Payload
    /// Request id, user id, producer, ...: messages it causes inherit it.
    member _.Metadata: IReadOnlyDictionary<string, JsonElement> = message.Metadata

    /// A metadata value that is a JSON string, or null.
    member _.MetadataString(key: string) : string =
        Metadata.tryString key message.Metadata |> Option.toObj

    /// A copy with one more metadata entry (request id, user id, ...).
    member _.WithMetadata(key: string, value: string) : Envelope =
        Envelope(Message.withMetadataString key value message)

    /// The core message, for F# code.
    [<EditorBrowsable(EditorBrowsableState.Never)>]
    member _.Message: Message = message

    override _.ToString() = string message

module internal Envelopes =
    let ofList (messages: Message list) : IReadOnlyList<Envelope> =
        messages |> List.map Envelope |> Array.ofList :> IReadOnlyList<Envelope>

/// Anything the workers run as a consumer group: actors, projectors and handlers.
[<AbstractClass; AllowNullLiteral>]
type ReactorDefinition internal (group: string, reactor: Lazy<Reactor>) =
    /// The consumer group: one offset per stream, shared by every worker of every process.
    member _.Group: string = group

    /// The core reactor, for F# code and the hosting package.
    [<EditorBrowsable(EditorBrowsableState.Never)>]
    member _.Reactor: Reactor = reactor.Value

/// The message store as C# sees it: dispatch commands, read streams and correlation chains, and run reactors
/// until nothing is left (tests and scripts; in applications, workers do this in the background).
[<Sealed; AllowNullLiteral>]
type EventStore
    /// A store over any core store (the PostgreSQL store, say), for F# code and the hosting package.
    [<EditorBrowsable(EditorBrowsableState.Never)>]
    (store: IMessageStore) =
    do
        if isNull (box store) then
            nullArg (nameof store)

    /// A fresh in-memory store: tests, samples, prototypes.
    static member InMemory() : EventStore = EventStore(MemoryStore())

    /// The core store, for F# code.
    [<EditorBrowsable(EditorBrowsableState.Never)>]
    member _.Store: IMessageStore = store

    /// Stores a message for the reactors to pick up; returns it as stored.
    member _.DispatchAsync(message: Envelope, [<Optional>] ct: CancellationToken) : Task<Envelope> =
        if isNull message then
            nullArg (nameof message)

        task {
            let! stored = Store.dispatchAsync store message.Message ct
            return Envelope stored
        }

    /// A stream's messages, in order.
    member _.ReadStreamAsync(streamId: string, [<Optional>] ct: CancellationToken) : Task<IReadOnlyList<Envelope>> =
        if String.IsNullOrWhiteSpace streamId then
            invalidArg (nameof streamId) "A stream id is needed."

        task {
            let! messages = store.ReadStreamAsync(streamId, 0L, None, ct)
            return Envelopes.ofList messages
        }

    /// Every message of one correlation chain (command → events → reactions), in log order.
    member _.ReadCorrelationAsync
        (correlationId: Guid, [<Optional>] ct: CancellationToken)
        : Task<IReadOnlyList<Envelope>> =
        task {
            let! messages = store.ReadCorrelationAsync(correlationId, ct)
            return Envelopes.ofList messages
        }

    /// Runs the reactors in this process until none has anything left to do; returns the batches processed.
    member _.DrainAsync(reactors: IEnumerable<ReactorDefinition>, [<Optional>] ct: CancellationToken) : Task<int> =
        if isNull reactors then
            nullArg (nameof reactors)

        if reactors |> Seq.exists isNull then
            invalidArg (nameof reactors) "A reactor in the list is null."

        Drain.runAsync store (reactors |> Seq.map (fun definition -> definition.Reactor) |> List.ofSeq) ct

/// Any actor, whatever its state type: what reactions, projectors and handlers name as the source of the messages
/// they consume (its name prefixes their stored types) or the target of the commands they send.
[<AbstractClass; AllowNullLiteral>]
type ActorDefinition
    internal
    (
        name: string,
        commands: Codec<obj>,
        events: Codec<obj>,
        commandTypes: Type list,
        eventTypes: Type list,
        reactor: Lazy<Reactor>
    ) =
    inherit ReactorDefinition(name, reactor)

    /// The actor's name: its consumer group and the prefix of its message types (`carts.add_item`).
    member _.Name: string = name

    member internal _.Commands = commands
    member internal _.Events = events

    /// The codec that reads this message class (one of its commands or events).
    member internal _.CodecOf(messageClass: Type) : Codec<obj> =
        if List.contains messageClass commandTypes then
            Codec.only [ messageClass.Name ] commands
        elif List.contains messageClass eventTypes then
            Codec.only [ messageClass.Name ] events
        else
            invalidArg
                (nameof messageClass)
                $"Actor '{name}' has no command or event class {messageClass.Name}: register it with Decide, Evolve or Event."
