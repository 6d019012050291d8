// The seed's holiday booking in C#: a holiday needs a flight and a hotel, each booked in its own stream,
// as orchestration (the holiday sends both bookings) and as choreography (flights and hotels react to it).
using Sourced.CSharp;

namespace Sourced.CSharp.Tests;

public static class Flights
{
    public record Book(string HolidayId, string Destination, DateOnly Date);
    public record Booked(string HolidayId, string Reference);

    public static readonly Actor<bool> Actor =
        new Actor<bool>("flights", _ => false)
            .Decide<Book>((booked, book) =>
                booked ? [] : [new Booked(book.HolidayId, $"FL-{book.Destination.ToUpperInvariant()}-{book.Date:MMdd}")])
            .Evolve<Booked>((_, _) => true);
}

public static class Hotels
{
    public record Book(string HolidayId, string Destination, int Nights);
    public record Booked(string HolidayId, string Reference);

    public static readonly Actor<bool> Actor =
        new Actor<bool>("hotels", _ => false)
            .Decide<Book>((booked, book) =>
                booked ? [] : [new Booked(book.HolidayId, $"HT-{book.Destination.ToUpperInvariant()}-{book.Nights}N")])
            .Evolve<Booked>((_, _) => true);
}

public static class Holidays
{
    public record Start(string Destination, DateOnly Date, int Nights);
    public record ConfirmFlight(string Reference);
    public record ConfirmHotel(string Reference);

    public record Started(string Destination, DateOnly Date, int Nights);
    public record FlightConfirmed(string Reference);
    public record HotelConfirmed(string Reference);
    public record Completed(string Flight, string Hotel);

    public record Holiday(string Id, string? Flight = null, string? Hotel = null);

    /// In both styles the holiday confirms, in its own stream, what the flight and hotel actors booked.
    public static readonly Actor<Holiday> Actor =
        new Actor<Holiday>("holidays", id => new Holiday(id))
            .Decide<Start>((_, start) => [new Started(start.Destination, start.Date, start.Nights)])
            .Decide<ConfirmFlight>((holiday, confirm) => holiday.Hotel is { } hotel
                ? [new FlightConfirmed(confirm.Reference), new Completed(confirm.Reference, hotel)]
                : [new FlightConfirmed(confirm.Reference)])
            .Decide<ConfirmHotel>((holiday, confirm) => holiday.Flight is { } flight
                ? [new HotelConfirmed(confirm.Reference), new Completed(flight, confirm.Reference)]
                : [new HotelConfirmed(confirm.Reference)])
            .Event<Started>()
            .Evolve<FlightConfirmed>((holiday, confirmed) => holiday with { Flight = confirmed.Reference })
            .Evolve<HotelConfirmed>((holiday, confirmed) => holiday with { Hotel = confirmed.Reference })
            .Event<Completed>()
            .ReactTo<Flights.Booked>(Flights.Actor, (_, booked, _) =>
                [Dispatch.Command(new ConfirmFlight(booked.Reference)).ToStream(booked.HolidayId)])
            .ReactTo<Hotels.Booked>(Hotels.Actor, (_, booked, _) =>
                [Dispatch.Command(new ConfirmHotel(booked.Reference)).ToStream(booked.HolidayId)]);
}

/// Orchestration: the holiday sends the flight and hotel bookings itself, each to its own stream.
public static class Orchestration
{
    public static readonly Actor<Holidays.Holiday> Holidays =
        Tests.Holidays.Actor.React<Holidays.Started>((holiday, started) =>
        [
            Dispatch.ToActor(Flights.Actor, new Flights.Book(holiday.Id, started.Destination, started.Date))
                .ToStream($"{holiday.Id}-flight"),
            Dispatch.ToActor(Hotels.Actor, new Hotels.Book(holiday.Id, started.Destination, started.Nights))
                .ToStream($"{holiday.Id}-hotel"),
        ]);

    public static readonly ReactorDefinition[] Reactors = [Holidays, Flights.Actor, Hotels.Actor];
}

/// Choreography: nobody directs; flights and hotels each react to a holiday starting.
public static class Choreography
{
    public static readonly Actor<bool> Flights =
        Tests.Flights.Actor.ReactTo<Holidays.Started>(Holidays.Actor, (_, started, envelope) =>
        [
            Dispatch.Command(new Tests.Flights.Book(envelope.StreamId, started.Destination, started.Date))
                .ToStream($"{envelope.StreamId}-flight"),
        ]);

    public static readonly Actor<bool> Hotels =
        Tests.Hotels.Actor.ReactTo<Holidays.Started>(Holidays.Actor, (_, started, envelope) =>
        [
            Dispatch.Command(new Tests.Hotels.Book(envelope.StreamId, started.Destination, started.Nights))
                .ToStream($"{envelope.StreamId}-hotel"),
        ]);

    public static readonly ReactorDefinition[] Reactors = [Holidays.Actor, Flights, Hotels];
}
