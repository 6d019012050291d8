/// Runs one holiday booking as a durable workflow on background workers, waits for its result and prints the
/// steps its stream recorded: on PostgreSQL when a connection string is given (`--postgres "<connection string>"`
/// or SOURCED_PG), on the memory store otherwise.
module Program

open System
open System.Threading
open Sourced
open BookHoliday

/// The sample's own schema, emptied at every run.
[<Literal>]
let Schema = "sourced_samples_book_holiday"

/// One line per recorded event: when (after the start), what, and its details.
let describe (started: DateTimeOffset) (message: Message) (event: WorkflowEvent) =
    let detail =
        match event with
        | WorkflowEvent.Started input -> $"input {Json.toText input}"
        | WorkflowEvent.StepStarted(step, attempt) -> $"{step}, attempt {attempt}"
        | WorkflowEvent.StepCompleted(step, output) -> $"{step} -> {Json.toText output}"
        | WorkflowEvent.StepFailed(step, attempt, error, _, Some retryAt) ->
            $"{step}, attempt {attempt}: {error}; retry at +{(retryAt - started).TotalSeconds:F1} s"
        | WorkflowEvent.StepFailed(step, attempt, error, _, None) -> $"{step}, attempt {attempt}: {error}; gave up"
        | WorkflowEvent.StepRetried step -> step
        | WorkflowEvent.SleepStarted(step, until) -> $"{step} until +{(until - started).TotalSeconds:F1} s"
        | WorkflowEvent.SleepEnded step -> step
        | WorkflowEvent.ContextUpdated context -> Json.toText context
        | WorkflowEvent.Completed output -> Json.toText output
        | WorkflowEvent.Failed(step, error) -> $"{step}: {error}"

    let kind = message.Type.Substring(message.Type.IndexOf '.' + 1)
    printfn "  #%-2d +%4.1f s  %-15s %s" message.Seq (message.CreatedAt - started).TotalSeconds kind detail

let run (store: IMessageStore) (ct: CancellationToken) =
    task {
        let holiday = definition (TravelApis())

        use runtime =
            new Runtime(
                store,
                [ Workflow.toReactor holiday ],
                { RuntimeOptions.defaults with
                    PromoteInterval = TimeSpan.FromMilliseconds 50.0
                }
            )

        do! runtime.StartAsync ct

        let request =
            {
                Traveller = "Joe"
                Destination = "Lisbon"
                Date = DateOnly(2027, 5, 1)
                Nights = 7
            }

        let! runId = Workflow.startAsync store holiday request ct

        let! booking =
            (Workflow.resultAsync store holiday runId ct).WaitAsync(TimeSpan.FromSeconds 60.0)

        do! runtime.StopAsync ct

        printfn "Booked: %s (flight %s, hotel %s)\n" booking.Confirmation booking.Flight booking.Hotel
        printfn "Steps recorded in stream %s:" runId
        let! messages = store.ReadStreamAsync(runId, 0L, None, ct)
        let started = (List.head messages).CreatedAt

        for message in messages do
            describe started message (Codec.decode holiday.Events message)
    }

[<EntryPoint>]
let main argv =
    SampleStore.main "BookHoliday" argv (SampleStore.inOneSchema Schema run)
