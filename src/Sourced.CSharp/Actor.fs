namespace Sourced.CSharp

open System
open System.Collections.Generic
open System.Runtime.InteropServices
open System.Threading
open System.Threading.Tasks
open Sourced

/// A command decided: the command as a message, its events as stored (or as they would be), and the state after.
[<Sealed>]
type Decided<'State> internal (decision: Decision<'State>) =
    /// The actor's stream.
    member _.StreamId: string = decision.Loaded.StreamId
    /// The command, as a message (`ExecuteAsync` does not store it).
    member _.Command: Envelope = Envelope decision.Command
    /// Its events, in order: as `ExecuteAsync` stored them, or as `Decide` numbered them.
    member _.Events: IReadOnlyList<Envelope> = Envelopes.ofList decision.Events
    /// The state after the events.
    member _.State: 'State = decision.Loaded.State
    /// The stream's seq after the events.
    member _.Seq: int64 = decision.Loaded.Seq

/// What the fluent methods accumulate; the core actor is rebuilt from it at every step (definition time, cheap).
[<NoEquality; NoComparison>]
type internal ActorSpec<'State> =
    {
        Name: string
        Initial: Func<string, 'State>
        Decides: (Type * ('State -> obj -> obj list)) list
        Evolves: (Type * ('State -> obj -> 'State)) list
        Reactions: (Type * ('State -> obj -> Dispatch list)) list
        ReactionsTo: (Codec<obj> * ('State -> Received<obj> -> Dispatch list)) list
        Rules: (Type * (obj -> FieldError list)) list
        BatchSize: int option
        StartFrom: StartFrom
    }

module internal ActorSpec =

    let empty (name: string) (initial: Func<string, 'State>) : ActorSpec<'State> =
        if String.IsNullOrWhiteSpace name then
            invalidArg (nameof name) "An actor needs a name: it is its consumer group and type prefix."

        if isNull initial then
            nullArg (nameof initial)

        {
            Name = name
            Initial = initial
            Decides = []
            Evolves = []
            Reactions = []
            ReactionsTo = []
            Rules = []
            BatchSize = None
            StartFrom = StartFrom.Beginning
        }

    let private decideWith (spec: ActorSpec<'State>) =
        let decides = dict spec.Decides
        let known = spec.Evolves |> List.map fst |> HashSet

        fun (state: 'State) (command: obj) ->
            let events = decides[command.GetType()] state command

            for event in events do
                if isNull event then
                    invalidOp $"Actor '{spec.Name}' decided a null event for {command.GetType().Name}."

                if not (known.Contains(event.GetType())) then
                    let name = event.GetType().Name

                    invalidOp
                        $"Actor '{spec.Name}' decided a {name} event, which it does not know: register it with Evolve<{name}>(...) or Event<{name}>()."

            events

    let private validateWith (spec: ActorSpec<'State>) (command: obj) =
        spec.Rules
        |> List.filter (fun (commandType, _) -> commandType = command.GetType())
        |> List.collect (fun (_, rules) -> rules command)

    /// The core actor: class codecs named after the actor, decide and evolve by the runtime class.
    let build (spec: ActorSpec<'State>) : Sourced.Actor<'State, obj, obj> =
        let evolves = dict spec.Evolves
        let commands = Codec.ofTypes spec.Name (List.map fst spec.Decides)
        let events = Codec.ofTypes spec.Name (List.map fst spec.Evolves)

        match
            Codec.types commands
            |> List.tryFind (fun messageType -> events.Handles messageType)
        with
        | Some clash ->
            invalidArg (nameof spec) $"Actor '{spec.Name}' has a command and an event both stored as '{clash}'."
        | None -> ()

        let core: Sourced.Actor<'State, obj, obj> =
            {
                Name = spec.Name
                Commands =
                    Codec.ofTypes spec.Name (List.map fst spec.Decides)
                    |> Codec.validate (validateWith spec)
                Events = Codec.ofTypes spec.Name (List.map fst spec.Evolves)
                Initial = spec.Initial.Invoke
                Decide = decideWith spec
                Evolve = fun state event -> evolves[event.GetType()] state event
                Reactions = []
                BatchSize = spec.BatchSize
                StartFrom = spec.StartFrom
            }

        let withOwn =
            spec.Reactions
            |> List.fold
                (fun actor (eventType, react) ->
                    actor
                    |> Sourced.Actor.reacts [ eventType.Name ] (fun state event ->
                        react state event |> List.map (fun dispatch -> dispatch.Inner)))
                core

        spec.ReactionsTo
        |> List.fold
            (fun actor (codec, react) ->
                actor
                |> Sourced.Actor.reactsTo codec (fun state received ->
                    react state received |> List.map (fun dispatch -> dispatch.Inner)))
            withOwn

    /// Reactions and validations refer to classes registered before them.
    let checkKnown
        (spec: ActorSpec<'State>)
        (verb: string)
        (register: string)
        (messageType: Type)
        (registered: Type list)
        =
        if not (List.contains messageType registered) then
            invalidArg
                (nameof messageType)
                $"Actor '{spec.Name}' can't {verb} {messageType.Name}: register it first with {register}<{messageType.Name}>(...)."

    let checkNew (spec: ActorSpec<'State>) (what: string) (messageType: Type) (registered: Type list) =
        if List.contains messageType registered then
            invalidArg (nameof messageType) $"Actor '{spec.Name}' already has {what} {messageType.Name}."

/// An event-sourced actor defined with C# records and lambdas: `new Actor<Cart>("carts", id => new Cart(id))`,
/// then `.Decide<AddItem>(...)`, `.Evolve<ItemAdded>(...)`, `.React<ItemAdded>(...)`. Immutable: every method
/// returns a new actor. Message classes are stored as `<name>.<snake_case class name>` (`carts.item_added`)
/// unless `[MessageType]` names them; commands and events are told apart by their exact class.
[<Sealed>]
type Actor<'State> private (spec: ActorSpec<'State>, core: Sourced.Actor<'State, obj, obj>) =
    inherit
        ActorDefinition(
            spec.Name,
            core.Commands,
            core.Events,
            List.map fst spec.Decides,
            List.map fst spec.Evolves,
            lazy (Sourced.Actor.toReactor core)
        )

    static let create (spec: ActorSpec<'State>) =
        Actor<'State>(spec, ActorSpec.build spec)

    /// An actor without commands or events yet; `initial` gives the state of a new stream from its id.
    new(name: string, initial: Func<string, 'State>) =
        let spec = ActorSpec.empty name initial
        Actor<'State>(spec, ActorSpec.build spec)

    /// How it decides a command class: the events it produces (none is fine). Throw
    /// `CommandRejectedException` to refuse the command.
    member _.Decide<'Command>(decide: Func<'State, 'Command, IEnumerable<obj>>) : Actor<'State> =
        if isNull decide then
            nullArg (nameof decide)

        ActorSpec.checkNew spec "a Decide for" typeof<'Command> (List.map fst spec.Decides)

        let run (state: 'State) (command: obj) =
            match decide.Invoke(state, unbox<'Command> command) with
            | null -> []
            | events -> List.ofSeq events

        create
            { spec with
                Decides = spec.Decides @ [ typeof<'Command>, run ]
            }

    /// How it decides a command class that produces one event (null: none). Throw
    /// `CommandRejectedException` to refuse the command.
    member this.Decide<'Command>(decide: Func<'State, 'Command, obj>) : Actor<'State> =
        if isNull decide then
            nullArg (nameof decide)

        this.Decide<'Command>(
            Func<'State, 'Command, IEnumerable<obj>>(fun state command ->
                match decide.Invoke(state, command) with
                | null -> Seq.empty
                | event -> Seq.singleton event)
        )

    /// How an event class changes the state (registers the class as one of its events).
    member _.Evolve<'Event>(evolve: Func<'State, 'Event, 'State>) : Actor<'State> =
        if isNull evolve then
            nullArg (nameof evolve)

        ActorSpec.checkNew spec "the event" typeof<'Event> (List.map fst spec.Evolves)

        create
            { spec with
                Evolves =
                    spec.Evolves
                    @ [
                        typeof<'Event>, (fun state event -> evolve.Invoke(state, unbox<'Event> event))
                    ]
            }

    /// An event class that does not change the state.
    member this.Event<'Event>() : Actor<'State> =
        this.Evolve<'Event>(Func<'State, 'Event, 'State>(fun state _ -> state))

    /// Reacts to one of its own event classes with the state as of the event: commands to send.
    member _.React<'Event>(react: Func<'State, 'Event, IEnumerable<Dispatch>>) : Actor<'State> =
        if isNull react then
            nullArg (nameof react)

        ActorSpec.checkKnown spec "react to" "Evolve" typeof<'Event> (List.map fst spec.Evolves)

        create
            { spec with
                Reactions =
                    spec.Reactions
                    @ [
                        typeof<'Event>,
                        fun state event -> Dispatches.forActorList (react.Invoke(state, unbox<'Event> event))
                    ]
            }

    /// Reacts to another actor's event class (choreography), given the event, its envelope (the stream it is in)
    /// and this actor's state in that stream as of the event.
    member _.ReactTo<'Event>
        (source: ActorDefinition, react: Func<'State, 'Event, Envelope, IEnumerable<Dispatch>>)
        : Actor<'State> =
        if isNull source then
            nullArg (nameof source)

        if isNull react then
            nullArg (nameof react)

        let codec = source.CodecOf typeof<'Event>

        create
            { spec with
                ReactionsTo =
                    spec.ReactionsTo
                    @ [
                        codec,
                        fun state received ->
                            Dispatches.forActorList (
                                react.Invoke(state, unbox<'Event> received.Value, Envelope received.Message)
                            )
                    ]
            }

    /// Business validation of a command class, run before it is stored or decided: the problems, by field.
    member _.Validate<'Command>(rules: Func<'Command, IEnumerable<FieldError>>) : Actor<'State> =
        if isNull rules then
            nullArg (nameof rules)

        ActorSpec.checkKnown spec "validate" "Decide" typeof<'Command> (List.map fst spec.Decides)

        let check (command: obj) =
            match rules.Invoke(unbox<'Command> command) with
            | null -> []
            | errors -> List.ofSeq errors

        create
            { spec with
                Rules = spec.Rules @ [ typeof<'Command>, check ]
            }

    /// Messages per claim for this actor (the runtime's batch size otherwise).
    member _.WithBatchSize(size: int) : Actor<'State> =
        if size < 1 then
            invalidArg (nameof size) "A batch size must be at least 1."

        create { spec with BatchSize = Some size }

    /// A new consumer group takes only messages appended after it was first registered.
    member _.StartingFromNow() : Actor<'State> =
        create { spec with StartFrom = StartFrom.Now }

    /// The core actor, for F# code.
    [<System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)>]
    member _.Core: Sourced.Actor<'State, obj, obj> = core

    /// A validated command message for a stream (`InvalidMessageException` names every bad field).
    member _.Command(streamId: string, command: obj) : Envelope =
        if isNull command then
            nullArg (nameof command)

        Envelope(Sourced.Actor.command core streamId command)

    /// A command message from outside (a JSON body or form) of a stored type (`carts.add_item`): read leniently
    /// ("12" → 12), validated; `InvalidMessageException` names every bad field.
    member _.ParseCommand(streamId: string, messageType: string, json: string) : Envelope =
        match Codec.parse core.Commands streamId messageType json with
        | Ok message -> Envelope message
        | Error invalid -> raise invalid

    /// The state of a stream, and the seq of the last message folded into it.
    member _.LoadAsync(store: EventStore, streamId: string, [<Optional>] ct: CancellationToken) : Task<Loaded<'State>> =
        if isNull store then
            nullArg (nameof store)

        Sourced.Actor.loadAsync store.Store core streamId ct

    /// Decides a command in memory against a loaded state: nothing is stored.
    member _.Decide(loaded: Loaded<'State>, command: obj) : Decided<'State> =
        if isNull command then
            nullArg (nameof command)

        Decided(Sourced.Actor.decide core loaded command)

    /// Loads the stream, decides the command and appends its events with optimistic concurrency, deciding again
    /// on fresh state after a conflict (3 attempts, then `ConcurrencyConflictException`). The command itself is
    /// not stored.
    member _.ExecuteAsync
        (store: EventStore, streamId: string, command: obj, [<Optional>] ct: CancellationToken)
        : Task<Decided<'State>> =
        if isNull store then
            nullArg (nameof store)

        if isNull command then
            nullArg (nameof command)

        task {
            let! decision = Sourced.Actor.executeAsync store.Store core streamId command ct
            return Decided decision
        }
