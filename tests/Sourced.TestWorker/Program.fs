/// A worker process for tests that need real processes: it runs a runtime under the Supervisor and reports
/// what it does on standard output, one line per event.
module Sourced.TestWorker.Program

open System
open System.Threading
open System.Threading.Tasks
open Sourced

let say (line: string) =
    Console.Out.WriteLine line
    Console.Out.Flush()

/// A reactor that takes `delay` per batch of one message and reports it began and committed it.
let slow (delay: TimeSpan) : Reactor =
    {
        Group = "slow"
        Types = [ "work.item" ]
        Commands = []
        NeedsHistory = false
        BatchSize = Some 1
        StartFrom = StartFrom.Beginning
        Handle =
            fun batch ct ->
                task {
                    let message = (List.head batch.Messages).Message
                    say $"begin {message.Seq}"
                    do! Task.Delay(delay, ct)

                    return
                        {
                            Handled =
                                [
                                    {
                                        Message = message
                                        Actions =
                                            [
                                                Action.Sync(fun _ ->
                                                    say $"end {message.Seq}"
                                                    Task.FromResult())
                                            ]
                                    }
                                ]
                            Failure = None
                        }
                }
    }

/// `memory-slow <messages> <delay ms>`: a memory store with work queued; runs until SIGTERM or Ctrl+C.
let memorySlow (messages: int) (delay: TimeSpan) =
    task {
        let store = MemoryStore() :> IMessageStore
        let completed = ref 0

        let runtime =
            new Runtime(
                store,
                [ slow delay ],
                { RuntimeOptions.defaults with
                    Workers = 1
                    Name = "test-worker"
                }
            )

        use _ =
            runtime.Subscribe(function
                | RuntimeEvent.BatchCompleted _ -> Interlocked.Increment completed |> ignore
                | RuntimeEvent.Started _ -> say "ready"
                | _ -> ())

        let! _ =
            store.AppendNextAsync(
                [ for _ in 1..messages -> Message.create "work" "work.item" Json.emptyObject ],
                CancellationToken.None
            )

        do! Supervisor.runAsync runtime (TimeSpan.FromSeconds 30.0)
        say $"stopped after {completed.Value} batches"
    }

[<EntryPoint>]
let main argv =
    match argv with
    | [| "memory-slow"; messages; delay |] ->
        (memorySlow (int messages) (TimeSpan.FromMilliseconds(float delay))).GetAwaiter().GetResult()
        0
    | _ ->
        eprintfn "usage: Sourced.TestWorker memory-slow <messages> <delay ms>"
        2
