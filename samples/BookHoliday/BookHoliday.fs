/// The seed's holiday booking as a durable workflow: book a flight, book a hotel, wait a moment, confirm.
/// Sequential-looking code; every step is recorded in the run's stream, retried when it fails, and never run
/// again once it completed, whichever process runs the workflow next.
module BookHoliday

open System
open System.Net.Http
open System.Threading
open System.Threading.Tasks
open Sourced

type Request =
    {
        Traveller: string
        Destination: string
        Date: DateOnly
        Nights: int
    }

type Booking =
    {
        Flight: string
        Hotel: string
        Confirmation: string
    }

/// Stand-ins for the flight and hotel APIs. The flights API times out on its first call, to show a retry.
type TravelApis() =
    let mutable flightCalls = 0

    member _.BookFlightAsync(request: Request, _: CancellationToken) : Task<string> =
        if Interlocked.Increment(&flightCalls) = 1 then
            Task.FromException<string>(HttpRequestException "the flights API timed out")
        else
            Task.FromResult $"FL-{request.Destination.ToUpperInvariant()}-{request.Date:MMdd}"

    member _.BookHotelAsync(request: Request, _: CancellationToken) : Task<string> =
        Task.FromResult $"HT-{request.Destination.ToUpperInvariant()}-{request.Nights}N"

let definition (apis: TravelApis) =
    Workflow.define "book-holiday" (fun (request: Request) ->
        workflow {
            let retryQuickly =
                { StepOptions.defaults with
                    Backoff = TimeSpan.FromMilliseconds 200.0
                }

            let! flight =
                Workflow.stepWith retryQuickly "book_flight" (fun ct -> apis.BookFlightAsync(request, ct))

            let! hotel = Workflow.step "book_hotel" (fun ct -> apis.BookHotelAsync(request, ct))
            do! Workflow.sleep "cooling_off" (TimeSpan.FromSeconds 1.0)

            let! confirmation =
                Workflow.step "confirm_booking" (fun _ -> Task.FromResult $"{request.Traveller}: {flight} and {hotel}")

            return
                {
                    Flight = flight
                    Hotel = hotel
                    Confirmation = confirmation
                }
        })
