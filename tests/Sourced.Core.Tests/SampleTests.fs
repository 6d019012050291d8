module Sourced.Tests.SampleTests

open System
open System.Threading.Tasks
open Expecto
open Sourced
open Sourced.Tests.RuntimeSupport
open Booking

let start holidayId =
    Actor.command Holidays.actor holidayId (Holidays.Start("Lisbon", DateOnly(2027, 5, 1), 7))

let books (style: string) (reactors: Reactor list) =
    testCaseTask $"the holiday booking completes by {style}, on workers, in one correlation" (fun () ->
        task {
            let store = MemoryStore() :> IMessageStore
            let runtime = new Runtime(store, reactors, fast)
            let command = start "holiday-1"

            let completed () =
                task {
                    let! holiday = Actor.loadAsync store Holidays.actor "holiday-1" ct
                    return Holidays.completed holiday.State
                }

            do!
                running runtime (fun () ->
                    task {
                        let! _ = runtime.DispatchAsync(command, ct)
                        do! until runtime "the holiday is booked" completed
                    })

            let! trail = store.ReadCorrelationAsync(command.CorrelationId, ct)
            let! log = store.ReadLogAsync(0L, 100, ct)
            Expect.equal trail.Length log.Length "every message in the booking's correlation"

            Expect.equal
                (trail
                 |> List.map (fun message -> message.StreamId)
                 |> List.distinct
                 |> List.sort)
                [ "holiday-1"; "holiday-1-flight"; "holiday-1-hotel" ]
                "flight and hotel in their own streams"

            Expect.equal
                (trail
                 |> List.filter (fun message -> message.Type = "holidays.completed")
                 |> List.length)
                1
                "completed once"
        })

let bookHoliday =
    testCaseTask "the durable BookHoliday workflow books, retrying the flight once, and records every step" (fun () ->
        task {
            let store = MemoryStore() :> IMessageStore
            let holiday = BookHoliday.definition (BookHoliday.TravelApis())
            let runtime = new Runtime(store, [ Workflow.toReactor holiday ], fast)

            let request: BookHoliday.Request =
                {
                    Traveller = "Ann"
                    Destination = "Rome"
                    Date = DateOnly(2027, 6, 2)
                    Nights = 2
                }

            let mutable runId = ""

            do!
                running runtime (fun () ->
                    task {
                        let! started = Workflow.startAsync store holiday request ct
                        runId <- started
                        let! booking = (Workflow.resultAsync store holiday started ct).WaitAsync(timeout)
                        Expect.equal booking.Confirmation "Ann: FL-ROME-0602 and HT-ROME-2N" "booking"
                    })

            let! messages = store.ReadStreamAsync(runId, 0L, None, ct)

            let steps =
                messages
                |> List.choose (fun message ->
                    match Codec.decode holiday.Events message with
                    | WorkflowEvent.StepCompleted(step, _) -> Some step
                    | WorkflowEvent.StepFailed(step, _, _, _, _) -> Some(step + " failed")
                    | _ -> None)

            Expect.equal
                steps
                [ "book_flight failed"; "book_flight"; "book_hotel"; "confirm_booking" ]
                "recorded steps"
        })

let tests =
    testList
        "samples"
        [
            books "orchestration" Orchestration.reactors
            books "choreography" Choreography.reactors
            bookHoliday
        ]
