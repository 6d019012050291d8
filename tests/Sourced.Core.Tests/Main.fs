/// Composes every test list explicitly and prints a plain closing line for CI.
module Sourced.Tests.Main

open Expecto
open Expecto.Impl

let all =
    testList
        "Sourced.Core"
        [
            CodecTests.tests
            StoreContract.Suite.memory
            StoreModelTests.tests
            MessageTests.tests
            ActorTests.tests
            ProjectorTests.tests
            HandlerTests.tests
            DirectUseTests.tests
            ScenarioTests.tests
            ErrorStrategyTests.tests
            WorkQueueTests.tests
            RuntimeTests.memory
            UnitTests.tests
            SupervisorTests.tests
            SampleTests.tests
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
