/// In-memory scenario: the memory-store runtime with 1, 2 and 4 workers against a single-threaded drain of the
/// same work (the baseline), and the raw rate of the pure interpreter.
module Sourced.Benchmarks.InMemory

open System
open System.Threading
open System.Threading.Tasks
open Sourced
open Sourced.Benchmarks.Measure

let ct = CancellationToken.None

/// Stores the pings, then runs workers until every pong is decided.
let runWorkers (workers: int) (chains: int) () : Task =
    task {
        let store = MemoryStore() :> IMessageStore

        let runtime =
            new Runtime(
                store,
                Chain.reactors,
                { RuntimeOptions.defaults with
                    Workers = workers
                    BatchSize = 50
                }
            )

        let pongs = ref 0

        let finished =
            TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)

        use _ =
            runtime.Subscribe(fun event ->
                match event with
                | RuntimeEvent.BatchCompleted("pongs", _, handled) ->
                    if Interlocked.Add(pongs, handled) >= chains then
                        finished.TrySetResult() |> ignore
                | _ -> ())

        do! runtime.StartAsync ct
        let! _ = store.AppendNextAsync(Chain.pings chains, ct)
        do! finished.Task.WaitAsync(TimeSpan.FromMinutes 5.0)
        do! runtime.StopAsync ct
    }

/// The same work through `Drain`: one thread, no queue, no notifications.
let runDrain (chains: int) () : Task =
    task {
        let store = MemoryStore() :> IMessageStore
        let! _ = store.AppendNextAsync(Chain.pings chains, ct)
        let! _ = Drain.runWithLimitAsync (4 * chains + 10) store Chain.reactors ct
        ()
    }

/// Decide + evolve of one command on a state folded from `events` events, with no store at all.
let foldRate (events: int) (repeats: int) =
    let actor = Chain.Pings.actor

    let history =
        [
            for number in 1..events -> Codec.message actor.Events "s" (Chain.Pings.Pinged number)
        ]
        |> List.mapi (fun index message -> { message with Seq = int64 index + 1L })

    let start = { StreamId = "s"; State = (); Seq = 0L }

    medianRate 3 (events * repeats) (fun () ->
        task {
            for _ in 1..repeats do
                Actor.fold actor start history |> ignore
        })

let run (quick: bool) : Task<Figure list> =
    task {
        let chains = if quick then 2_000 else 20_000
        let repeats = if quick then 1 else 3
        let scenario = "in-memory"
        let messages = Chain.messagesPer chains

        let! drained = medianRate repeats messages (runDrain chains)
        let baseline = figure scenario "drain, 1 thread (baseline)" "messages/s" drained

        let! workers =
            [ 1; 2; 4 ]
            |> List.map (fun count ->
                task {
                    let! rate = medianRate repeats messages (runWorkers count chains)

                    return
                        figure scenario $"runtime, {count} worker(s)" "messages/s" rate
                        |> against baseline
                })
            |> Task.WhenAll

        let! folds = foldRate 1_000 (if quick then 20 else 200)
        let fold = figure scenario "evolve of stored events (fold)" "events/s" folds

        return [ baseline ] @ List.ofArray workers @ [ fold ]
    }
