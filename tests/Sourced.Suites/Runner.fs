/// Runs an Expecto program's tests: each test under a time limit (a hang fails that test, by name, instead of
/// stalling the whole run), then a plain closing line for CI.
module Sourced.Tests.Runner

open Expecto
open Expecto.Impl

/// How long one test may run before it counts as hung.
let perTest = System.TimeSpan.FromMinutes 2.0

let private limited (tests: Test) =
    tests
    |> Test.replaceTestCode (fun name code ->
        TestLabel(name, TestCase(Test.timeout (int perTest.TotalMilliseconds) code, Normal), Normal))

/// Runs `tests` with the command-line arguments; gives the exit code.
let run (argv: string array) (tests: Test) : int =
    let mutable summary: TestRunSummary option = None

    let code =
        runTestsWithCLIArgs
            [ Append_Summary_Handler(SummaryHandler(fun result -> summary <- Some result)) ]
            argv
            (limited tests)

    match summary with
    | Some result ->
        let failed = result.failed.Length + result.errored.Length
        printfn "\nexpecto: %d passed, %d failed, %d skipped" result.passed.Length failed result.ignored.Length
    | None -> ()

    code
