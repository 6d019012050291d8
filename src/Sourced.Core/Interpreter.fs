namespace Sourced

open System
open System.Collections.Generic

/// The reactions of one reactor, indexed by message type: the specific ones, or else the wildcards.
[<NoEquality; NoComparison>]
type internal ReactionTable<'State, 'Command> =
    {
        ByType: IReadOnlyDictionary<string, Reaction<'State, 'Command> list>
    }

    member table.Reacts(messageType: string) = table.ByType.ContainsKey messageType

[<RequireQualifiedAccess>]
module internal ReactionTable =
    let create (reactions: Reaction<'State, 'Command> list) : ReactionTable<'State, 'Command> =
        let types =
            reactions |> List.collect (fun reaction -> reaction.Types) |> List.distinct

        let forType messageType =
            let covering =
                reactions
                |> List.filter (fun reaction -> List.contains messageType reaction.Types)

            match covering |> List.filter (fun reaction -> not reaction.Wildcard) with
            | [] -> covering
            | specific -> specific

        {
            ByType =
                types
                |> List.map (fun messageType -> messageType, forType messageType)
                |> dict
                |> Dictionary
        }

/// Turns one claimed batch into actions per message. Pure: no IO, no clock (the batch carries `Now`
/// and `NewId`); exceptions from user code end the batch and are returned as its failure.
[<RequireQualifiedAccess>]
module Interpreter =

    /// Runs `handle` on each pending message in order until one raises; the rest stay unhandled.
    let private each (messages: Pending list) (handle: int -> Pending -> Sourced.Action list) : BatchResult =
        let rec loop index (remaining: Pending list) (handled: Handled list) =
            match remaining with
            | [] ->
                {
                    Handled = List.rev handled
                    Failure = None
                }
            | pending :: rest ->
                match
                    (try
                        Ok(handle index pending)
                     with error ->
                         Error error)
                with
                | Ok actions ->
                    loop
                        (index + 1)
                        rest
                        ({
                            Message = pending.Message
                            Actions = actions
                         }
                         :: handled)
                | Error error ->
                    {
                        Handled = List.rev handled
                        Failure = Some(pending.Message, error)
                    }

        loop 0 messages []

    let private failAll (batch: Batch) (error: exn) : BatchResult =
        {
            Handled = []
            Failure = Some((List.head batch.Messages).Message, error)
        }

    let private react
        (table: ReactionTable<'State, 'Command>)
        (encodeOwn: 'Command -> string * Text.Json.JsonElement * FieldError list)
        (batch: Batch)
        (state: 'State)
        (message: Message)
        : Sourced.Action list =
        match table.ByType.TryGetValue message.Type with
        | true, reactions ->
            reactions
            |> List.collect (fun reaction -> reaction.React state message)
            |> List.map (Outbox.message encodeOwn batch.Group batch message)
            |> Outbox.actions
        | _ -> []

    let private history (batch: Batch) : Message list =
        if List.isEmpty batch.History then
            batch.Messages |> List.map (fun pending -> pending.Message)
        else
            batch.History

    /// Folds `messages`, handing the state after each message in `wanted` to `keep`.
    let private foldKeeping
        (evolve: 'State -> Message -> 'State)
        (initial: 'State)
        (messages: Message seq)
        (wanted: HashSet<Guid>)
        (keep: Guid -> 'State -> unit)
        : 'State =
        messages
        |> Seq.fold
            (fun state message ->
                let next = evolve state message

                if wanted.Contains message.Id then
                    keep message.Id next

                next)
            initial

    let internal encoder (codec: Codec<'Command>) (command: 'Command) =
        let messageType, payload = codec.Encode command
        messageType, payload, codec.Validate command

    let private evolveWith (codec: Codec<'Event>) (evolve: 'State -> 'Event -> 'State) =
        fun state (message: Message) ->
            if codec.Handles message.Type then
                evolve state (Codec.decode codec message)
            else
                state

    /// An actor's batch handler. Commands are decided in order on one evolving state, starting from the
    /// stream's latest state (each sees the events of the ones before it), and appended after the stream's
    /// last seq; reactions see the state as of their own event; replayed messages are only acknowledged.
    let actor (actor: Actor<'State, 'Command, 'Event>) : Batch -> BatchResult =
        let table = ReactionTable.create actor.Reactions
        let encodeOwn = encoder actor.Commands
        let evolve = evolveWith actor.Events actor.Evolve

        fun batch ->
            let reacting =
                batch.Messages
                |> Seq.filter (fun pending -> not pending.Replaying && table.Reacts pending.Message.Type)
                |> Seq.map (fun pending -> pending.Message.Id)
                |> HashSet

            let statesAt = Dictionary<Guid, 'State>()

            let folded =
                try
                    let history = history batch

                    let latest =
                        foldKeeping evolve (actor.Initial batch.StreamId) history reacting (fun id state ->
                            statesAt[id] <- state)

                    Ok(latest, history |> List.fold (fun last message -> max last message.Seq) 0L)
                with error ->
                    Error error

            match folded with
            | Error error -> failAll batch error
            | Ok(latest, lastSeq) ->
                let mutable current = latest
                let mutable lastSeq = lastSeq

                each batch.Messages (fun _ pending ->
                    let message = pending.Message

                    if pending.Replaying then
                        []
                    elif actor.Commands.Handles message.Type then
                        let command = Codec.decodeCommand actor.Commands message

                        match deciding message (fun () -> actor.Decide current command) with
                        | [] -> []
                        | decided ->
                            let events =
                                decided
                                |> List.map actor.Events.Encode
                                |> Outbox.events batch.Now batch.NewId message lastSeq

                            let expected = lastSeq
                            current <- List.fold actor.Evolve current decided
                            lastSeq <- lastSeq + int64 events.Length
                            [ Action.AppendAfter(message.StreamId, expected, events) ]
                    elif reacting.Contains message.Id then
                        react table encodeOwn batch statesAt[message.Id] message
                    else
                        [])

    let private noOwnCommands (_: NoCommand) : string * Text.Json.JsonElement * FieldError list =
        invalidOp "Projectors and handlers have no commands of their own: use Dispatch.send or Dispatch.toActor."

    /// A projector's batch handler, given the state to start from (the initial state for event-sourced
    /// projectors, the loaded one for state-stored ones). Evolves the batch, runs reactions (not on replays)
    /// with the state as of each event, then one `Sync` with the state after the last handled message.
    let projector (projector: Projector<'State, 'Event>) : 'State -> Batch -> BatchResult =
        let table = ReactionTable.create projector.Reactions
        let evolve = evolveWith projector.Events projector.Evolve

        fun start batch ->
            let pending = Array.ofList batch.Messages
            let ids = pending |> Seq.map (fun item -> item.Message.Id) |> HashSet
            let indexOf = pending |> Seq.mapi (fun index item -> item.Message.Id, index) |> dict
            let states = Array.zeroCreate<'State> pending.Length
            let mutable reached = -1

            // NOTE: event-sourced projectors fold the history up to the batch's last message; state-stored
            // ones fold the batch onto the loaded state. Either way `reached` is the last message folded.
            let walk =
                match projector.Source with
                | ProjectionSource.EventSourced _ ->
                    let last = (Array.last pending).Message.Seq
                    history batch |> Seq.takeWhile (fun message -> message.Seq <= last)
                | ProjectionSource.StateStored _ -> pending |> Seq.map (fun item -> item.Message)

            let failure =
                try
                    foldKeeping evolve start walk ids (fun id state ->
                        let index = indexOf[id]
                        states[index] <- state
                        reached <- index)
                    |> ignore

                    None
                with error ->
                    Some(pending[reached + 1].Message, error)

            let folded = pending |> Array.truncate (reached + 1) |> List.ofArray

            let reacted =
                each folded (fun index item ->
                    if item.Replaying then
                        []
                    else
                        react table noOwnCommands batch states[index] item.Message)

            let failure = reacted.Failure |> Option.orElse failure

            match List.rev reacted.Handled with
            | [] -> { Handled = []; Failure = failure }
            | last :: earlier ->
                let handledPending = folded |> List.take (earlier.Length + 1)

                let projection =
                    {
                        StreamId = batch.StreamId
                        State = states[earlier.Length]
                        Events = handledPending |> List.map (fun item -> item.Message)
                        Replaying = handledPending |> List.forall (fun item -> item.Replaying)
                    }

                let sync = Action.Sync(fun context -> projector.Sync projection context)

                {
                    Handled =
                        List.rev (
                            { last with
                                Actions = last.Actions @ [ sync ]
                            }
                            :: earlier
                        )
                    Failure = failure
                }

    /// Messages a reactor built by hand (still their own cause) become caused by the message they answer,
    /// with its correlation and metadata, as the interpreter does for dispatches and decided events.
    let correlate (result: BatchResult) : BatchResult =
        let caused (source: Message) (messages: Message list) =
            messages
            |> List.map (fun message ->
                if message.CausationId = message.Id then
                    Message.causedBy source message
                else
                    message)

        let correlateAction (source: Message) (action: Sourced.Action) =
            match action with
            | Action.AppendAfter(streamId, expected, messages) ->
                Action.AppendAfter(streamId, expected, caused source messages)
            | Action.AppendNext messages -> Action.AppendNext(caused source messages)
            | Action.Schedule(at, messages) -> Action.Schedule(at, caused source messages)
            | other -> other

        { result with
            Handled =
                result.Handled
                |> List.map (fun handled ->
                    { handled with
                        Actions = handled.Actions |> List.map (correlateAction handled.Message)
                    })
        }

    /// Actions for the dispatches of a reactor without commands of its own (handlers), caused by `source`.
    let dispatches (batch: Batch) (source: Message) (dispatches: Dispatch<NoCommand> list) : Sourced.Action list =
        dispatches
        |> List.map (Outbox.message noOwnCommands batch.Group batch source)
        |> Outbox.actions
