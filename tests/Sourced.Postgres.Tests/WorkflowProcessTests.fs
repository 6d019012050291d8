/// Durable workflows run by Sourced.TestWorker processes on one database: a process killed inside a step, and
/// its run resumed by another; two processes sharing many runs. Step bodies record each run in `step_runs`.
module Sourced.Postgres.Tests.WorkflowProcessTests

open System
open System.Threading
open System.Threading.Tasks
open Expecto
open Npgsql
open Sourced
open Sourced.TestWorker
open Sourced.Tests.ProcessSupport
open Sourced.Tests.Support

/// One recorded run of a step body; `EndedAt` is None when its process died inside it.
type private StepRun =
    {
        Key: string
        Step: string
        Attempt: int
        Process: string
        StartedAt: DateTime
        EndedAt: DateTime option
        Outcome: string option
    }

let private wait = TimeSpan.FromSeconds 60.0

/// Every step run, in the order they started.
let private stepRuns (dataSource: NpgsqlDataSource) (schema: string) =
    task {
        use command =
            dataSource.CreateCommand(
                "SELECT run_key, step, attempt, process, started_at, ended_at, outcome "
                + $"FROM {schema}.step_runs ORDER BY id"
            )

        use! reader = command.ExecuteReaderAsync CancellationToken.None
        let runs = ResizeArray()

        while! reader.ReadAsync CancellationToken.None do
            runs.Add
                {
                    Key = reader.GetString 0
                    Step = reader.GetString 1
                    Attempt = reader.GetInt32 2
                    Process = reader.GetString 3
                    StartedAt = reader.GetDateTime 4
                    EndedAt =
                        if reader.IsDBNull 5 then
                            None
                        else
                            Some(reader.GetDateTime 5)
                    Outcome = if reader.IsDBNull 6 then None else Some(reader.GetString 6)
                }

        return List.ofSeq runs
    }

/// A fresh `step_runs` table in the store's schema, the workflow's definition (to start and await runs; its
/// steps run only in the workers), and the environment of the workers.
let private prepare (store: IMessageStore) =
    task {
        let schema = (store :?> Stores.SchemaStore).Schema
        let dataSource = Stores.source ()
        do! Relay.createStepRuns dataSource schema

        let definition =
            Relay.definition
                {
                    DataSource = dataSource
                    Schema = schema
                    Process = "test"
                    Hold = None
                }

        return schema, dataSource, definition, [ Program.ConnectionVariable, Server.connectionString () ]
    }

/// The stream's events that name a step, as (type, step).
let private stepEvents (store: IMessageStore) (definition: WorkflowDefinition<_, _>) (streamId: string) =
    task {
        let! messages = store.ReadStreamAsync(streamId, 0L, None, CancellationToken.None)

        return
            messages
            |> List.map (Codec.decode definition.Events)
            |> List.choose (fun event ->
                match event with
                | WorkflowEvent.StepStarted(step, _) -> Some("started", step)
                | WorkflowEvent.StepCompleted(step, _) -> Some("completed", step)
                | WorkflowEvent.StepFailed(step, _, _, _, _) -> Some("failed", step)
                | WorkflowEvent.StepRetried step -> Some("retried", step)
                | WorkflowEvent.SleepStarted(step, _) -> Some("sleeping", step)
                | WorkflowEvent.SleepEnded step -> Some("awake", step)
                | _ -> None)
    }

let private killedInsideAStep (store: IMessageStore) : Task<unit> =
    task {
        let! schema, dataSource, definition, environment = prepare store
        use doomed = new Worker($"workflow {schema} doomed second", environment)
        do! doomed.WaitForLineAsync("ready", wait)

        let! streamId =
            Workflow.startAsync
                store
                definition
                {
                    Key = "run"
                    Number = 20
                    Flaky = false
                }
                CancellationToken.None

        do!
            doomed.WaitUntilAsync(
                "the doomed process is inside step second",
                (fun () ->
                    task {
                        let! runs = stepRuns dataSource schema
                        return runs |> List.exists (fun run -> run.Step = "second")
                    }),
                TimeSpan.FromSeconds 1.0,
                wait
            )

        doomed.Signal SIGKILL
        let! _ = doomed.WaitForExitAsync wait
        use survivor = new Worker($"workflow {schema} survivor none", environment)
        use timeout = new CancellationTokenSource(wait)

        let! output =
            task {
                try
                    return! Workflow.resultAsync store definition streamId timeout.Token
                with :? OperationCanceledException ->
                    return
                        failtestf "the run did not end; the survivor printed:\n%s" (String.Join("\n", survivor.Lines))
            }

        let! runs = stepRuns dataSource schema
        let! events = stepEvents store definition streamId

        Expect.equal output "run: 42" "the run's output"

        // The run could only resume once the survivor had freed the killed process's claim; the line saying so may
        // still be on its way through the pipe.
        do!
            survivor.WaitUntilAsync(
                "the survivor freed the killed process's claim once its lease expired",
                (fun () -> Task.FromResult(survivor.Lines |> List.exists (fun line -> line.StartsWith "reclaimed "))),
                TimeSpan.FromSeconds 1.0,
                wait
            )

        Expect.equal
            (runs |> List.map (fun run -> run.Step, run.Process, run.Outcome))
            [
                "first", "doomed", Some "completed"
                "second", "doomed", None
                "second", "survivor", Some "completed"
                "third", "survivor", Some "completed"
            ]
            "step runs: first once (doomed), second twice (killed in the doomed process, then the survivor), third once"

        Expect.equal
            events
            [
                "started", "first"
                "completed", "first"
                "started", "second"
                "completed", "second"
                "sleeping", "pause"
                "awake", "pause"
                "started", "third"
                "completed", "third"
            ]
            "the run's stream records each step's start and completion once"
    }

/// Pairs of step runs of one workflow run that overlap in time; none may.
let private overlapping (runs: StepRun list) =
    runs
    |> List.groupBy (fun run -> run.Key)
    |> List.collect (fun (_, ofOne) ->
        ofOne
        |> List.sortBy (fun run -> run.StartedAt)
        |> List.pairwise
        |> List.filter (fun (earlier, later) ->
            match earlier.EndedAt with
            | Some ended -> ended > later.StartedAt
            | None -> true))

let private sharedByTwo (store: IMessageStore) : Task<unit> =
    task {
        let! schema, dataSource, definition, environment = prepare store
        use one = new Worker($"workflow {schema} one none", environment)
        use two = new Worker($"workflow {schema} two none", environment)
        do! one.WaitForLineAsync("ready", wait)
        do! two.WaitForLineAsync("ready", wait)

        let jobs: Relay.Job list =
            [
                for number in 1..20 ->
                    {
                        Key = $"run{number}"
                        Number = number
                        Flaky = number % 4 = 0
                    }
            ]

        let! streamIds =
            jobs
            |> List.map (fun job -> Workflow.startAsync store definition job CancellationToken.None)
            |> Task.WhenAll

        use timeout = new CancellationTokenSource(wait)

        let! outputs =
            task {
                try
                    return!
                        streamIds
                        |> Array.map (fun streamId -> Workflow.resultAsync store definition streamId timeout.Token)
                        |> Task.WhenAll
                with :? OperationCanceledException ->
                    return
                        failtestf
                            "not every run ended; the processes printed:\n%s\n---\n%s"
                            (String.Join("\n", one.Lines))
                            (String.Join("\n", two.Lines))
            }

        let! runs = stepRuns dataSource schema

        Expect.equal
            (List.ofArray outputs)
            [ for job in jobs -> $"{job.Key}: {(job.Number + 1) * 2}" ]
            "every run's output"

        let leases =
            one.Lines @ two.Lines
            |> List.filter (fun line -> line.StartsWith "reclaimed" || line.StartsWith "claim lost")

        Expect.equal
            (overlapping runs)
            []
            $"step runs of one workflow run that overlap in time (expired leases reported: %A{leases})"

        let completed =
            runs
            |> List.filter (fun run -> run.Outcome = Some "completed")
            |> List.countBy (fun run -> run.Key, run.Step)
            |> List.sort

        Expect.equal
            completed
            ([
                for job in jobs do
                    for step in [ "first"; "second"; "third" ] -> (job.Key, step), 1
             ]
             |> List.sort)
            "each step of each run completed exactly once"

        let failed =
            runs
            |> List.filter (fun run -> run.Outcome <> Some "completed")
            |> List.map (fun run -> run.Key, run.Step, run.Attempt, run.Outcome)
            |> List.sort

        Expect.equal
            failed
            ([
                for job in jobs do
                    if job.Flaky then
                        job.Key, "second", 1, Some "TimeoutException"
             ]
             |> List.sort)
            "the flaky runs' second step failed once, on its first attempt; nothing else failed"

        for streamId in streamIds do
            let! events = stepEvents store definition streamId

            let completions =
                events |> List.filter (fun (kind, _) -> kind = "completed") |> List.map snd

            Expect.equal completions [ "first"; "second"; "third" ] $"the steps {streamId} records as completed"

        let byProcess = runs |> List.countBy (fun run -> run.Process) |> Map.ofList

        Expect.equal
            (byProcess.Keys |> List.ofSeq)
            [ "one"; "two" ]
            $"both processes ran steps (step runs by process: %A{byProcess})"
    }

let tests =
    testList
        "workflow processes"
        [
            testCaseTask
                "a workflow whose process is killed inside a step resumes on another process, without running its completed steps again"
                (fun () -> withStore Stores.create TimeProvider.System killedInsideAStep)
            testCaseTask
                "two processes sharing many workflow runs never run one run's steps at the same time, and complete each step once"
                (fun () -> withStore Stores.create TimeProvider.System sharedByTwo)
        ]
