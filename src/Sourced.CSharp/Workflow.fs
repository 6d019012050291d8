namespace Sourced.CSharp

open System
open System.Runtime.InteropServices
open System.Threading
open System.Threading.Tasks
open Sourced

/// What a C# workflow body runs against: `await run.Step("book_flight", ct => flights.BookAsync(...))`,
/// `await run.Sleep("cool_off", TimeSpan.FromHours(1))`. A step that has not completed yet ends the body for now
/// by throwing (a catch-all around it can't go on: later steps throw too); a step out of attempts throws
/// `StepFailedException`, which the body may catch to compensate.
[<Sealed>]
type WorkflowRun internal (context: WorkflowContext) =

    /// Runs a step once (or replays its recorded output): `attempts` tries, `backoff` after the first failure,
    /// doubling after each next one.
    member _.Step<'T>
        (
            name: string,
            run: Func<CancellationToken, Task<'T>>,
            [<Optional; DefaultParameterValue(3)>] attempts: int,
            [<Optional>] backoff: Nullable<TimeSpan>
        ) : Task<'T> =
        if isNull run then
            nullArg (nameof run)

        let options =
            { StepOptions.defaults with
                Attempts = attempts
                Backoff =
                    if backoff.HasValue then
                        backoff.Value
                    else
                        StepOptions.defaults.Backoff
            }

        Sourced.Workflow.runStepAsync context options name (fun step -> run.Invoke step.CancellationToken)

    /// Runs a step that has no result.
    member this.Step
        (
            name: string,
            run: Func<CancellationToken, Task>,
            [<Optional; DefaultParameterValue(3)>] attempts: int,
            [<Optional>] backoff: Nullable<TimeSpan>
        ) : Task =
        if isNull run then
            nullArg (nameof run)

        this.Step<bool>(
            name,
            Func<CancellationToken, Task<bool>>(fun ct ->
                task {
                    do! run.Invoke ct
                    return true
                }),
            attempts,
            backoff
        )
        :> Task

    /// A durable sleep: the body goes on once `duration` has passed since it first got here.
    member _.Sleep(name: string, duration: TimeSpan) : Task = context.SleepAsync(name, duration)

    /// The run's id (its stream): with the step name, an idempotency key for a step's side effect (a step runs
    /// at least once: again if its process died before its outcome was recorded).
    member _.Id: string = context.RunId

    /// Cancelled when the worker stops.
    member _.CancellationToken: CancellationToken = context.CancellationToken

/// A durable workflow defined with an async lambda: `new Workflow<Request, Booking>("book-holiday", async (run,
/// request) => { var flight = await run.Step("book_flight", ct => ...); ... return booking; })`. Each run lives
/// in its own stream and records every step; the workers run it (add it like any reactor).
[<Sealed>]
type Workflow<'Input, 'Output> private (definition: WorkflowDefinition<'Input, 'Output>) =
    inherit ReactorDefinition(definition.Name, lazy (Sourced.Workflow.toReactor definition))

    new(name: string, body: Func<WorkflowRun, 'Input, Task<'Output>>) =
        if isNull body then
            nullArg (nameof body)

        Workflow(
            Sourced.Workflow.define name (fun input ->
                Sourced.Workflow.ofTask (fun context -> body.Invoke(WorkflowRun context, input)))
        )

    /// Starts a run; returns its id (stream). The workers run it.
    member _.StartAsync(store: EventStore, input: 'Input, [<Optional>] ct: CancellationToken) : Task<string> =
        if isNull store then
            nullArg (nameof store)

        Sourced.Workflow.startAsync store.Store definition input ct

    /// Waits for a run to end: its output, or `WorkflowFailedException` naming the step and the error.
    member _.ResultAsync(store: EventStore, runId: string, [<Optional>] ct: CancellationToken) : Task<'Output> =
        if isNull store then
            nullArg (nameof store)

        Sourced.Workflow.resultAsync store.Store definition runId ct

    /// Starts a run and waits for its output.
    member _.RunAsync(store: EventStore, input: 'Input, [<Optional>] ct: CancellationToken) : Task<'Output> =
        if isNull store then
            nullArg (nameof store)

        Sourced.Workflow.runAsync store.Store definition input ct

    /// Starts a run from a reaction or handler.
    member _.Start(input: 'Input) : Dispatch =
        Dispatch(Sourced.Workflow.start definition input)

    /// The core definition, for F# code.
    [<System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)>]
    member _.Definition: WorkflowDefinition<'Input, 'Output> = definition
