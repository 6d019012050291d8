/// The workflow that `workflow` mode runs: three steps and a short durable sleep, every run of every step
/// recorded in `<schema>.step_runs`, outside the store, when it starts and when it ends.
module Sourced.TestWorker.Relay

open System
open System.Threading
open System.Threading.Tasks
open Npgsql
open Sourced

/// One run's input. `Key` names the run in `step_runs`; a `Flaky` run's step "second" fails its first attempt.
type Job =
    {
        Key: string
        Number: int
        Flaky: bool
    }

/// Where step runs are recorded, by which process, and the step (if any) whose body never ends on its own.
type StepRuns =
    {
        DataSource: NpgsqlDataSource
        Schema: string
        Process: string
        Hold: string option
    }

/// The table that step bodies record their runs in; times come from the server's clock, shared by all processes.
let createStepRuns (dataSource: NpgsqlDataSource) (schema: string) : Task =
    task {
        use create =
            dataSource.CreateCommand(
                $"CREATE TABLE {schema}.step_runs (id bigint GENERATED ALWAYS AS IDENTITY, run_key text NOT NULL, "
                + "step text NOT NULL, attempt int NOT NULL, process text NOT NULL, "
                + "started_at timestamptz NOT NULL DEFAULT clock_timestamp(), ended_at timestamptz, outcome text)"
            )

        let! _ = create.ExecuteNonQueryAsync()
        ()
    }

let private say (line: string) =
    Console.Out.WriteLine line
    Console.Out.Flush()

let private startedAsync (runs: StepRuns) (key: string) (step: string) (attempt: int) =
    task {
        use insert =
            runs.DataSource.CreateCommand(
                $"INSERT INTO {runs.Schema}.step_runs (run_key, step, attempt, process) VALUES ($1, $2, $3, $4) "
                + "RETURNING id"
            )

        insert.Parameters.AddWithValue key |> ignore
        insert.Parameters.AddWithValue step |> ignore
        insert.Parameters.AddWithValue attempt |> ignore
        insert.Parameters.AddWithValue runs.Process |> ignore
        let! id = insert.ExecuteScalarAsync()
        return id :?> int64
    }

let private endedAsync (runs: StepRuns) (id: int64) (outcome: string) =
    task {
        use update =
            runs.DataSource.CreateCommand(
                $"UPDATE {runs.Schema}.step_runs SET ended_at = clock_timestamp(), outcome = $2 WHERE id = $1"
            )

        update.Parameters.AddWithValue id |> ignore
        update.Parameters.AddWithValue outcome |> ignore
        let! _ = update.ExecuteNonQueryAsync()
        ()
    }

/// A step whose body is recorded: its start, then (unless the process dies first) its end and outcome,
/// "completed" or the exception's type name. Says "inside <key> <step> <attempt>" once its start is recorded.
let private recorded (runs: StepRuns) (key: string) (name: string) (work: int -> CancellationToken -> Task<'T>) =
    let options =
        {
            Attempts = 3
            Backoff = TimeSpan.FromMilliseconds 100.0
            MaxBackoff = TimeSpan.FromSeconds 1.0
        }

    Workflow.stepUsing options name (fun step ->
        task {
            let ct = step.CancellationToken
            let! id = startedAsync runs key name step.Attempt
            say $"inside {key} {name} {step.Attempt}"

            try
                if runs.Hold = Some name then
                    do! Task.Delay(Timeout.InfiniteTimeSpan, ct)

                // NOTE: a few milliseconds of work, so that two runs of one step at once would overlap in time.
                do! Task.Delay(TimeSpan.FromMilliseconds 10.0, ct)
                let! output = work step.Attempt ct
                do! endedAsync runs id "completed"
                return output
            with error ->
                do! endedAsync runs id (error.GetType().Name)
                return raise error
        })

/// The workflow "relay": `first` adds one, `second` doubles, a 200 ms sleep, `third` says "<key>: <result>".
let definition (runs: StepRuns) : WorkflowDefinition<Job, string> =
    Workflow.define "relay" (fun (job: Job) ->
        workflow {
            let! first =
                recorded runs job.Key "first" (fun _ _ -> Task.FromResult(job.Number + 1))

            let! second =
                recorded runs job.Key "second" (fun attempt _ ->
                    if job.Flaky && attempt = 1 then
                        Task.FromException<int>(TimeoutException $"{job.Key}: second timed out")
                    else
                        Task.FromResult(first * 2))

            do! Workflow.sleep "pause" (TimeSpan.FromMilliseconds 200.0)
            return! recorded runs job.Key "third" (fun _ _ -> Task.FromResult $"{job.Key}: {second}")
        })
