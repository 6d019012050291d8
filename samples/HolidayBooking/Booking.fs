/// The seed's holiday booking: a holiday needs a flight and a hotel, each booked in its own stream.
module Booking

open System
open Sourced

module Flights =
    type Command = Book of holidayId: string * destination: string * date: DateOnly
    type Event = Booked of holidayId: string * reference: string

    let decide booked (Book(holidayId, destination, date)) =
        if booked then
            []
        else
            [ Booked(holidayId, $"FL-{destination.ToUpperInvariant()}-{date:MMdd}") ]

    let actor =
        Actor.create "flights" (fun _ -> false) decide (fun _ (Booked _) -> true)

module Hotels =
    type Command = Book of holidayId: string * destination: string * nights: int
    type Event = Booked of holidayId: string * reference: string

    let decide booked (Book(holidayId, destination, nights)) =
        if booked then
            []
        else
            [ Booked(holidayId, $"HT-{destination.ToUpperInvariant()}-{nights}N") ]

    let actor = Actor.create "hotels" (fun _ -> false) decide (fun _ (Booked _) -> true)

module Holidays =
    type Command =
        | Start of destination: string * date: DateOnly * nights: int
        | ConfirmFlight of reference: string
        | ConfirmHotel of reference: string

    type Event =
        | Started of destination: string * date: DateOnly * nights: int
        | FlightConfirmed of reference: string
        | HotelConfirmed of reference: string
        | Completed of flight: string * hotel: string

    type State =
        {
            Id: string
            Flight: string option
            Hotel: string option
        }

    let initial id =
        { Id = id; Flight = None; Hotel = None }

    let decide holiday command =
        match command, holiday with
        | Start(destination, date, nights), _ -> [ Started(destination, date, nights) ]
        | ConfirmFlight flight, { Hotel = Some hotel } -> [ FlightConfirmed flight; Completed(flight, hotel) ]
        | ConfirmFlight flight, _ -> [ FlightConfirmed flight ]
        | ConfirmHotel hotel, { Flight = Some flight } -> [ HotelConfirmed hotel; Completed(flight, hotel) ]
        | ConfirmHotel hotel, _ -> [ HotelConfirmed hotel ]

    let evolve holiday event =
        match event with
        | FlightConfirmed flight -> { holiday with Flight = Some flight }
        | HotelConfirmed hotel -> { holiday with Hotel = Some hotel }
        | Started _
        | Completed _ -> holiday

    /// In both styles the holiday confirms, in its own stream, what the flight and hotel actors booked.
    let actor =
        Actor.create "holidays" initial decide evolve
        |> Actor.reactsTo Flights.actor.Events (fun _ booked ->
            let (Flights.Booked(holidayId, reference)) = booked.Value
            [ Dispatch.command (ConfirmFlight reference) |> Dispatch.toStream holidayId ])
        |> Actor.reactsTo Hotels.actor.Events (fun _ booked ->
            let (Hotels.Booked(holidayId, reference)) = booked.Value
            [ Dispatch.command (ConfirmHotel reference) |> Dispatch.toStream holidayId ])

    let started = Codec.only [ nameof Started ] actor.Events

    let completed (holiday: State) =
        holiday.Flight.IsSome && holiday.Hotel.IsSome

/// Orchestration: the holiday actor sends the flight and hotel bookings itself, each to its own stream,
/// so that both run at once.
module Orchestration =
    let holidays =
        Holidays.actor
        |> Actor.reacts [ nameof Holidays.Started ] (fun holiday event ->
            match event with
            | Holidays.Started(destination, date, nights) ->
                [
                    Dispatch.send Flights.actor.Commands (Flights.Book(holiday.Id, destination, date))
                    |> Dispatch.toStream $"{holiday.Id}-flight"
                    Dispatch.send Hotels.actor.Commands (Hotels.Book(holiday.Id, destination, nights))
                    |> Dispatch.toStream $"{holiday.Id}-hotel"
                ]
            | _ -> [])

    let reactors =
        [
            Actor.toReactor holidays
            Actor.toReactor Flights.actor
            Actor.toReactor Hotels.actor
        ]

/// Choreography: nobody directs; the flight and hotel actors each react to a holiday starting.
module Choreography =
    let flights =
        Flights.actor
        |> Actor.reactsTo Holidays.started (fun _ started ->
            match started.Value with
            | Holidays.Started(destination, date, _) ->
                let holidayId = started.Message.StreamId

                [
                    Dispatch.command (Flights.Book(holidayId, destination, date))
                    |> Dispatch.toStream $"{holidayId}-flight"
                ]
            | _ -> [])

    let hotels =
        Hotels.actor
        |> Actor.reactsTo Holidays.started (fun _ started ->
            match started.Value with
            | Holidays.Started(destination, _, nights) ->
                let holidayId = started.Message.StreamId

                [
                    Dispatch.command (Hotels.Book(holidayId, destination, nights))
                    |> Dispatch.toStream $"{holidayId}-hotel"
                ]
            | _ -> [])

    let reactors =
        [
            Actor.toReactor Holidays.actor
            Actor.toReactor flights
            Actor.toReactor hotels
        ]
