namespace Sourced.CSharp

open System
open System.Collections.Generic
open System.Data.Common
open System.Threading
open System.Threading.Tasks
open Sourced

/// What a projector's sync gets for one batch of one stream.
[<Sealed>]
type Projected<'State> internal (projection: Projection<'State>, context: SyncContext) =
    /// The stream the batch came from.
    member _.StreamId: string = projection.StreamId
    /// The state after the batch's events.
    member _.State: 'State = projection.State
    /// The batch's events that were projected.
    member _.Events: IReadOnlyList<Envelope> = Envelopes.ofList projection.Events
    /// True when every one of them is a replay (the group was reset).
    member _.Replaying: bool = projection.Replaying

    /// The store's open transaction (PostgreSQL): write the read model through it and it commits together
    /// with the projector's progress. Null on the memory store.
    member _.Transaction: DbTransaction = Option.toObj context.Transaction

[<NoEquality; NoComparison>]
type internal ProjectorSpec<'State> =
    {
        Name: string
        Source: ProjectionSource<'State>
        Sync: Func<Projected<'State>, CancellationToken, Task>
        /// Per event class: the source actor's codec for it and how it changes the state.
        Evolves: (Type * Codec<obj> * ('State -> obj -> 'State)) list
        Reactions: (Type * ('State -> obj -> Dispatch list)) list
        BatchSize: int option
        StartFrom: StartFrom
    }

module internal ProjectorSpec =

    let create
        (name: string)
        (source: ProjectionSource<'State>)
        (sync: Func<Projected<'State>, CancellationToken, Task>)
        =
        if String.IsNullOrWhiteSpace name then
            invalidArg (nameof name) "A projector needs a name: it is its consumer group."

        if isNull sync then
            nullArg (nameof sync)

        {
            Name = name
            Source = source
            Sync = sync
            Evolves = []
            Reactions = []
            BatchSize = None
            StartFrom = StartFrom.Beginning
        }

    /// One codec over the event classes of several actors.
    let private events (spec: ProjectorSpec<'State>) : Codec<obj> =
        let byClass =
            spec.Evolves |> List.map (fun (eventType, codec, _) -> eventType, codec) |> dict

        let codecs = spec.Evolves |> List.map (fun (_, codec, _) -> codec)

        {
            Cases = codecs |> List.collect (fun codec -> codec.Cases)
            Encode = fun event -> byClass[event.GetType()].Encode event
            Decode =
                fun decoding messageType json ->
                    (codecs |> List.find (fun codec -> codec.Handles messageType)).Decode decoding messageType json
            Handles = fun messageType -> codecs |> List.exists (fun codec -> codec.Handles messageType)
            Validate = fun _ -> []
        }

    let build (spec: ProjectorSpec<'State>) : Sourced.Projector<'State, obj> =
        let evolves =
            spec.Evolves
            |> List.map (fun (eventType, _, evolve) -> eventType, evolve)
            |> dict

        let codec = events spec

        {
            Name = spec.Name
            Events = codec
            Source = spec.Source
            Evolve = fun state event -> evolves[event.GetType()] state event
            Sync =
                fun projection context ->
                    task { do! spec.Sync.Invoke(Projected(projection, context), context.CancellationToken) }
            Reactions =
                spec.Reactions
                |> List.map (fun (eventType, react) ->
                    let _, eventCodec, _ =
                        spec.Evolves |> List.find (fun (evolved, _, _) -> evolved = eventType)

                    {
                        Types = Codec.types eventCodec
                        Wildcard = false
                        React =
                            fun state message ->
                                react state (Codec.decode eventCodec message)
                                |> Dispatches.forReactor $"projector '{spec.Name}'"
                    })
            BatchSize = spec.BatchSize
            StartFrom = spec.StartFrom
        }

/// A projector defined with lambdas: it evolves a state from some actors' event classes and syncs it (into your
/// read model) in the transaction that records its progress. `Projector<Listing>.EventSourced(...)` rebuilds
/// the state from the stream's history; `StateStored(...)` loads it from your storage.
[<Sealed>]
type Projector<'State> private (spec: ProjectorSpec<'State>, core: Sourced.Projector<'State, obj>) =
    inherit ReactorDefinition(spec.Name, lazy (Sourced.Projector.toReactor core))

    static let create (spec: ProjectorSpec<'State>) =
        Projector<'State>(spec, ProjectorSpec.build spec)

    /// State rebuilt from the stream's history on every batch, starting from `initial(streamId)`.
    static member EventSourced
        (name: string, initial: Func<string, 'State>, sync: Func<Projected<'State>, CancellationToken, Task>)
        : Projector<'State> =
        if isNull initial then
            nullArg (nameof initial)

        create (ProjectorSpec.create name (ProjectionSource.EventSourced initial.Invoke) sync)

    /// State loaded from your storage for each batch (and saved back by `sync`).
    static member StateStored
        (
            name: string,
            load: Func<string, CancellationToken, Task<'State>>,
            sync: Func<Projected<'State>, CancellationToken, Task>
        ) : Projector<'State> =
        if isNull load then
            nullArg (nameof load)

        create (
            ProjectorSpec.create name (ProjectionSource.StateStored(fun streamId ct -> load.Invoke(streamId, ct))) sync
        )

    /// How an event class of `source` changes the state (the projector consumes it).
    member _.Evolve<'Event>(source: ActorDefinition, evolve: Func<'State, 'Event, 'State>) : Projector<'State> =
        if isNull source then
            nullArg (nameof source)

        if isNull evolve then
            nullArg (nameof evolve)

        if
            spec.Evolves
            |> List.exists (fun (eventType, _, _) -> eventType = typeof<'Event>)
        then
            invalidArg (nameof evolve) $"Projector '{spec.Name}' already evolves {typeof<'Event>.Name}."

        create
            { spec with
                Evolves =
                    spec.Evolves
                    @ [
                        typeof<'Event>,
                        source.CodecOf typeof<'Event>,
                        fun state event -> evolve.Invoke(state, unbox<'Event> event)
                    ]
            }

    /// Reacts to a projected event class with the state as of the event (skipped while replaying): commands to
    /// send to actors with `Dispatch.ToActor`.
    member _.React<'Event>(react: Func<'State, 'Event, IEnumerable<Dispatch>>) : Projector<'State> =
        if isNull react then
            nullArg (nameof react)

        if
            not (
                spec.Evolves
                |> List.exists (fun (eventType, _, _) -> eventType = typeof<'Event>)
            )
        then
            invalidArg
                (nameof react)
                $"Projector '{spec.Name}' does not project {typeof<'Event>.Name}: add Evolve<{typeof<'Event>.Name}>(...) first."

        create
            { spec with
                Reactions =
                    spec.Reactions
                    @ [
                        typeof<'Event>,
                        fun state event -> Dispatches.forActorList (react.Invoke(state, unbox<'Event> event))
                    ]
            }

    /// Messages per claim for this projector (the runtime's batch size otherwise).
    member _.WithBatchSize(size: int) : Projector<'State> =
        if size < 1 then
            invalidArg (nameof size) "A batch size must be at least 1."

        create { spec with BatchSize = Some size }

    /// A new consumer group takes only events appended after it was first registered.
    member _.StartingFromNow() : Projector<'State> =
        create { spec with StartFrom = StartFrom.Now }

    member internal _.Events = core.Events

    /// The core projector, for F# code.
    [<System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)>]
    member _.Core: Sourced.Projector<'State, obj> = core
