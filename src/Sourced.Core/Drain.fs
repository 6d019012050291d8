namespace Sourced

open System
open System.Runtime.ExceptionServices
open System.Threading
open System.Threading.Tasks

/// Runs reactors over a store until nothing is left: for tests, scripts and samples (workers do this
/// continuously). Failures are raised, not handed to an error strategy.
[<RequireQualifiedAccess>]
module Drain =

    /// One step for a reactor (batch size 1 unless it has its own); false when it had nothing to do.
    let stepAsync (store: IMessageStore) (reactor: Reactor) (worker: string) (ct: CancellationToken) : Task<bool> =
        task {
            match! Processing.stepAsync store reactor worker 1 ct with
            | StepOutcome.Idle -> return false
            | StepOutcome.Completed _
            | StepOutcome.Conflicted _
            | StepOutcome.Lost _ -> return true
            | StepOutcome.Failed(_, _, _, _, error) ->
                ExceptionDispatchInfo.Capture(error).Throw()
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
