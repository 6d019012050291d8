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

let tests =
    testList
        "samples"
        [
            books "orchestration" Orchestration.reactors
            books "choreography" Choreography.reactors
        ]
