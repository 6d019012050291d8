namespace Sourced

open System
open System.Collections.Generic
open System.Threading.Tasks

/// What `CompleteAsync` will do, checked in full before anything is applied.
[<RequireQualifiedAccess; NoEquality; NoComparison>]
type internal Step =
    | Store of Message
    | Schedule of DateTimeOffset * Message
    | Sync of (SyncContext -> Task<unit>)

/// Plans `CompleteAsync`: every action checked (sequences, conflicts) before anything is applied.
[<RequireQualifiedAccess>]
module internal MemoryPlan =

    /// Optimistic appends must continue the stream exactly: expectedSeq + 1, + 2, ...
    let checkSequence (streamId: string) (expectedSeq: int64) (messages: Message list) =
        messages
        |> List.iteri (fun index message ->
            if message.StreamId <> streamId then
                invalidArg
                    (nameof messages)
                    $"Message '{message.Type}' is for stream '{message.StreamId}', not '{streamId}'."

            if message.Seq <> expectedSeq + int64 index + 1L then
                invalidArg
                    (nameof messages)
                    $"Message '{message.Type}' for stream '{streamId}' has seq {message.Seq}; expected {expectedSeq + int64 index + 1L}.")

    /// The seq to acknowledge up to and the steps to run, or the conflict that cancels everything.
    let steps (state: MemoryState) (claim: Claim) (handled: Handled list) =
        let lastSeqs = Dictionary<string, int64>()

        let lastSeq streamId =
            match lastSeqs.TryGetValue streamId with
            | true, seq -> seq
            | _ -> state.LastSeq streamId

        let steps = ResizeArray<Step>()

        let rec plan (remaining: Handled list) (acked: int64 option) =
            match remaining with
            | [] -> Ok acked
            | item :: _ when item.Actions |> List.exists (fun action -> action.IsRetry) -> Ok acked
            | item :: rest ->
                let conflict =
                    item.Actions
                    |> List.tryPick (fun action ->
                        match action with
                        | Action.AppendAfter(streamId, expected, messages) ->
                            checkSequence streamId expected messages
                            let actual = lastSeq streamId

                            if actual <> expected then
                                Some(CompleteResult.Conflict(streamId, expected, actual))
                            else
                                for message in messages do
                                    steps.Add(Step.Store message)

                                lastSeqs[streamId] <- expected + int64 messages.Length
                                None
                        | Action.AppendNext messages ->
                            for message in messages do
                                let seq = lastSeq message.StreamId + 1L
                                lastSeqs[message.StreamId] <- seq
                                steps.Add(Step.Store { message with Seq = seq })

                            None
                        | Action.Schedule(at, messages) ->
                            for message in messages do
                                steps.Add(Step.Schedule(at, message))

                            None
                        | Action.Sync run ->
                            steps.Add(Step.Sync run)
                            None
                        | Action.Ack
                        | Action.Retry -> None)

                match conflict with
                | Some conflict -> Error conflict
                | None -> plan rest (Some item.Message.Seq)

        if
            handled.Length > claim.Messages.Length
            || List.exists2
                (fun (item: Handled) (pending: Pending) -> item.Message.Id <> pending.Message.Id)
                handled
                (List.truncate handled.Length claim.Messages)
        then
            invalidArg (nameof handled) $"Handled messages must be a prefix of the claim on stream '{claim.StreamId}'."

        plan handled None |> Result.map (fun acked -> acked, List.ofSeq steps)
