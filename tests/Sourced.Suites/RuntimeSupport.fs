/// Helpers for runtime tests: fast options, waiting on runtime events instead of sleeping.
module Sourced.Tests.RuntimeSupport

open System
open System.Threading
open System.Threading.Tasks
open Expecto
open Sourced
open Sourced.Tests.Support

let ct = CancellationToken.None

/// Options for tests: quick housekeeping; the catch-up poll stays a slow safety net unless a test says so.
let fast: RuntimeOptions =
    { RuntimeOptions.defaults with
        Workers = 4
        BatchSize = 10
        CatchUpInterval = TimeSpan.FromSeconds 1.0
        PromoteInterval = TimeSpan.FromMilliseconds 20.0
        HeartbeatInterval = TimeSpan.FromMilliseconds 50.0
        StoreErrorDelay = TimeSpan.FromMilliseconds 20.0
        Name = "test"
    }

let timeout = TimeSpan.FromSeconds 20.0

/// One runtime test on a fresh store on the system clock, disposed afterwards when it is disposable.
let onSystemClock (create: TimeProvider -> Task<IMessageStore>) (name: string) (body: IMessageStore -> Task<unit>) =
    testCaseTask name (fun () -> withStore create TimeProvider.System body)

/// One runtime test on a fresh store on a manual clock that the test moves, disposed afterwards when it is disposable.
let onManualClock
    (create: TimeProvider -> Task<IMessageStore>)
    (name: string)
    (body: ManualClock -> IMessageStore -> Task<unit>)
    =
    testCaseTask name (fun () ->
        let clock = ManualClock()
        withStore create clock (body clock))

/// Waits until `condition` holds, checking again whenever the runtime reports something.
let until (runtime: Runtime) (what: string) (condition: unit -> Task<bool>) : Task =
    task {
        use signal = new SemaphoreSlim(0)
        use _ = runtime.Subscribe(fun _ -> signal.Release() |> ignore)
        do! waitUntil signal timeout timeout (fun () -> $"timed out waiting until {what}") condition
    }

/// A task for the next runtime event `wanted` accepts; subscribe before causing it.
let nextEvent (runtime: Runtime) (wanted: RuntimeEvent -> bool) : Task<RuntimeEvent> =
    let heard =
        TaskCompletionSource<RuntimeEvent>(TaskCreationOptions.RunContinuationsAsynchronously)

    let subscription =
        runtime.Subscribe(fun event ->
            if wanted event then
                heard.TrySetResult event |> ignore)

    task {
        try
            return! heard.Task.WaitAsync(timeout)
        finally
            subscription.Dispose()
    }

/// The stats of one group.
let statsOf (store: IMessageStore) (group: string) =
    task {
        let! stats = store.GroupStatsAsync ct
        return stats |> List.find (fun stats -> stats.Id = group)
    }

/// Starts a runtime, runs `body`, and stops it whatever happens.
let running (runtime: Runtime) (body: unit -> Task) : Task =
    task {
        do! runtime.StartAsync ct

        try
            do! body ()
        finally
            runtime.StopAsync(ct).Wait()
    }
