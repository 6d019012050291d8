using Sourced.CSharp;
using Xunit;

namespace Sourced.CSharp.Tests;

/// The holiday booking in C#, both styles, on the memory store through the facade.
public class HolidayTests
{
    static readonly DateOnly June = new(2026, 6, 12);

    public static TheoryData<string> Styles => new() { "orchestration", "choreography" };

    static ReactorDefinition[] ReactorsOf(string style) =>
        style == "orchestration" ? Orchestration.Reactors : Choreography.Reactors;

    [Theory]
    [MemberData(nameof(Styles))]
    public async Task A_started_holiday_books_its_flight_and_hotel_and_completes(string style)
    {
        var store = EventStore.InMemory();
        var start = Holidays.Actor.Command("holiday-1", new Holidays.Start("Lisbon", June, 3));

        await store.DispatchAsync(start);
        await store.DrainAsync(ReactorsOf(style));
        var holiday = await Holidays.Actor.LoadAsync(store, "holiday-1");
        var stream = await store.ReadStreamAsync("holiday-1");
        var trail = await store.ReadCorrelationAsync(start.CorrelationId);

        Assert.Equal("FL-LISBON-0612", holiday.State.Flight);
        Assert.Equal("HT-LISBON-3N", holiday.State.Hotel);
        Assert.Equal("holidays.completed", stream[^1].Type);
        Assert.Contains(trail, message => message.StreamId == "holiday-1-flight" && message.Type == "flights.booked");
        Assert.Contains(trail, message => message.StreamId == "holiday-1-hotel" && message.Type == "hotels.booked");
        Assert.All(trail, message => Assert.Equal(start.CorrelationId, message.CorrelationId));
    }

    [Fact]
    public void The_holiday_completes_when_the_second_booking_is_confirmed() =>
        Scenario.For(Holidays.Actor, "holiday-1")
            .Given(new Holidays.FlightConfirmed("FL-1"))
            .When(new Holidays.ConfirmHotel("HT-1"))
            .Then(new Holidays.HotelConfirmed("HT-1"), new Holidays.Completed("FL-1", "HT-1"));

    [Fact]
    public void Orchestration_sends_both_bookings_to_their_own_streams() =>
        Scenario.For(Orchestration.Holidays, "holiday-1")
            .When(new Holidays.Started("Lisbon", June, 3))
            .ThenProduced(produced =>
            {
                Assert.Equal(["flights.book", "hotels.book"], produced.Select(message => message.Type));
                Assert.Equal(["holiday-1-flight", "holiday-1-hotel"], produced.Select(message => message.StreamId));
                Assert.Equal("Lisbon", produced[1].Payload.GetProperty("destination").GetString());
            });

    [Fact]
    public void A_flight_is_booked_only_once() =>
        Scenario.For(Flights.Actor, "holiday-1-flight")
            .Given(new Flights.Booked("holiday-1", "FL-1"))
            .When(new Flights.Book("holiday-1", "Lisbon", June))
            .ThenNothing();

    [Fact]
    public void Optional_state_fields_and_dates_round_trip_through_the_payload()
    {
        var message = Holidays.Actor.Command("holiday-1", new Holidays.Start("Lisbon", June, 3));

        Assert.Equal("""{"destination":"Lisbon","date":"2026-06-12","nights":3}""", message.Payload.GetRawText());
    }

    [Fact]
    public void A_form_is_read_leniently_and_every_bad_field_is_named()
    {
        var parsed = Holidays.Actor.ParseCommand(
            "holiday-2", "holidays.start", """{"destination":"Rome","date":"2026-07-01","nights":"4"}""");
        var invalid = Assert.Throws<InvalidMessageException>(() => Holidays.Actor.ParseCommand(
            "holiday-2", "holidays.start", """{"date":"soon","nights":"many"}"""));

        Assert.Equal(4, parsed.Payload.GetProperty("nights").GetInt32());
        Assert.Contains("destination: is required", invalid.Message);
        Assert.Contains("date: expected", invalid.Message);
        Assert.Contains("nights: expected", invalid.Message);
        Assert.Contains("'holidays.start' message for stream 'holiday-2'", invalid.Message);
    }
}
