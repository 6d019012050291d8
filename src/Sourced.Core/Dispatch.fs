namespace Sourced

open System
open System.Text.Json

/// What reactions send: `Dispatch.command`, `Dispatch.send` or `Dispatch.toActor`, then its stream, time, metadata.
// NOTE: compiled as DispatchModule so that C# code can import Sourced and Sourced.CSharp together.
[<RequireQualifiedAccess; CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Dispatch =

    let private create (body: DispatchBody<'Command>) : Dispatch<'Command> =
        {
            Body = body
            Target = Target.SameStream
            Timing = Timing.Now
            Metadata = Metadata.empty
        }

    /// A command of the reacting actor, to the same stream unless redirected.
    let command (command: 'Command) : Dispatch<'Command> = create (DispatchBody.Own command)

    /// Any message, encoded (and validated) with its own codec: another actor's command, say.
    let send (codec: Codec<'Message>) (message: 'Message) : Dispatch<'Command> =
        let messageType, payload = codec.Encode message

        match codec.Validate message with
        | [] -> create (DispatchBody.Encoded(messageType, payload))
        | errors -> raise (InvalidMessageException(messageType, "", errors))

    /// Sends a command to another actor, in a new stream named after it (`<actor name>-<uuid>`).
    let toActor (actor: Actor<'State, 'OtherCommand, 'Event>) (command: 'OtherCommand) : Dispatch<'Command> =
        { send actor.Commands command with
            Target = Target.NewStream(Some actor.Name)
        }

    /// To a given stream.
    let toStream (streamId: string) (dispatch: Dispatch<'Command>) : Dispatch<'Command> =
        if String.IsNullOrWhiteSpace streamId then
            invalidArg (nameof streamId) "Dispatch.toStream needs a stream id."

        { dispatch with
            Target = Target.Stream streamId
        }

    /// To a fresh stream: `<prefix>-<uuid>`, or a bare uuid for an empty prefix.
    let toNewStream (prefix: string) (dispatch: Dispatch<'Command>) : Dispatch<'Command> =
        { dispatch with
            Target =
                Target.NewStream(
                    if String.IsNullOrWhiteSpace prefix then
                        None
                    else
                        Some prefix
                )
        }

    /// Scheduled for a time.
    let at (time: DateTimeOffset) (dispatch: Dispatch<'Command>) : Dispatch<'Command> =
        { dispatch with
            Timing = Timing.At time
        }

    /// Scheduled this long after the reaction runs.
    let after (delay: TimeSpan) (dispatch: Dispatch<'Command>) : Dispatch<'Command> =
        { dispatch with
            Timing = Timing.After delay
        }

    /// With one more metadata entry, a JSON value, on top of what the message inherits.
    let withMetadata (key: string) (value: JsonElement) (dispatch: Dispatch<'Command>) : Dispatch<'Command> =
        { dispatch with
            Metadata = Map.add key value dispatch.Metadata
        }

    /// With one more metadata entry, a string, on top of what the message inherits.
    let withMetadataString (key: string) (value: string) (dispatch: Dispatch<'Command>) : Dispatch<'Command> =
        withMetadata key (Json.ofString value) dispatch

/// Reading reactors' actions.
[<RequireQualifiedAccess>]
module Actions =

    /// The messages these actions append or schedule, in order.
    let messages (actions: Sourced.Action list) : Message list =
        actions
        |> List.collect (fun action ->
            match action with
            | Action.AppendAfter(_, _, messages)
            | Action.AppendNext messages
            | Action.Schedule(_, messages) -> messages
            | Action.Ack
            | Action.Sync _
            | Action.Retry -> [])

/// Turns dispatches and decided events into messages and actions: pure, given a clock reading and an id source.
module internal Outbox =

    /// The message a dispatch becomes, caused by `source`, and when it is due (None: now).
    let message
        (encodeOwn: 'Command -> string * JsonElement * FieldError list)
        (group: string)
        (batch: Batch)
        (source: Message)
        (dispatch: Dispatch<'Command>)
        : Message * DateTimeOffset option =
        let messageType, payload =
            match dispatch.Body with
            | DispatchBody.Own command ->
                match encodeOwn command with
                | messageType, payload, [] -> messageType, payload
                | messageType, _, errors -> raise (InvalidMessageException(messageType, source.StreamId, errors))
            | DispatchBody.Encoded(messageType, payload) -> messageType, payload

        let streamId =
            match dispatch.Target with
            | Target.SameStream -> source.StreamId
            | Target.Stream streamId -> streamId
            | Target.NewStream prefix ->
                let id = batch.NewId().ToString()

                match prefix with
                | Some prefix -> prefix + "-" + id
                | None -> id

        let due =
            match dispatch.Timing with
            | Timing.Now -> None
            | Timing.At time when time > batch.Now -> Some time
            | Timing.At _ -> None
            | Timing.After delay when delay > TimeSpan.Zero -> Some(batch.Now + delay)
            | Timing.After _ -> None

        let message =
            {
                Id = batch.NewId()
                StreamId = streamId
                Seq = 0L
                Type = messageType
                CreatedAt = batch.Now
                CausationId = source.Id
                CorrelationId = source.CorrelationId
                Metadata =
                    Metadata.merge source.Metadata dispatch.Metadata
                    |> Metadata.addString MetadataKeys.Producer group
                Payload = payload
                Position = 0L
            }

        message, due

    /// One `AppendNext` for what is due now, one `Schedule` per distinct later time.
    let actions (messages: (Message * DateTimeOffset option) list) : Sourced.Action list =
        let now =
            messages
            |> List.choose (fun (message, due) -> if due.IsNone then Some message else None)

        let later =
            messages
            |> List.choose (fun (message, due) -> due |> Option.map (fun due -> due, message))
            |> List.groupBy fst
            |> List.map (fun (due, pairs) -> Action.Schedule(due, List.map snd pairs))

        (if List.isEmpty now then [] else [ Action.AppendNext now ]) @ later

    /// The events a command produced, numbered after `lastSeq` and caused by the command.
    let events
        (now: DateTimeOffset)
        (newId: unit -> Guid)
        (command: Message)
        (lastSeq: int64)
        (decided: (string * JsonElement) list)
        : Message list =
        decided
        |> List.mapi (fun index (messageType, payload) ->
            {
                Id = newId ()
                StreamId = command.StreamId
                Seq = lastSeq + int64 index + 1L
                Type = messageType
                CreatedAt = now
                CausationId = command.Id
                CorrelationId = command.CorrelationId
                Metadata = command.Metadata
                Payload = payload
                Position = 0L
            })
