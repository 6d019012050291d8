namespace Sourced

open System
open System.Collections.Generic
open System.Text.Json
open System.Threading
open System.Threading.Tasks

/// What a durable workflow records in its own stream: each step's start, completion and failure, its sleeps,
/// its context, and how it ended. Stored as `<workflow name>.step_started`, ...
[<RequireQualifiedAccess>]
type WorkflowEvent =
    /// A run began, with its input.
    | Started of input: JsonElement
    /// An attempt of a step is about to run (1 for the first).
    | StepStarted of step: string * attempt: int
    /// A step succeeded; its output is replayed ever after.
    | StepCompleted of step: string * output: JsonElement
    /// `retryAt` is None when no attempt is left.
    | StepFailed of step: string * attempt: int * error: string * errorType: string * retryAt: DateTimeOffset option
    /// A failed step's retry time came (a scheduled message).
    | StepRetried of step: string
    /// A durable sleep began; it ends at `until`.
    | SleepStarted of step: string * until: DateTimeOffset
    /// A sleep's time came (a scheduled message).
    | SleepEnded of step: string
    /// The workflow's context changed (a step saved it).
    | ContextUpdated of context: JsonElement
    /// The body returned this output: the run is over.
    | Completed of output: JsonElement
    /// The run failed: a step ran out of attempts, or the body raised outside any step (`step` empty).
    | Failed of step: string * error: string

/// Where one step (or sleep) of a workflow is.
[<RequireQualifiedAccess>]
type StepStatus =
    /// The attempt has started, and no outcome is recorded yet.
    | Running of attempt: int
    /// Completed, with this output.
    | Done of output: JsonElement
    /// The attempt failed; the next one is due at `retryAt`.
    | Waiting of attempt: int * retryAt: DateTimeOffset
    /// The retry time came: the attempt after `attempt` starts next.
    | RetryDue of attempt: int
    /// Out of attempts: the last one failed with `error`.
    | GaveUp of attempt: int * error: string
    /// A sleep that ends at `until`.
    | Sleeping of until: DateTimeOffset
    /// A sleep that has ended.
    | Awake

/// How a workflow's stream folds up.
[<RequireQualifiedAccess; NoEquality; NoComparison>]
type WorkflowStatus =
    /// Nothing recorded yet.
    | NotStarted
    /// Started, and not ended yet.
    | Running
    /// The body returned this output.
    | Completed of output: JsonElement
    /// Failed in `step` (empty when the body raised outside any step) with `error`.
    | Failed of step: string * error: string

/// A workflow's recorded progress.
[<NoEquality; NoComparison>]
type WorkflowState =
    {
        /// The run's input, once it has started.
        Input: JsonElement option
        /// Where each step and sleep is, by key (`pay`, `pay#2`).
        Steps: Map<string, StepStatus>
        /// The workflow's context as its steps saved it, if any.
        Context: JsonElement option
        /// Whether the run has started, and how it ended.
        Status: WorkflowStatus
    }

/// Folding a workflow's recorded events into its state.
[<RequireQualifiedAccess>]
module WorkflowState =
    /// The state of a run with nothing recorded.
    let initial =
        {
            Input = None
            Steps = Map.empty
            Context = None
            Status = WorkflowStatus.NotStarted
        }

    let private attemptOf (state: WorkflowState) (step: string) =
        match Map.tryFind step state.Steps with
        | Some(StepStatus.Running attempt)
        | Some(StepStatus.Waiting(attempt, _))
        | Some(StepStatus.RetryDue attempt)
        | Some(StepStatus.GaveUp(attempt, _)) -> attempt
        | _ -> 0

    /// The state after one more recorded event.
    let evolve (state: WorkflowState) (event: WorkflowEvent) : WorkflowState =
        let set step status =
            { state with
                Steps = Map.add step status state.Steps
            }

        match event with
        | WorkflowEvent.Started input ->
            { state with
                Input = Some input
                Status = WorkflowStatus.Running
            }
        | WorkflowEvent.StepStarted(step, attempt) -> set step (StepStatus.Running attempt)
        | WorkflowEvent.StepCompleted(step, output) -> set step (StepStatus.Done output)
        | WorkflowEvent.StepFailed(step, attempt, _, _, Some retryAt) -> set step (StepStatus.Waiting(attempt, retryAt))
        | WorkflowEvent.StepFailed(step, attempt, error, _, None) -> set step (StepStatus.GaveUp(attempt, error))
        | WorkflowEvent.StepRetried step -> set step (StepStatus.RetryDue(attemptOf state step))
        | WorkflowEvent.SleepStarted(step, until) -> set step (StepStatus.Sleeping until)
        | WorkflowEvent.SleepEnded step -> set step StepStatus.Awake
        | WorkflowEvent.ContextUpdated context -> { state with Context = Some context }
        | WorkflowEvent.Completed output ->
            { state with
                Status = WorkflowStatus.Completed output
            }
        | WorkflowEvent.Failed(step, error) ->
            { state with
                Status = WorkflowStatus.Failed(step, error)
            }

/// How often a step is tried, and how long to wait before each retry: `Backoff` after the first failure, then
/// doubling (capped at `MaxBackoff`).
type StepOptions =
    {
        /// How many times a step runs before it gives up (at least 1).
        Attempts: int
        /// The wait after the first failure; it doubles after each next one.
        Backoff: TimeSpan
        /// The longest wait between two attempts.
        MaxBackoff: TimeSpan
    }

/// The default step options, and the wait they give after a failure.
[<RequireQualifiedAccess>]
module StepOptions =
    /// 3 attempts, 1 s then 2 s apart.
    let defaults =
        {
            Attempts = 3
            Backoff = TimeSpan.FromSeconds 1.0
            MaxBackoff = TimeSpan.FromMinutes 5.0
        }

    /// The wait after the `attempt`-th failure.
    let delay (options: StepOptions) (attempt: int) : TimeSpan =
        let doubled = options.Backoff * Math.Pow(2.0, float (attempt - 1))

        if doubled > options.MaxBackoff then
            options.MaxBackoff
        else
            doubled

/// Values to and from JSON for workflow inputs, outputs and contexts.
module internal Payloads =
    let encode (value: 'T) : JsonElement =
        let shape = Shapes.shapeOf typeof<'T>
        Json.write (fun writer -> shape.Write writer (box value))

    /// Null reads back as null for reference types: a step may return null.
    let decode<'T> (what: string) (json: JsonElement) : 'T =
        match (Shapes.shapeOf typeof<'T>).Read Strict "" json with
        | Error _ when json.ValueKind = JsonValueKind.Null && not typeof<'T>.IsValueType -> Unchecked.defaultof<'T>
        | Ok value -> unbox<'T> value
        | Error errors ->
            let problems = errors |> List.map string |> String.concat "; "
            invalidOp $"The recorded {what} does not read as {typeof<'T>.Name}: {problems}"

/// What a running step gets: its attempt number, a cancellation token, and the workflow's context, which it can
/// update as it makes progress (recorded with the step's outcome, even when it fails).
type StepContext
    internal
    (
        runId: string,
        key: string,
        attempt: int,
        ct: CancellationToken,
        read: unit -> JsonElement option,
        save: JsonElement -> unit
    ) =
    /// The run's stream id: with `StepKey`, an idempotency key for the step's side effect (a step runs at least
    /// once: again if its process died before its outcome was recorded).
    member _.RunId = runId

    /// The step's key in its run (`pay`, `pay#2`).
    member _.StepKey = key

    /// Which attempt this is: 1, then 2, 3, ... after failures.
    member _.Attempt = attempt
    /// Cancelled when the worker stops; the step runs again later.
    member _.CancellationToken = ct

    /// The workflow's context as saved so far, if any.
    member _.Context<'Context>() : 'Context option =
        read () |> Option.map (Payloads.decode<'Context> "workflow context")

    /// Saves the workflow's context.
    member _.SaveContext(value: 'Context) = save (Payloads.encode value)

/// A step ran out of attempts: raised where the body awaits it, so that the body can compensate (run other
/// steps); if the body lets it through, the workflow fails with the step's error.
type StepFailedException(step: string, error: string) =
    inherit Exception($"Step '{step}' failed for good: {error}")
    /// The key of the step (`pay`, `pay#2`).
    member _.Step = step
    /// The error message of its last attempt.
    member _.Error = error

/// Ends one run of a workflow body: it recorded what it did, or it is waiting.
exception internal WorkflowHalted

/// What a workflow body runs against: the recorded history (steps replay from it), the store's clock, and what
/// this run records. One run records at most one transition, then halts: every step or sleep reached after a
/// halt (a body that caught it) halts again without recording anything.
type WorkflowContext internal (state: WorkflowState, runId: string, clock: TimeProvider, ct: CancellationToken) =
    let gate = obj ()
    let occurrences = Dictionary<string, int>()
    let recorded = ResizeArray<WorkflowEvent>()
    let scheduled = ResizeArray<DateTimeOffset * WorkflowEvent>()
    let mutable context = state.Context
    let mutable halted = false
    let mutable runningStep: string option = None

    let halt () : 'T =
        halted <- true
        raise WorkflowHalted

    let record (event: WorkflowEvent) =
        lock gate (fun () -> recorded.Add event)

    let schedule (at: DateTimeOffset) (event: WorkflowEvent) =
        lock gate (fun () -> scheduled.Add((at, event)))

    /// The step's identity: its name, and which use of that name this is in the body (`pay`, `pay#2`, ...):
    /// the same in every process and after every restart, as long as the body is deterministic.
    member internal _.KeyOf(name: string) =
        if String.IsNullOrWhiteSpace name || name.Contains '#' then
            invalidArg (nameof name) $"A workflow step needs a name without '#' (got '{name}')."

        match runningStep with
        | Some outer -> invalidOp $"Step '{name}' was started inside step '{outer}'; steps can't be nested."
        | None -> ()

        lock gate (fun () ->
            let count =
                match occurrences.TryGetValue name with
                | true, count -> count + 1
                | _ -> 1

            occurrences[name] <- count
            if count = 1 then name else $"{name}#{count}")

    /// Whether this run halted (even if the body caught the halt).
    member internal _.Halted = halted

    /// What this run records: a changed context first, then the transition.
    member internal _.Recorded =
        let contextChange =
            match context, state.Context with
            | Some current, Some previous when Json.deepEquals current previous -> []
            | Some current, _ -> [ WorkflowEvent.ContextUpdated current ]
            | None, _ -> []

        contextChange @ lock gate (fun () -> List.ofSeq recorded)

    member internal _.Scheduled = lock gate (fun () -> List.ofSeq scheduled)
    member internal _.State = state
    /// Cancelled when the worker running the body stops.
    member _.CancellationToken = ct

    /// The run's stream id.
    member _.RunId = runId

    member private _.Changed(key: string, was: string, now: string) : 'T =
        invalidOp $"The workflow's body changed: '{key}' was recorded as a {was} and is now a {now}."

    /// Runs (or replays) a step. Its output is recorded, so it never runs again once it completed.
    member internal this.StepAsync
        (name: string, options: StepOptions, run: StepContext -> Task<JsonElement>)
        : Task<JsonElement> =
        let key = this.KeyOf name

        task {
            match Map.tryFind key state.Steps with
            | _ when halted -> return halt ()
            | Some(StepStatus.Done output) -> return output
            | Some(StepStatus.GaveUp(_, error)) -> return raise (StepFailedException(key, error))
            | None ->
                record (WorkflowEvent.StepStarted(key, 1))
                return halt ()
            | Some(StepStatus.RetryDue attempt) ->
                record (WorkflowEvent.StepStarted(key, attempt + 1))
                return halt ()
            | Some(StepStatus.Running attempt) ->
                let! outcome = this.RunStep(key, attempt, run)

                match outcome with
                | Ok output -> record (WorkflowEvent.StepCompleted(key, output))
                | Error(error: exn) when attempt < options.Attempts ->
                    let retryAt = clock.GetUtcNow() + StepOptions.delay options attempt

                    record (
                        WorkflowEvent.StepFailed(key, attempt, error.Message, error.GetType().FullName, Some retryAt)
                    )

                    schedule retryAt (WorkflowEvent.StepRetried key)
                | Error error ->
                    record (WorkflowEvent.StepFailed(key, attempt, error.Message, error.GetType().FullName, None))

                return halt ()
            | Some(StepStatus.Waiting _) -> return halt ()
            | Some(StepStatus.Sleeping _)
            | Some StepStatus.Awake -> return this.Changed(key, "sleep", "step")
        }

    member private _.RunStep(key: string, attempt: int, run: StepContext -> Task<JsonElement>) =
        task {
            runningStep <- Some key

            try
                try
                    let step =
                        StepContext(runId, key, attempt, ct, (fun () -> context), (fun value -> context <- Some value))

                    let! output = run step
                    return Ok output
                with
                | :? OperationCanceledException when ct.IsCancellationRequested ->
                    // NOTE: the worker is stopping: not the step's failure; it runs again later.
                    return raise (OperationCanceledException ct)
                | error -> return Error error
            finally
                runningStep <- None
        }

    /// A durable sleep: the workflow goes on once `duration` has passed, counted from the first time this sleep
    /// was reached (restarts don't extend it).
    member this.SleepAsync(name: string, duration: TimeSpan) : Task =
        let key = this.KeyOf name

        task {
            match Map.tryFind key state.Steps with
            | _ when halted -> return halt ()
            | Some StepStatus.Awake -> ()
            | None ->
                let until = clock.GetUtcNow() + duration
                record (WorkflowEvent.SleepStarted(key, until))
                schedule until (WorkflowEvent.SleepEnded key)
                return halt ()
            | Some(StepStatus.Sleeping _) -> return halt ()
            | Some _ -> return this.Changed(key, "step", "sleep")
        }

/// A durable workflow body: sequential-looking code whose steps are recorded, retried and replayed.
/// Build it with `workflow { ... }`, `Workflow.step` and `Workflow.sleep`.
type Workflow<'T> = internal Workflow of (WorkflowContext -> Task<'T>)

/// The `workflow { ... }` computation expression; `workflow` is its instance.
type WorkflowBuilder() =
    /// `return value`: the body's output.
    member _.Return(value: 'T) : Workflow<'T> =
        Workflow(fun _ -> Task.FromResult value)

    /// `return! other`: another workflow's output as the body's.
    member _.ReturnFrom(workflow: Workflow<'T>) : Workflow<'T> = workflow
    /// Nothing: an `if` without an `else`.
    member _.Zero() : Workflow<unit> = Workflow(fun _ -> Task.FromResult())

    /// `let! value = step`: runs a step (or any workflow) and goes on with its output.
    member _.Bind(Workflow run: Workflow<'A>, next: 'A -> Workflow<'B>) : Workflow<'B> =
        Workflow(fun context ->
            task {
                let! value = run context
                let (Workflow rest) = next value
                return! rest context
            })

    /// Builds the body when it runs, so that every run of the workflow replays it afresh.
    member _.Delay(delayed: unit -> Workflow<'T>) : Workflow<'T> =
        Workflow(fun context ->
            let (Workflow run) = delayed ()
            run context)

    /// Runs one part of the body, then the rest.
    member _.Combine(Workflow first: Workflow<unit>, Workflow second: Workflow<'T>) : Workflow<'T> =
        Workflow(fun context ->
            task {
                do! first context
                return! second context
            })

    /// `for item in items do`: the loop body for each item, in order.
    member _.For(items: 'A seq, body: 'A -> Workflow<unit>) : Workflow<unit> =
        Workflow(fun context ->
            task {
                for item in items do
                    let (Workflow run) = body item
                    do! run context
            })

    /// `try ... with` in a body: it catches what a step raised for good (`StepFailedException`) and other
    /// errors, never the halt that ends a run early.
    member _.TryWith(Workflow body: Workflow<'T>, handler: exn -> Workflow<'T>) : Workflow<'T> =
        Workflow(fun context ->
            task {
                try
                    return! body context
                with
                | WorkflowHalted -> return raise WorkflowHalted
                | error when not context.Halted ->
                    let (Workflow recover) = handler error
                    return! recover context
            })

    /// `while condition do`: the loop body for as long as the condition holds.
    member _.While(guard: unit -> bool, Workflow body: Workflow<unit>) : Workflow<unit> =
        Workflow(fun context ->
            task {
                while guard () do
                    do! body context
            })

/// `workflow { ... }`, in scope wherever `Sourced` is open.
[<AutoOpen>]
module WorkflowBuilderInstance =
    /// `workflow { let! flight = Workflow.step "book_flight" (fun ct -> ...) ... return ... }`
    let workflow = WorkflowBuilder()
