/// Composes the PostgreSQL test lists explicitly and prints a plain closing line for CI.
module Sourced.Postgres.Tests.Main

open Expecto
open Expecto.Impl

let all =
    testList
        "Sourced.Postgres"
        [
            ServerTests.tests
        // NOTE: the PostgresStore suites join this list here, once the store exists:
        // StoreContract.Suite.tests and RuntimeTests.tests (from Sourced.Suites), named "postgres store",
        // with a `create` that makes a PostgresStore in Server.freshSchema () on Server.connectionString ().
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
