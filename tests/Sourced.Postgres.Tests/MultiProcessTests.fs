/// Two worker processes share one database with writers appending as they work; one is killed with SIGKILL
/// while a batch's transaction is open, and the other finishes everything: nothing lost, nothing done twice,
/// every stream in order.
module Sourced.Postgres.Tests.MultiProcessTests

open System
open System.Collections.Concurrent
open System.Threading
open System.Threading.Tasks
open Expecto
open Npgsql
open Sourced
open Sourced.Tests.ProcessSupport
open Sourced.Tests.Support

let private ct = CancellationToken.None

/// Writers append `perWriter` messages each, one to three at a time, to random streams among `streams`;
/// gives every message as stored.
let private write (store: IMessageStore) (writers: int) (perWriter: int) (streams: int) =
    task {
        let stored = ConcurrentQueue<Message>()

        let writer (index: int) =
            task {
                let random = Random(index)
                let mutable left = perWriter

                while left > 0 do
                    let count = min left (random.Next(1, 4))
                    let stream = $"s{random.Next streams}"

                    let! appended =
                        store.AppendNextAsync(
                            [ for _ in 1..count -> Message.create stream "work.item" Json.emptyObject ],
                            ct
                        )

                    appended |> List.iter stored.Enqueue
                    left <- left - count
            }

        let! _ = Task.WhenAll [ for index in 1..writers -> writer index ]
        return List.ofSeq stored
    }

/// The test itself, on a fresh store.
let private killedWorker (store: IMessageStore) : Task<unit> =
    task {
        let schema = (store :?> Stores.SchemaStore).Schema

        let dataSource = Stores.source ()

        do! Sourced.TestWorker.Program.createEffects dataSource schema

        let environment =
            [ Sourced.TestWorker.Program.ConnectionVariable, Server.connectionString () ]

        // The doomed worker commits one batch, then blocks every later batch inside its open transaction (saying
        // "inside <stream> <seq>"); the survivor paces each batch by a few milliseconds and never blocks.
        use doomed = new Worker($"postgres {schema} doomed 5 1", environment)
        use survivor = new Worker($"postgres {schema} survivor 5 never", environment)
        let wait = TimeSpan.FromSeconds 60.0
        do! doomed.WaitForLineAsync("ready", wait)
        do! survivor.WaitForLineAsync("ready", wait)

        let writing = write store 4 150 24

        // Kill the doomed worker once it has committed a batch and blocks another: a blocked batch never commits.
        do!
            doomed.WaitUntilAsync(
                "the doomed worker committed a batch and blocks another inside its transaction",
                (fun () ->
                    let lines = doomed.Lines

                    Task.FromResult(
                        lines |> List.exists (fun line -> line.StartsWith "committed ")
                        && lines |> List.exists (fun line -> line.StartsWith "inside ")
                    )),
                TimeSpan.FromSeconds 1.0,
                wait
            )

        doomed.Signal SIGKILL
        let! _ = doomed.WaitForExitAsync wait

        // With two workers, two batches may have been blocked when it died.
        let killedIn =
            doomed.Lines
            |> List.filter (fun line -> line.StartsWith "inside ")
            |> List.map (fun line ->
                let fields = line.Split ' '
                fields[1], int64 fields[2])

        let! stored = writing
        let total = stored.Length

        do!
            survivor.WaitUntilAsync(
                $"all {total} messages have their effect",
                (fun () ->
                    task {
                        let! effects = Effects.read dataSource schema
                        return effects.Length >= total
                    }),
                TimeSpan.FromSeconds 1.0,
                wait
            )

        let! effects = Effects.read dataSource schema

        Effects.expectExactlyOnceInOrder effects stored

        for streamId, seq in killedIn do
            let redone =
                effects
                |> List.find (fun effect -> effect.StreamId = streamId && effect.Seq = seq)

            Expect.equal
                redone.Worker
                "survivor"
                $"the batch blocked in {streamId} (up to {seq}) when the worker was killed was rolled back and redone by the other"

        Expect.isTrue
            (effects |> List.exists (fun effect -> effect.Worker = "doomed"))
            "the killed worker had committed work of its own"
    }

let tests =
    testList
        "processes"
        [
            testCaseTask
                "a worker process killed mid-transaction loses nothing: the other finishes, each message once, in order"
                (fun () -> withStore Stores.create TimeProvider.System killedWorker)
        ]
