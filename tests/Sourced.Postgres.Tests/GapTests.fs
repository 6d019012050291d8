/// The "skipped events" problem of Postgres event stores: writers whose transactions commit out of order
/// (a later position commits first) or roll back (leaving holes). Consumers must still see every committed
/// message exactly once, in stream order.
module Sourced.Postgres.Tests.GapTests

open System
open System.Collections.Concurrent
open System.Threading
open System.Threading.Tasks
open Expecto
open Sourced
open Sourced.Postgres
open Sourced.Tests.RuntimeSupport
open Sourced.Tests.Support

/// Raised inside a writer's transaction to roll it back.
exception private RolledBack

let private writers = 8
let private transactionsPerWriter = 40
let private streams = 12

/// One writer: transactions of one to three messages to random streams, each held open for a random while
/// after its inserts, a quarter of them rolled back. Gives what it committed.
let private writer (store: IMessageStore) (seed: int) =
    task {
        let random = Random seed
        let committed = ResizeArray<Message>()

        for _ in 1..transactionsPerWriter do
            let messages =
                [
                    for _ in 1 .. random.Next(1, 4) ->
                        Message.create $"s{random.Next streams}" "work.item" Json.emptyObject
                ]

            let hold = TimeSpan.FromMilliseconds(float (random.Next 25))
            let rollBack = random.NextDouble() < 0.25

            try
                let! appended =
                    store.TransactAsync(
                        (fun transaction ->
                            task {
                                let! appended = transaction.AppendNextAsync(messages, ct)
                                do! Task.Delay hold

                                if rollBack then
                                    raise RolledBack

                                return appended
                            }),
                        ct
                    )

                committed.AddRange appended
            with RolledBack ->
                ()

        return List.ofSeq committed
    }

let private gaps (store: IMessageStore) : Task<unit> =
    task {
        let schema = (store :?> Stores.SchemaStore).Schema
        let dataSource = Stores.source ()
        do! Sourced.TestWorker.Program.createEffects dataSource schema
        let noHold _ _ = Task.CompletedTask

        // Two runtimes on two store instances (as two processes would be), two workers each.
        use other =
            new PostgresStore(
                dataSource,
                { PostgresOptions.defaults with
                    Schema = schema
                }
            )

        let runtimes =
            [
                for name, onStore in [ "one", store; "two", other :> IMessageStore ] ->
                    new Runtime(
                        onStore,
                        [ Sourced.TestWorker.Program.effects schema name noHold ],
                        { fast with Workers = 2; Name = name }
                    )
            ]

        use progress = new SemaphoreSlim(0)

        let subscriptions =
            runtimes
            |> List.map (fun runtime ->
                runtime.Subscribe(function
                    | RuntimeEvent.BatchCompleted _ -> progress.Release() |> ignore
                    | _ -> ()))

        for runtime in runtimes do
            do! runtime.StartAsync ct

        try
            let! committed = Task.WhenAll [ for seed in 1..writers -> writer store seed ]
            let stored = List.concat committed
            let effects = ref []

            // Every completed batch is a reason to look again.
            do!
                waitUntil
                    progress
                    (TimeSpan.FromSeconds 60.0)
                    (TimeSpan.FromSeconds 60.0)
                    (fun () -> $"all {stored.Length} messages have their effect (so far {effects.Value.Length})")
                    (fun () ->
                        task {
                            let! written = Effects.read dataSource schema
                            effects.Value <- written
                            return written.Length >= stored.Length
                        })

            Expect.isGreaterThan stored.Length 200 "enough committed messages to mean something"
            Effects.expectExactlyOnceInOrder effects.Value stored
        finally
            for subscription in subscriptions do
                subscription.Dispose()

            for runtime in runtimes do
                runtime.StopAsync(ct).Wait()
    }

let tests =
    testList
        "gaps"
        [
            testCaseTask
                $"{writers} writers committing out of order and rolling back, 4 workers: nothing skipped, nothing twice, streams in order"
                (fun () -> withStore Stores.create TimeProvider.System gaps)
        ]
