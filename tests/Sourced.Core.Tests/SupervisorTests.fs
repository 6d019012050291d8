module Sourced.Tests.SupervisorTests

open System
open System.Threading
open System.Threading.Tasks
open Expecto
open Sourced
open Sourced.Tests.ProcessSupport
open Sourced.Tests.RuntimeSupport

let tests =
    testList
        "supervisor"
        [
            testCaseTask "a console worker stops on SIGTERM after finishing the batch in flight" (fun () ->
                task {
                    use worker = new Worker("memory-slow 5 1500")
                    do! worker.WaitForLineAsync("begin 1", TimeSpan.FromSeconds 30.0)
                    worker.Signal SIGTERM
                    let! code = worker.WaitForExitAsync(TimeSpan.FromSeconds 30.0)
                    Expect.equal code 0 "a clean exit"
                    let lines = worker.Lines
                    Expect.contains lines "end 1" "the batch in flight was committed"
                    Expect.contains lines "stopped after 1 batches" "then it stopped"
                    Expect.isFalse (lines |> List.contains "begin 2") "no new batch after the signal"
                })

            testCaseTask "running until cancelled stops gracefully" (fun () ->
                task {
                    let store = MemoryStore() :> IMessageStore

                    let entered =
                        TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)

                    let proceed =
                        TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)

                    let committed = ref 0

                    let reactor: Reactor =
                        {
                            Group = "g"
                            Types = [ "work.item" ]
                            Commands = []
                            NeedsHistory = false
                            BatchSize = Some 1
                            StartFrom = StartFrom.Beginning
                            Handle =
                                fun batch _ ->
                                    task {
                                        entered.TrySetResult() |> ignore
                                        do! proceed.Task

                                        return
                                            {
                                                Handled =
                                                    batch.Messages
                                                    |> List.map (fun pending ->
                                                        {
                                                            Message = pending.Message
                                                            Actions =
                                                                [
                                                                    Action.Sync(fun _ ->
                                                                        Interlocked.Increment committed |> ignore
                                                                        Task.FromResult())
                                                                ]
                                                        })
                                                Failure = None
                                            }
                                    }
                        }

                    let runtime = new Runtime(store, [ reactor ], { fast with Workers = 1 })
                    use stop = new CancellationTokenSource()

                    let! _ =
                        store.AppendNextAsync([ for _ in 1..3 -> Message.create "s" "work.item" Json.emptyObject ], ct)

                    let running =
                        Supervisor.runUntilAsync runtime (TimeSpan.FromSeconds 30.0) stop.Token

                    do! entered.Task.WaitAsync(timeout)
                    let stopping = nextEvent runtime _.IsStopping
                    stop.Cancel()
                    let! _ = stopping
                    proceed.SetResult()
                    do! running.WaitAsync(timeout)
                    Expect.equal committed.Value 1 "the batch in flight, and no other"
                })
        ]
