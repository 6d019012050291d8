namespace Sourced

open System
open System.Threading
open System.Threading.Tasks

/// What one claim-handle-complete step came to.
[<RequireQualifiedAccess; NoEquality; NoComparison>]
type StepOutcome =
    /// Nothing was claimable.
    | Idle
    /// A batch of `handled` messages was completed: its actions executed, the offset moved past them.
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

    let private outcome (claim: Claim) (result: BatchResult) (completed: Result<CompleteResult, exn>) =
        let first =
            match result.Handled with
            | handled :: _ -> handled.Message
            | [] -> (List.head claim.Messages).Message

        match completed, result.Failure with
        | Error error, _ -> StepOutcome.Failed(claim.Group, claim.StreamId, 0, first, error)
        | Ok CompleteResult.Lost, _ -> StepOutcome.Lost(claim.Group, claim.StreamId)
        | Ok(CompleteResult.Conflict(streamId, expected, actual)), _ ->
            StepOutcome.Conflicted(claim.Group, streamId, first, expected, actual)
        | Ok CompleteResult.Completed, Some(message, error) ->
            StepOutcome.Failed(claim.Group, claim.StreamId, result.Handled.Length, message, error)
        | Ok CompleteResult.Completed, None -> StepOutcome.Completed(claim.Group, claim.StreamId, result.Handled.Length)

    /// Claims batches of up to `streams` streams for `reactor` (its batch size, or `batchSize`, per stream),
    /// handles them one stream after the other and completes them together; an empty list when nothing was
    /// claimable. When the reactor fails on a stream, `onFailure` runs before that claim is given up, so no other
    /// worker takes the failed message while its group's error strategy is still deciding; the streams after it
    /// are released unhandled.
    let stepManyWithAsync
        (onFailure: Message -> exn -> Task)
        (store: IMessageStore)
        (reactor: Reactor)
        (worker: string)
        (batchSize: int)
        (streams: int)
        (ct: CancellationToken)
        : Task<StepOutcome list> =
        task {
            let request =
                {
                    Group = reactor.Group
                    Worker = worker
                    BatchSize = defaultArg reactor.BatchSize batchSize
                    WithHistory = reactor.NeedsHistory
                }

            let! claims = store.ClaimManyAsync(request, streams, ct)
            let results = ResizeArray<Claim * BatchResult>()
            let unhandled = ResizeArray<Claim>()

            let mutable failed = false

            for claim in claims do
                if failed then
                    unhandled.Add claim
                else
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
                    | Some(message, error) ->
                        failed <- true
                        do! onFailure message error
                    | None -> ()

                    results.Add((claim, result))

            let! completed =
                task {
                    try
                        return! store.CompleteManyAsync([ for claim, result in results -> claim, result.Handled ], ct)
                    with error ->
                        return [ for _ in results -> Error error ]
                }

            for claim in unhandled do
                do! store.ReleaseAsync(claim, ct)

            return
                List.map2
                    (fun (claim, result) completed -> outcome claim result completed)
                    (List.ofSeq results)
                    completed
        }

    /// `stepManyWithAsync` over one stream: Idle when nothing was claimable.
    let stepWithAsync onFailure store reactor worker batchSize ct : Task<StepOutcome> =
        task {
            match! stepManyWithAsync onFailure store reactor worker batchSize 1 ct with
            | [] -> return StepOutcome.Idle
            | outcome :: _ -> return outcome
        }

    /// `stepWithAsync` with nothing to do before a failed batch is given up.
    let stepAsync store reactor worker batchSize ct =
        stepWithAsync (fun _ _ -> Task.CompletedTask) store reactor worker batchSize ct
