namespace Sourced

open System
open System.Text.Json
open System.Threading
open System.Threading.Tasks

/// A durable workflow: its name (consumer group, stream prefix and message type prefix) and its body.
/// Each run lives in its own stream `<name>-<uuid>`, which records every step; the workers run it.
[<NoEquality; NoComparison>]
type WorkflowDefinition<'Input, 'Output> =
    {
        /// Its consumer group, the prefix of its runs' stream ids and of its message types.
        Name: string
        /// The codec of what its runs record (`<name>.step_started`, ...).
        Events: Codec<WorkflowEvent>
        /// The body a run executes for its input.
        Body: 'Input -> Workflow<'Output>
        /// Messages per claimed run; None for the runtime's batch size.
        BatchSize: int option
    }

/// A workflow failed: a step ran out of attempts, or the body raised outside any step.
type WorkflowFailedException(streamId: string, step: string, error: string) =
    inherit
        Exception(
            if String.IsNullOrEmpty step then
                $"Workflow '{streamId}' failed: {error}"
            else
                $"Workflow '{streamId}' failed in step '{step}': {error}"
        )

    /// The run's stream.
    member _.StreamId = streamId
    /// The step that ran out of attempts; empty when the body raised outside any step.
    member _.Step = step
    /// The error message of the step's last attempt, or of what the body raised.
    member _.Error = error

/// Durable workflows: bodies (`Workflow.step`, `Workflow.sleep`), `Workflow.define`, starting runs and awaiting them.
[<RequireQualifiedAccess; CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Workflow =

    let private encode (value: 'T) = Payloads.encode value
    let private decode<'T> (what: string) (json: JsonElement) : 'T = Payloads.decode<'T> what json

    /// Runs (or replays) a step of a body written as a task against its context (the C# facade's bodies).
    let runStepAsync
        (context: WorkflowContext)
        (options: StepOptions)
        (name: string)
        (run: StepContext -> Task<'T>)
        : Task<'T> =
        if options.Attempts < 1 then
            invalidArg (nameof options) $"Step '{name}' needs at least one attempt."

        if options.Backoff < TimeSpan.Zero || options.MaxBackoff < TimeSpan.Zero then
            invalidArg (nameof options) $"Step '{name}' has a negative backoff."

        task {
            let! output =
                context.StepAsync(
                    name,
                    options,
                    fun step ->
                        task {
                            let! value = run step
                            return encode value
                        }
                )

            return decode<'T> $"output of step '{name}'" output
        }

    /// A body written as a task against its context, with `runStepAsync` and `context.SleepAsync`.
    let ofTask (body: WorkflowContext -> Task<'T>) : Workflow<'T> = Workflow body

    /// A step that reads and saves the workflow's context as it goes (see `StepContext`).
    let stepUsing (options: StepOptions) (name: string) (run: StepContext -> Task<'T>) : Workflow<'T> =
        Workflow(fun context -> runStepAsync context options name run)

    /// A step: runs `run` until it succeeds (at most `options.Attempts` times, waiting between attempts),
    /// records its output, and replays that output ever after. A name used twice makes `name`, `name#2`.
    let stepWith (options: StepOptions) (name: string) (run: CancellationToken -> Task<'T>) : Workflow<'T> =
        stepUsing options name (fun step -> run step.CancellationToken)

    /// `stepWith StepOptions.defaults`: 3 attempts, 1 s then 2 s apart.
    let step (name: string) (run: CancellationToken -> Task<'T>) : Workflow<'T> = stepWith StepOptions.defaults name run

    /// A durable sleep, through a scheduled message: it survives restarts.
    let sleep (name: string) (duration: TimeSpan) : Workflow<unit> =
        Workflow(fun context -> task { do! context.SleepAsync(name, duration) })

    /// A workflow named `name` (its group, stream prefix and message type prefix).
    let define (name: string) (body: 'Input -> Workflow<'Output>) : WorkflowDefinition<'Input, 'Output> =
        if String.IsNullOrWhiteSpace name then
            invalidArg (nameof name) "A workflow needs a name."

        {
            Name = name
            Events = Codec.union<WorkflowEvent> name
            Body = body
            BatchSize = None
        }

    /// The state recorded in a workflow's stream.
    let fold (definition: WorkflowDefinition<'Input, 'Output>) (messages: Message list) : WorkflowState =
        messages
        |> List.filter (fun message -> definition.Events.Handles message.Type)
        |> List.fold
            (fun state message -> WorkflowState.evolve state (Codec.decode definition.Events message))
            WorkflowState.initial

    /// One run of the body: what it recorded and scheduled, and whether it returned.
    let private runBody (definition: WorkflowDefinition<'Input, 'Output>) (context: WorkflowContext) =
        task {
            try
                let input = decode<'Input> "input" context.State.Input.Value
                let (Workflow run) = definition.Body input
                let! output = run context

                // NOTE: a body that caught the halt (a catch-all around a step) returns early: still a halt.
                if context.Halted then
                    return context.Recorded, context.Scheduled
                else
                    return context.Recorded @ [ WorkflowEvent.Completed(encode output) ], context.Scheduled
            with
            | _ when context.Halted -> return context.Recorded, context.Scheduled
            | :? StepFailedException as failed ->
                return context.Recorded @ [ WorkflowEvent.Failed(failed.Step, failed.Error) ], context.Scheduled
            | :? OperationCanceledException when context.CancellationToken.IsCancellationRequested ->
                return raise (OperationCanceledException context.CancellationToken)
            | error -> return context.Recorded @ [ WorkflowEvent.Failed("", error.Message) ], context.Scheduled
        }

    /// The actions that record a run: its events after the stream's last seq, its scheduled wake-ups.
    let private actionsOf definition (batch: Batch) (cause: Message) recorded scheduled =
        let lastSeq = (List.last batch.History).Seq

        let message (seq: int64) (event: WorkflowEvent) =
            let messageType, payload =
                (definition: WorkflowDefinition<'Input, 'Output>).Events.Encode event

            { Message.create batch.StreamId messageType payload with
                Id = batch.NewId()
                Seq = seq
                CreatedAt = batch.Now
            }
            |> Message.causedBy cause

        let appended =
            match recorded with
            | [] -> []
            | events ->
                [
                    Action.AppendAfter(
                        batch.StreamId,
                        lastSeq,
                        events |> List.mapi (fun index -> message (lastSeq + int64 index + 1L))
                    )
                ]

        appended
        @ (scheduled
           |> List.map (fun (at, event) -> Action.Schedule(at, [ message 0L event ])))

    /// The workflow as a reactor: each batch replays the body over the stream's history and records the next
    /// transition (a step started, completed or failed, a sleep, the end).
    let toReactor (definition: WorkflowDefinition<'Input, 'Output>) : Reactor =
        let handle (batch: Batch) (ct: CancellationToken) =
            task {
                let state = fold definition batch.History
                let last = List.last batch.Messages
                let earlier = batch.Messages |> List.take (batch.Messages.Length - 1)

                let acknowledged =
                    earlier
                    |> List.map (fun pending ->
                        {
                            Message = pending.Message
                            Actions = []
                        })

                match state.Status with
                | WorkflowStatus.Running ->
                    let! recorded, scheduled =
                        runBody definition (WorkflowContext(state, batch.StreamId, batch.Clock, ct))

                    return
                        {
                            Handled =
                                acknowledged
                                @ [
                                    {
                                        Message = last.Message
                                        Actions = actionsOf definition batch last.Message recorded scheduled
                                    }
                                ]
                            Failure = None
                        }
                | _ ->
                    return
                        {
                            Handled = acknowledged @ [ { Message = last.Message; Actions = [] } ]
                            Failure = None
                        }
            }

        { Reactor.create definition.Name (Codec.types definition.Events) handle with
            NeedsHistory = true
            BatchSize = definition.BatchSize
        }

    /// The message that starts a run of the workflow, in a new stream `<name>-<uuid>`.
    let startMessage (definition: WorkflowDefinition<'Input, 'Output>) (input: 'Input) : Message =
        Codec.message definition.Events (StreamId.create (Some definition.Name)) (WorkflowEvent.Started(encode input))

    /// Starts a run from a reaction: `Workflow.start BookHoliday.definition request`.
    let start (definition: WorkflowDefinition<'Input, 'Output>) (input: 'Input) : Dispatch<'Command> =
        Dispatch.send definition.Events (WorkflowEvent.Started(encode input))
        |> Dispatch.toNewStream definition.Name

    /// Starts a run; returns its stream id. The workers run it.
    let startAsync
        (store: IMessageStore)
        (definition: WorkflowDefinition<'Input, 'Output>)
        (input: 'Input)
        ct
        : Task<string> =
        task {
            let! started = Store.dispatchAsync store (startMessage definition input) ct
            return started.StreamId
        }

    /// A run's recorded state.
    let stateAsync (store: IMessageStore) (definition: WorkflowDefinition<'Input, 'Output>) (streamId: string) ct =
        task {
            let! messages = store.ReadStreamAsync(streamId, 0L, None, ct)
            return fold definition messages
        }

    /// Waits for a run to end: its output, or `WorkflowFailedException`. Woken by the store's notifications,
    /// and it also looks every second.
    let resultAsync
        (store: IMessageStore)
        (definition: WorkflowDefinition<'Input, 'Output>)
        (streamId: string)
        (ct: CancellationToken)
        : Task<'Output> =
        task {
            let mutable signal =
                TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)

            use _ =
                store.Subscribe(fun notification ->
                    match notification with
                    | StoreNotification.MessagesAppended types when types |> List.exists definition.Events.Handles ->
                        signal.TrySetResult() |> ignore
                    | _ -> ())

            let mutable result = None

            while result.IsNone do
                signal <- TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)
                let! state = stateAsync store definition streamId ct

                match state.Status with
                | WorkflowStatus.Completed output -> result <- Some(decode<'Output> "workflow output" output)
                | WorkflowStatus.Failed(step, error) -> raise (WorkflowFailedException(streamId, step, error))
                | WorkflowStatus.NotStarted
                | WorkflowStatus.Running ->
                    let! _ = Task.WhenAny(signal.Task, Task.Delay(TimeSpan.FromSeconds 1.0, ct))
                    ct.ThrowIfCancellationRequested()

            return result.Value
        }

    /// Starts a run and waits for its output.
    let runAsync store definition input ct : Task<'Output> =
        task {
            let! streamId = startAsync store definition input ct
            return! resultAsync store definition streamId ct
        }
