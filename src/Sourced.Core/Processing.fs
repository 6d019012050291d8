namespace Sourced

open System
open System.Threading
open System.Threading.Tasks

/// What one claim-handle-complete step came to.
[<RequireQualifiedAccess; NoEquality; NoComparison>]
type StepOutcome =
    /// Nothing was claimable.
    | Idle
    | Completed of group: string * streamId: string * handled: int
    /// Another writer got there first; nothing was executed, and the batch will run again on fresh history.
    | Conflicted of group: string * streamId: string * message: Message * expectedSeq: int64 * actualSeq: int64
    /// The claim was taken away before it completed (its lease expired): nothing was executed.
    | Lost of group: string * streamId: string
    /// The reactor or its actions failed; `handled` messages before it were completed.
    | Failed of group: string * streamId: string * handled: int * message: Message * error: exn

/// One claim → handle → complete step: the unit of work of workers and `Drain`. It never throws for the
/// reactor's or the actions' errors (they come back as `Failed`); a store that cannot be reached does.
[<RequireQualifiedAccess>]
module Processing =

    let private handleAsync (reactor: Reactor) (batch: Batch) (ct: CancellationToken) =
        task {
            try
                let! result = reactor.Handle batch ct
                return Interpreter.correlate result
            with error ->
                return
                    {
                        Handled = []
                        Failure = Some((List.head batch.Messages).Message, error)
                    }
        }

    /// Claims a batch for `reactor` (its batch size, or `batchSize`), handles it and completes it. When the
    /// reactor fails, `onFailure` runs before the claim is given up, so no other worker takes the failed
    /// message while its group's error strategy is still deciding.
    let stepWithAsync
        (onFailure: Message -> exn -> Task)
        (store: IMessageStore)
        (reactor: Reactor)
        (worker: string)
        (batchSize: int)
        (ct: CancellationToken)
        : Task<StepOutcome> =
        task {
            let request =
                {
                    Group = reactor.Group
                    Worker = worker
                    BatchSize = defaultArg reactor.BatchSize batchSize
                    WithHistory = reactor.NeedsHistory
                }

            match! store.ClaimAsync(request, ct) with
            | None -> return StepOutcome.Idle
            | Some claim ->
                let batch =
                    {
                        Group = claim.Group
                        StreamId = claim.StreamId
                        Messages = claim.Messages
                        History = claim.History
                        Now = store.Clock.GetUtcNow()
                        Clock = store.Clock
                        NewId = Guid.CreateVersion7
                    }

                let! result = handleAsync reactor batch ct

                match result.Failure with
                | Some(message, error) -> do! onFailure message error
                | None -> ()

                let! completed =
                    task {
                        try
                            let! completed = store.CompleteAsync(claim, result.Handled, ct)
                            return Ok completed
                        with error ->
                            return Error error
                    }

                let first =
                    match result.Handled with
                    | handled :: _ -> handled.Message
                    | [] -> (List.head claim.Messages).Message

                match completed, result.Failure with
                | Error error, _ -> return StepOutcome.Failed(claim.Group, claim.StreamId, 0, first, error)
                | Ok CompleteResult.Lost, _ -> return StepOutcome.Lost(claim.Group, claim.StreamId)
                | Ok(CompleteResult.Conflict(streamId, expected, actual)), _ ->
                    return StepOutcome.Conflicted(claim.Group, streamId, first, expected, actual)
                | Ok CompleteResult.Completed, Some(message, error) ->
                    return StepOutcome.Failed(claim.Group, claim.StreamId, result.Handled.Length, message, error)
                | Ok CompleteResult.Completed, None ->
                    return StepOutcome.Completed(claim.Group, claim.StreamId, result.Handled.Length)
        }

    /// `stepWithAsync` with nothing to do before a failed batch is given up.
    let stepAsync store reactor worker batchSize ct =
        stepWithAsync (fun _ _ -> Task.CompletedTask) store reactor worker batchSize ct
