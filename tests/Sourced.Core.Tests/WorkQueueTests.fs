module Sourced.Tests.WorkQueueTests

open System.Threading
open System.Threading.Tasks
open Expecto
open Sourced

let reactor (group: string) : Reactor =
    {
        Group = group
        Types = [ "t" ]
        Commands = []
        NeedsHistory = false
        BatchSize = None
        StartFrom = StartFrom.Beginning
        Handle = fun _ _ -> Task.FromResult { Handled = []; Failure = None }
    }

let private take (queue: WorkQueue) =
    (queue.TakeAsync CancellationToken.None).Result
    |> Option.map (fun reactor -> reactor.Group)

let tests =
    testList
        "work queue"
        [
            testCase "reactors come out in the order they went in"
            <| fun _ ->
                let queue = WorkQueue 2
                queue.Push(reactor "a") |> ignore
                queue.Push(reactor "b") |> ignore
                queue.Push(reactor "a") |> ignore

                Expect.equal
                    [ take queue; take queue; take queue ]
                    [ Some "a"; Some "b"; Some "a" ]
                    "first in, first out"

            testCase "a reactor holds at most its share of entries; taking one frees a slot"
            <| fun _ ->
                let queue = WorkQueue 2
                let pushes = [ for _ in 1..3 -> queue.Push(reactor "a") ]
                Expect.equal pushes [ true; true; false ] "the third wake-up coalesces"
                Expect.isTrue (queue.Push(reactor "b")) "other reactors are not affected"
                take queue |> ignore
                Expect.isTrue (queue.Push(reactor "a")) "a slot is free again"

            testCaseTask "taking stops with nothing once cancelled" (fun () ->
                task {
                    let queue = WorkQueue 1
                    use cancel = new CancellationTokenSource()
                    let waiting = queue.TakeAsync cancel.Token
                    Expect.isFalse waiting.IsCompleted "waits for work"
                    cancel.Cancel()
                    let! taken = waiting
                    Expect.isNone taken "nothing"
                })

            testCaseTask "many producers and consumers lose and duplicate nothing" (fun () ->
                task {
                    let queue = WorkQueue 1000
                    let taken = ref 0

                    let producers =
                        [
                            for producer in 1..5 ->
                                Task.Run(fun () ->
                                    for item in 1..20 do
                                        queue.Push(reactor $"{producer}-{item}") |> ignore)
                        ]

                    let consumers =
                        [
                            for _ in 1..5 ->
                                Task.Run<unit>(fun () ->
                                    task {
                                        for _ in 1..20 do
                                            let! reactor = queue.TakeAsync CancellationToken.None

                                            if reactor.IsSome then
                                                Interlocked.Increment taken |> ignore
                                    })
                        ]

                    do! Task.WhenAll(producers)
                    let! _ = Task.WhenAll(consumers)
                    Expect.equal taken.Value 100 "every push taken once"
                })

            testCase "a runtime refuses options and reactors it cannot run, naming what is wrong"
            <| fun _ ->
                let store = MemoryStore() :> IMessageStore

                let refused (reactors: Reactor list) (options: RuntimeOptions) (expected: string) =
                    let error =
                        Expect.throwsC (fun () -> new Runtime(store, reactors, options) |> ignore) (fun error ->
                            error.Message)

                    Expect.stringContains error expected "the reason"

                refused [] RuntimeOptions.defaults "at least one reactor"
                refused [ reactor "a"; reactor "a" ] RuntimeOptions.defaults "share the consumer group 'a'"

                refused
                    [ reactor "a" ]
                    { RuntimeOptions.defaults with
                        Workers = 0
                    }
                    "at least one worker"

                refused
                    [ reactor "a" ]
                    { RuntimeOptions.defaults with
                        StreamsPerClaim = 0
                    }
                    "StreamsPerClaim must be at least 1, not 0"
        ]
