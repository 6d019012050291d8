namespace Sourced

open System
open System.Data.Common
open System.Text.Json
open System.Threading
open System.Threading.Tasks

/// Where a dispatched message goes.
[<RequireQualifiedAccess>]
type Target =
    /// The stream of the message being reacted to (the default).
    | SameStream
    /// A given stream (`Dispatch.toStream`).
    | Stream of streamId: string
    /// A fresh stream, `<prefix>-<uuid>` when a prefix is given.
    | NewStream of prefix: string option

/// When a dispatched message is appended.
[<RequireQualifiedAccess>]
type Timing =
    /// Appended when the batch that dispatched it completes (the default).
    | Now
    /// Scheduled for a time; appended to its stream once due.
    | At of DateTimeOffset
    /// Scheduled relative to the time the reaction runs.
    | After of TimeSpan

/// What a dispatch carries: a command of the reactor's own actor, or an already encoded message.
[<RequireQualifiedAccess; NoEquality; NoComparison>]
type DispatchBody<'Command> =
    /// A command of the reacting actor, encoded with the actor's own command codec.
    | Own of 'Command
    /// A message another codec encoded (`Dispatch.send`): its type and payload.
    | Encoded of messageType: string * payload: JsonElement

/// A message sent by a reaction: `Dispatch.command (SendAdminEmail id) |> Dispatch.toStream "admin"`.
[<NoEquality; NoComparison>]
type Dispatch<'Command> =
    {
        /// The command or encoded message it sends.
        Body: DispatchBody<'Command>
        /// The stream it goes to.
        Target: Target
        /// Now, or scheduled for later.
        Timing: Timing
        /// Entries added on top of the metadata it inherits from the message reacted to.
        Metadata: Metadata
    }

/// The command type of reactors that have no commands of their own (projectors, handlers):
/// they dispatch other actors' commands with `Dispatch.send` or `Dispatch.toActor`.
type NoCommand = private | NoCommand

/// What a `Sync` action gets: the store's open transaction (None in the memory store).
[<NoEquality; NoComparison>]
type SyncContext =
    {
        /// The store's open database transaction, to write through so that it commits with the batch.
        Transaction: DbTransaction option
        /// The cancellation token of the completion that runs the sync.
        CancellationToken: CancellationToken
    }

/// The only effects a reactor can ask for; stores execute them, one claim per transaction.
[<RequireQualifiedAccess; NoEquality; NoComparison>]
type Action =
    /// Nothing to do: the message is acknowledged (an empty action list means the same).
    | Ack
    /// Optimistic append: the stream must still be at `expectedSeq`; messages carry seqs expectedSeq+1...
    | AppendAfter of streamId: string * expectedSeq: int64 * messages: Message list
    /// Append at the end of each message's stream; the store assigns seqs.
    | AppendNext of messages: Message list
    /// Append each message to its stream once `at` has passed.
    | Schedule of at: DateTimeOffset * messages: Message list
    /// A side effect run inside the transaction that commits the batch, after all of its appends succeeded.
    | Sync of run: (SyncContext -> Task<unit>)
    /// Do not acknowledge this message (nor the rest of the batch): it will be claimed again.
    | Retry

/// A message handed to a handler or a reaction to another actor's events: its decoded value, its envelope,
/// and whether it is a replay.
[<NoEquality; NoComparison>]
type Received<'T> =
    {
        /// The message's payload, decoded.
        Value: 'T
        /// Its envelope: stream, seq, ids and metadata.
        Message: Message
        /// True when its consumer group processed it before (the group was reset).
        Replaying: bool
    }

/// A message handed to a reactor, and whether its consumer group has processed it before (a replay).
type Pending =
    {
        /// The claimed message.
        Message: Message
        /// True when its consumer group processed it before (the group was reset).
        Replaying: bool
    }

/// One claimed batch: pending messages of one stream, in order, and the stream's history when asked for.
[<NoEquality; NoComparison>]
type Batch =
    {
        /// The consumer group it was claimed for.
        Group: string
        /// The stream its messages are in.
        StreamId: string
        /// The group's unprocessed messages of the stream, in order.
        Messages: Pending list
        /// The whole stream at claim time (it contains the batch); empty unless the reactor needs history.
        History: Message list
        /// The store's clock when the batch was claimed: the time its reactions run at.
        Now: DateTimeOffset
        /// The store's clock, for reactors that need the time after some work (durable workflows).
        Clock: TimeProvider
        /// Makes the ids of the messages the batch produces.
        NewId: unit -> Guid
    }

/// The actions decided for one message of a batch.
[<NoEquality; NoComparison>]
type Handled =
    {
        /// The message these actions were decided for.
        Message: Message
        /// What to do for it; an empty list acknowledges it.
        Actions: Action list
    }

/// What a reactor made of a batch: actions for a prefix of its messages, and the failure that ended it early.
[<NoEquality; NoComparison>]
type BatchResult =
    {
        /// The messages handled, with their actions, in order: a prefix of the batch.
        Handled: Handled list
        /// The message the reactor failed on, and its error, when it stopped early.
        Failure: (Message * exn) option
    }

/// Where a new consumer group starts.
[<RequireQualifiedAccess>]
type StartFrom =
    /// Every message of its types, including those stored before the group existed.
    | Beginning
    /// Only messages appended after the group was first registered.
    | Now

/// The low-level reactor interface: a consumer group, the message types it consumes and a batch handler.
/// Actors, projectors, handlers and durable workflows are all built on it.
[<NoEquality; NoComparison>]
type Reactor =
    {
        /// The consumer group: one offset per stream, shared by every worker of every process.
        Group: string
        /// The message types it consumes.
        Types: string list
        /// Which of `Types` it takes as commands (an actor's); a unit can leave those unstored.
        Commands: string list
        /// Whether its batches come with the stream's whole history (`Batch.History`).
        NeedsHistory: bool
        /// Messages per claimed stream; None for the runtime's batch size.
        BatchSize: int option
        /// Where its group starts when it is first registered.
        StartFrom: StartFrom
        /// Decides the actions for a batch's messages.
        Handle: Batch -> CancellationToken -> Task<BatchResult>
    }

/// Making low-level reactors.
[<RequireQualifiedAccess>]
module Reactor =

    /// A low-level reactor: a group, the types it consumes and its batch handler; no history, no commands,
    /// batch size from the runtime, from the beginning. Change the rest with `{ reactor with ... }`.
    let create
        (group: string)
        (types: string list)
        (handle: Batch -> CancellationToken -> Task<BatchResult>)
        : Reactor =
        if String.IsNullOrWhiteSpace group then
            invalidArg (nameof group) "A reactor needs a group id."

        {
            Group = group
            Types = types
            Commands = []
            NeedsHistory = false
            BatchSize = None
            StartFrom = StartFrom.Beginning
            Handle = handle
        }

/// A reaction of an actor or projector to some message types, given the state as of the message.
[<NoEquality; NoComparison>]
type Reaction<'State, 'Command> =
    {
        /// The message types it reacts to.
        Types: string list
        /// A wildcard reaction covers only the types that no specific reaction covers.
        Wildcard: bool
        /// The dispatches for one message, given the state as of that message.
        React: 'State -> Message -> Dispatch<'Command> list
    }

/// An event-sourced actor: plain functions over its command, event and state types.
[<NoEquality; NoComparison>]
type Actor<'State, 'Command, 'Event> =
    {
        /// The consumer group, and the prefix of its message types.
        Name: string
        /// The codec of the commands it decides (`Actor.withCommands`).
        Commands: Codec<'Command>
        /// The codec of the events it records (`Actor.withEvents`).
        Events: Codec<'Event>
        /// The state of a stream with no events yet, given the stream id.
        Initial: string -> 'State
        /// Events for a command; `reject "why"` refuses it.
        Decide: 'State -> 'Command -> 'Event list
        /// Pure: no clock, no IO, no validation.
        Evolve: 'State -> 'Event -> 'State
        /// What it sends when events it reacts to are stored (`Actor.reacts`, `Actor.reactsTo`).
        Reactions: Reaction<'State, 'Command> list
        /// Messages per claimed stream; None for the runtime's batch size.
        BatchSize: int option
        /// Where its consumer group starts when it is first registered.
        StartFrom: StartFrom
    }

/// Where a projector's state comes from.
[<RequireQualifiedAccess; NoEquality; NoComparison>]
type ProjectionSource<'State> =
    /// Rebuilt from the stream's history on every batch.
    | EventSourced of initial: (string -> 'State)
    /// Loaded from your own storage (and saved back in `Sync`).
    | StateStored of load: (string -> CancellationToken -> Task<'State>)

/// What a projector's `Sync` receives for one batch.
[<NoEquality; NoComparison>]
type Projection<'State> =
    {
        /// The stream the batch came from.
        StreamId: string
        /// The state after the batch's events.
        State: 'State
        /// The batch's messages that were projected.
        Events: Message list
        /// True when every one of them is a replay.
        Replaying: bool
    }

/// A projector: evolves a state from events and syncs it inside the batch's transaction.
[<NoEquality; NoComparison>]
type Projector<'State, 'Event> =
    {
        /// The consumer group id.
        Name: string
        /// The codec of the events it projects: the message types it consumes.
        Events: Codec<'Event>
        /// Where its state comes from: the stream's history, or your own storage.
        Source: ProjectionSource<'State>
        /// Applies one event to the state.
        Evolve: 'State -> 'Event -> 'State
        /// Writes the state after a batch, inside the transaction that records the batch as processed.
        Sync: Projection<'State> -> SyncContext -> Task<unit>
        /// Skipped while replaying (sync is not).
        Reactions: Reaction<'State, NoCommand> list
        /// Messages per claimed stream; None for the runtime's batch size.
        BatchSize: int option
        /// Where its consumer group starts when it is first registered.
        StartFrom: StartFrom
    }
