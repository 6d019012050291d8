namespace Sourced

open System
open System.Threading
open System.Threading.Tasks

/// Projectors: `Projector.eventSourced` or `Projector.stateStored`, then reactions and settings.
// NOTE: compiled as ProjectorModule so that C# code can import Sourced and Sourced.CSharp together.
[<RequireQualifiedAccess; CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Projector =

    let private create name events source evolve sync : Projector<'State, 'Event> =
        if String.IsNullOrWhiteSpace name then
            invalidArg (nameof name) "A projector needs a name: it is its consumer group."

        {
            Name = name
            Events = events
            Source = source
            Evolve = evolve
            Sync = sync
            Reactions = []
            BatchSize = None
            StartFrom = StartFrom.Beginning
        }

    /// A projector whose state is rebuilt from the stream's history on every batch, then synced anywhere.
    let eventSourced
        (name: string)
        (events: Codec<'Event>)
        (initial: string -> 'State)
        (evolve: 'State -> 'Event -> 'State)
        (sync: Projection<'State> -> SyncContext -> Task<unit>)
        : Projector<'State, 'Event> =
        create name events (ProjectionSource.EventSourced initial) evolve sync

    /// A projector whose state is loaded from your storage, evolved, and saved back in `sync`.
    let stateStored
        (name: string)
        (events: Codec<'Event>)
        (load: string -> CancellationToken -> Task<'State>)
        (evolve: 'State -> 'Event -> 'State)
        (sync: Projection<'State> -> SyncContext -> Task<unit>)
        : Projector<'State, 'Event> =
        create name events (ProjectionSource.StateStored load) evolve sync

    let private addReaction reaction (projector: Projector<'State, 'Event>) =
        { projector with
            Reactions = projector.Reactions @ [ reaction ]
        }

    /// Reacts to some projected events, by case name, with the projected state as of the event
    /// (the TODO-list pattern). Skipped while replaying.
    let reacts
        (caseNames: string list)
        (react: 'State -> 'Event -> Dispatch<NoCommand> list)
        (projector: Projector<'State, 'Event>)
        : Projector<'State, 'Event> =
        let events = projector.Events

        addReaction
            {
                Types = Codec.types (Codec.only caseNames events)
                Wildcard = false
                React = fun state message -> react state (Codec.decode events message)
            }
            projector

    /// Reacts to every projected event that no specific reaction covers.
    let reactsToAll (react: 'State -> 'Event -> Dispatch<NoCommand> list) (projector: Projector<'State, 'Event>) =
        let events = projector.Events

        addReaction
            {
                Types = Codec.types events
                Wildcard = true
                React = fun state message -> react state (Codec.decode events message)
            }
            projector

    /// Messages per claimed stream for this projector (the runtime's batch size otherwise).
    let withBatchSize (size: int) (projector: Projector<'State, 'Event>) =
        if size < 1 then
            invalidArg (nameof size) "A batch size must be at least 1."

        { projector with BatchSize = Some size }

    /// Where the projector's consumer group starts when it is first registered (`StartFrom.Beginning` by default).
    let startingFrom (start: StartFrom) (projector: Projector<'State, 'Event>) = { projector with StartFrom = start }

    /// The projector as a reactor for workers and `Drain`.
    let toReactor (projector: Projector<'State, 'Event>) : Reactor =
        let handle = Interpreter.projector projector

        {
            Group = projector.Name
            Types = Codec.types projector.Events
            Commands = []
            NeedsHistory =
                (match projector.Source with
                 | ProjectionSource.EventSourced _ -> true
                 | ProjectionSource.StateStored _ -> false)
            BatchSize = projector.BatchSize
            StartFrom = projector.StartFrom
            Handle =
                fun batch ct ->
                    task {
                        match projector.Source with
                        | ProjectionSource.EventSourced initial -> return handle (initial batch.StreamId) batch
                        | ProjectionSource.StateStored load ->
                            try
                                let! state = load batch.StreamId ct
                                return handle state batch
                            with error ->
                                return
                                    {
                                        Handled = []
                                        Failure = Some((List.head batch.Messages).Message, error)
                                    }
                    }
        }
