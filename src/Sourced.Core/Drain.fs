namespace Sourced

open System
open System.Runtime.ExceptionServices
open System.Threading
open System.Threading.Tasks

/// Runs reactors over a store until nothing is left: for tests, scripts and samples (workers do this
/// continuously). Failures are raised, not handed to an error strategy.
[<RequireQualifiedAccess>]
module Drain =

    /// Claims, handles and completes one batch for a reactor; false when it had nothing to do.
    let stepAsync (store: IMessageStore) (reactor: Reactor) (worker: string) (ct: CancellationToken) : Task<bool> =
        task {
            let request =
                {
                    Group = reactor.Group
                    Worker = worker
                    BatchSize = defaultArg reactor.BatchSize 1
                    WithHistory = reactor.NeedsHistory
                }

            match! store.ClaimAsync(request, ct) with
            | None -> return false
            | Some claim ->
                let batch =
                    {
                        Group = claim.Group
                        StreamId = claim.StreamId
                        Messages = claim.Messages
                        History = claim.History
                        Now = store.Clock.GetUtcNow()
                        NewId = Guid.CreateVersion7
                    }

                let! result =
                    task {
                        try
                            let! result = reactor.Handle batch ct
                            return Interpreter.correlate result
                        with error ->
                            return
                                {
                                    Handled = []
                                    Failure = Some((List.head claim.Messages).Message, error)
                                }
                    }

                match! store.CompleteAsync(claim, result.Handled, ct) with
                | CompleteResult.Completed
                | CompleteResult.Conflict _ -> ()

                match result.Failure with
                | Some(_, error) -> ExceptionDispatchInfo.Capture(error).Throw()
                | None -> ()

                return true
        }

    /// Registers the reactors' groups, then runs rounds (promote due messages, then one batch per reactor in
    /// order) until a whole round finds nothing to do. Returns the number of batches handled.
    let runWithLimitAsync (maxRounds: int) (store: IMessageStore) (reactors: Reactor list) (ct: CancellationToken) =
        task {
            for reactor in reactors do
                do! Store.registerAsync store reactor ct

            let mutable batches = 0
            let mutable rounds = 0
            let mutable busy = true

            while busy do
                if rounds >= maxRounds then
                    invalidOp
                        $"Drain did not settle after {maxRounds} rounds: do the reactors dispatch each other forever?"

                rounds <- rounds + 1
                let! _ = store.PromoteDueAsync ct
                busy <- false

                for reactor in reactors do
                    let! worked = stepAsync store reactor "drain" ct

                    if worked then
                        batches <- batches + 1
                        busy <- true

            return batches
        }

    /// `runWithLimitAsync 10000`.
    let runAsync (store: IMessageStore) (reactors: Reactor list) (ct: CancellationToken) : Task<int> =
        runWithLimitAsync 10000 store reactors ct
