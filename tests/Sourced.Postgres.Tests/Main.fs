/// Composes the PostgreSQL test lists explicitly and prints a plain closing line for CI.
module Sourced.Postgres.Tests.Main

open Expecto
open Expecto.Impl

let all =
    testList
        "Sourced.Postgres"
        [
            ServerTests.tests
            Sourced.Tests.StoreContract.Suite.tests "postgres store" Stores.create
            Sourced.Tests.RuntimeTests.tests "postgres store" Stores.create
            GapTests.tests
            MultiProcessTests.tests
        ]

[<EntryPoint>]
let main argv =
    let mutable summary: TestRunSummary option = None

    let code =
        runTestsWithCLIArgs [ Append_Summary_Handler(SummaryHandler(fun result -> summary <- Some result)) ] argv all

    match summary with
    | Some result ->
        let failed = result.failed.Length + result.errored.Length
        printfn "\nexpecto: %d passed, %d failed, %d skipped" result.passed.Length failed result.ignored.Length
    | None -> ()

    code
