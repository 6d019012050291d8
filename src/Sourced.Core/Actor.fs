namespace Sourced

open System
open System.Threading
open System.Threading.Tasks

/// An actor's state loaded from the store, and the seq of the last message it has seen.
type Loaded<'State> =
    {
        /// The stream it was loaded from.
        StreamId: string
        /// The state folded from the stream's events.
        State: 'State
        /// The seq of the last message folded in: where the next append continues the stream.
        Seq: int64
    }

/// A command decided in memory: the command as a message, its events (numbered after `Loaded.Seq`
/// of the input) and the state after them.
[<NoEquality; NoComparison>]
type Decision<'State> =
    {
        /// The command, as a message (validated; `Actor.executeAsync` does not store it).
        Command: Message
        /// Its events as messages, numbered after the loaded seq (as stored, after `Actor.executeAsync`).
        Events: Message list
        /// The state and seq after the events.
        Loaded: Loaded<'State>
    }

/// Actors: `Actor.create`, then reactions, validation and settings; loading state and deciding or executing commands.
// NOTE: compiled as ActorModule so that C# code can import Sourced and Sourced.CSharp together.
[<RequireQualifiedAccess; CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Actor =

    /// An actor with union codecs named after it (`carts.add_item`, `carts.item_added`) and no reactions.
    let create
        (name: string)
        (initial: string -> 'State)
        (decide: 'State -> 'Command -> 'Event list)
        (evolve: 'State -> 'Event -> 'State)
        : Actor<'State, 'Command, 'Event> =
        if String.IsNullOrWhiteSpace name then
            invalidArg (nameof name) "An actor needs a name: it is its consumer group and type prefix."

        {
            Name = name
            Commands = Codec.union name
            Events = Codec.union name
            Initial = initial
            Decide = decide
            Evolve = evolve
            Reactions = []
            BatchSize = None
            StartFrom = StartFrom.Beginning
        }

    let private addReaction (reaction: Reaction<'State, 'Command>) (actor: Actor<'State, 'Command, 'Event>) =
        match reaction.Types |> List.tryFind actor.Commands.Handles with
        | Some clash ->
            invalidArg
                (nameof reaction)
                $"Actor '{actor.Name}' handles '{clash}' as a command; it can't also react to it."
        | None ->
            { actor with
                Reactions = actor.Reactions @ [ reaction ]
            }

    let private ownEvents
        (actor: Actor<'State, 'Command, 'Event>)
        (react: 'State -> 'Event -> Dispatch<'Command> list)
        =
        let events = actor.Events
        fun state message -> react state (Codec.decode events message)

    /// Reacts to some of its own events, by case name: `Actor.reacts [ nameof ItemAdded ] react`.
    let reacts
        (caseNames: string list)
        (react: 'State -> 'Event -> Dispatch<'Command> list)
        (actor: Actor<'State, 'Command, 'Event>)
        : Actor<'State, 'Command, 'Event> =
        let codec = Codec.only caseNames actor.Events

        addReaction
            {
                Types = Codec.types codec
                Wildcard = false
                React = ownEvents actor react
            }
            actor

    /// Reacts to every own event that no specific reaction covers (the wildcard reaction).
    let reactsToAll
        (react: 'State -> 'Event -> Dispatch<'Command> list)
        (actor: Actor<'State, 'Command, 'Event>)
        : Actor<'State, 'Command, 'Event> =
        addReaction
            {
                Types = Codec.types actor.Events
                Wildcard = true
                React = ownEvents actor react
            }
            actor

    /// Reacts to other actors' events (choreography), given them with their envelope (the stream they are in):
    /// `Actor.reactsTo (Codec.only [ nameof Started ] Booking.actor.Events) react`. The state is this actor's
    /// state in the event's stream, as of the event.
    let reactsTo
        (codec: Codec<'Other>)
        (react: 'State -> Received<'Other> -> Dispatch<'Command> list)
        (actor: Actor<'State, 'Command, 'Event>)
        : Actor<'State, 'Command, 'Event> =
        addReaction
            {
                Types = Codec.types codec
                Wildcard = false
                React =
                    fun state message ->
                        react
                            state
                            {
                                Value = Codec.decode codec message
                                Message = message
                                Replaying = false
                            }
            }
            actor

    /// Business validation of commands, run before they are stored or decided.
    let validates (rules: 'Command -> FieldError list) (actor: Actor<'State, 'Command, 'Event>) =
        { actor with
            Commands = Codec.validate rules actor.Commands
        }

    let private beforeReactions (what: string) (actor: Actor<'State, 'Command, 'Event>) =
        if not (List.isEmpty actor.Reactions) then
            invalidOp $"Set the {what} codec of actor '{actor.Name}' before adding reactions."

    /// Replaces the command codec (`Codec.rename` a case, say); before any reaction is added.
    let withCommands (codec: Codec<'Command>) (actor: Actor<'State, 'Command, 'Event>) =
        beforeReactions "command" actor
        { actor with Commands = codec }

    /// Replaces the event codec (`Codec.rename` a case, say); before any reaction is added.
    let withEvents (codec: Codec<'Event>) (actor: Actor<'State, 'Command, 'Event>) =
        beforeReactions "event" actor
        { actor with Events = codec }

    /// Messages per claimed stream for this actor (the runtime's batch size otherwise).
    let withBatchSize (size: int) (actor: Actor<'State, 'Command, 'Event>) =
        if size < 1 then
            invalidArg (nameof size) "A batch size must be at least 1."

        { actor with BatchSize = Some size }

    /// Where the actor's consumer group starts when it is first registered (`StartFrom.Beginning` by default).
    let startingFrom (start: StartFrom) (actor: Actor<'State, 'Command, 'Event>) = { actor with StartFrom = start }

    /// The message types the actor consumes: its commands and the events it reacts to.
    let types (actor: Actor<'State, 'Command, 'Event>) : string list =
        Codec.types actor.Commands
        @ (actor.Reactions |> List.collect (fun reaction -> reaction.Types))
        |> List.distinct

    /// The actor as a reactor for workers and `Drain`.
    let toReactor (actor: Actor<'State, 'Command, 'Event>) : Reactor =
        let handle = Interpreter.actor actor

        {
            Group = actor.Name
            Types = types actor
            Commands = Codec.types actor.Commands
            NeedsHistory = true
            BatchSize = actor.BatchSize
            StartFrom = actor.StartFrom
            Handle = fun batch _ -> Task.FromResult(handle batch)
        }

    /// A command message for a stream, validated (`InvalidMessageException` names the bad fields).
    let command (actor: Actor<'State, 'Command, 'Event>) (streamId: string) (command: 'Command) : Message =
        Codec.message actor.Commands streamId command

    /// The state folded from messages of its event types (others are skipped).
    let fold (actor: Actor<'State, 'Command, 'Event>) (loaded: Loaded<'State>) (messages: Message list) =
        messages
        |> List.fold
            (fun (loaded: Loaded<'State>) message ->
                let state =
                    if actor.Events.Handles message.Type then
                        actor.Evolve loaded.State (Codec.decode actor.Events message)
                    else
                        loaded.State

                { loaded with
                    State = state
                    Seq = message.Seq
                })
            loaded

    /// Catches a loaded state up with the store, reading only newer messages.
    let reloadAsync store actor (loaded: Loaded<'State>) (ct: CancellationToken) : Task<Loaded<'State>> =
        task {
            let! newer =
                (store: IMessageStore).ReadStreamAsync(loaded.StreamId, loaded.Seq, None, ct)

            return fold actor loaded newer
        }

    /// Loads an actor's state from its stream.
    let loadAsync store (actor: Actor<'State, 'Command, 'Event>) (streamId: string) ct : Task<Loaded<'State>> =
        reloadAsync
            store
            actor
            {
                StreamId = streamId
                State = actor.Initial streamId
                Seq = 0L
            }
            ct

    /// The actor's state as it was at a seq of its stream (history, audits).
    let loadAtAsync store (actor: Actor<'State, 'Command, 'Event>) (streamId: string) (upTo: int64) ct =
        task {
            let! messages = (store: IMessageStore).ReadStreamAsync(streamId, 0L, Some upTo, ct)

            return
                fold
                    actor
                    {
                        StreamId = streamId
                        State = actor.Initial streamId
                        Seq = 0L
                    }
                    messages
        }

    /// Decides a command in memory: nothing is stored. Invalid commands raise `InvalidMessageException`,
    /// refused ones `CommandRejectedException` (naming the command's type and stream).
    let decide
        (actor: Actor<'State, 'Command, 'Event>)
        (loaded: Loaded<'State>)
        (command: 'Command)
        : Decision<'State> =
        let message = Codec.message actor.Commands loaded.StreamId command
        let decided = deciding message (fun () -> actor.Decide loaded.State command)

        let events =
            decided
            |> List.map actor.Events.Encode
            |> Outbox.events message.CreatedAt Guid.CreateVersion7 message loaded.Seq

        {
            Command = message
            Events = events
            Loaded =
                { loaded with
                    State = List.fold actor.Evolve loaded.State decided
                    Seq = loaded.Seq + int64 events.Length
                }
        }

    /// Loads, decides and appends the events with optimistic concurrency, re-deciding on fresh state after a
    /// conflict (up to `attempts` times) before raising `ConcurrencyConflictException`. The command itself is
    /// not stored; its events are (their causation is the command's id).
    let executeWithAttempts
        (attempts: int)
        (store: IMessageStore)
        (actor: Actor<'State, 'Command, 'Event>)
        (streamId: string)
        (command: 'Command)
        (ct: CancellationToken)
        : Task<Decision<'State>> =
        task {
            let mutable loaded = Unchecked.defaultof<Loaded<'State>>
            let! first = loadAsync store actor streamId ct
            loaded <- first
            let mutable result = None
            let mutable attempt = 1

            while result.IsNone do
                let decision = decide actor loaded command

                match!
                    (if decision.Events.IsEmpty then
                         Task.FromResult(AppendResult.Appended [])
                     else
                         store.AppendAsync(streamId, loaded.Seq, decision.Events, ct))
                with
                | AppendResult.Appended stored -> result <- Some { decision with Events = stored }
                | AppendResult.Conflict actual when attempt >= attempts ->
                    raise (ConcurrencyConflictException(streamId, loaded.Seq, actual))
                | AppendResult.Conflict _ ->
                    attempt <- attempt + 1
                    let! fresher = reloadAsync store actor loaded ct
                    loaded <- fresher

            return result.Value
        }

    /// `executeWithAttempts 3`.
    let executeAsync store actor streamId command ct =
        executeWithAttempts 3 store actor streamId command ct
