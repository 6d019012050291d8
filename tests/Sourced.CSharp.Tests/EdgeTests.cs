using Sourced.CSharp;
using Sourced.Testing;
using Xunit;

namespace Sourced.CSharp.Tests;

/// The edges of message classes and of the fluent definitions: what is refused, and how clearly.
public class EdgeTests
{
    public record Rename(string? Name);
    public record Renamed(string Name);
    public record Money(decimal Amount, string Currency);
    public record Priced(Money Price);
    public record Order(string Sku, int Quantity = 1);

    [Flags]
    public enum Permission { None = 0, Read = 1, Write = 2 }
    public record Granted(Permission Permission);

    public record Tree(Leaf Child, NoConstructor Broken);
    public record Leaf(Tree? Parent, string Name);
    public class NoConstructor { public NoConstructor(int unrelated) { } public string Name { get; set; } = ""; }

    public class HiddenSetter { public string Name { get; private set; } = ""; }
    public class PublicField { public string Name = ""; }
    public record Envelope<T>(T Value);

    static Actor<int> Counter => new("counter", _ => 0);

    [Fact]
    public async Task A_null_in_a_required_property_is_refused_before_anything_is_stored()
    {
        var store = EventStore.InMemory();
        var renamer = Counter.Decide<Rename>((_, rename) => new Renamed(rename.Name!)).Event<Renamed>();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => renamer.ExecuteAsync(store, "p-1", new Rename(null)));

        Assert.Contains("Renamed.name is null, but it is not optional", error.Message);
        Assert.Empty(await store.ReadStreamAsync("p-1"));
    }

    [Fact]
    public void A_null_nested_record_is_named_too()
    {
        var priced = Counter.Decide<Priced>((_, _) => []);

        var error = Assert.Throws<InvalidOperationException>(() => priced.Command("p-1", new Priced(null!)));

        Assert.Contains("Priced.price is null", error.Message);
    }

    [Fact]
    public void A_class_that_cannot_be_read_back_is_refused_and_leaves_no_broken_shapes_behind()
    {
        var refused = Assert.Throws<ArgumentException>(() => Counter.Decide<Tree>((_, _) => []));
        // Leaf refers to Tree: it is refused for the same reason, not half-built from the failed attempt.
        var again = Assert.Throws<ArgumentException>(() => Counter.Decide<Leaf>((_, _) => []));
        var money = Counter.Decide<Money>((_, _) => []);

        Assert.Contains("NoConstructor can't be a message class", refused.Message);
        Assert.Contains("NoConstructor can't be a message class", again.Message);
        Assert.Equal("""{"amount":1.5,"currency":"EUR"}""", money.Command("m-1", new Money(1.5m, "EUR")).Payload.GetRawText());
    }

    [Fact]
    public void An_optional_constructor_parameter_takes_its_default_when_absent() =>
        Assert.Equal(
            """{"sku":"a","quantity":1}""",
            Counter.Decide<Order>((_, _) => []).ParseCommand("o-1", "counter.order", """{"sku":"a"}""").Payload.GetRawText());

    [Fact]
    public void Data_that_would_not_be_stored_is_refused_naming_the_member()
    {
        var hidden = Assert.Throws<ArgumentException>(() => Counter.Decide<HiddenSetter>((_, _) => []));
        var field = Assert.Throws<ArgumentException>(() => Counter.Decide<PublicField>((_, _) => []));
        var generic = Assert.Throws<ArgumentException>(() => Counter.Decide<Envelope<int>>((_, _) => []));

        Assert.Contains("Name has no public setter and no constructor parameter", hidden.Message);
        Assert.Contains("it has public fields (Name)", field.Message);
        Assert.Contains("is generic: name its stored type with [MessageType", generic.Message);
    }

    [Fact]
    public void Flag_combinations_are_stored_by_name_and_numbers_are_read_only_leniently()
    {
        var granter = Counter.Decide<Granted>((_, _) => []);

        var message = granter.Command("g-1", new Granted(Permission.Read | Permission.Write));
        var lenient = granter.ParseCommand("g-1", "counter.granted", """{"permission":"2"}""");
        var undefined = Assert.Throws<InvalidOperationException>(() => granter.Command("g-1", new Granted((Permission)8)));

        Assert.Equal("""{"permission":"Read, Write"}""", message.Payload.GetRawText());
        Assert.Equal("Write", lenient.Payload.GetProperty("permission").GetString());
        Assert.Contains("8 is not a value of Permission", undefined.Message);
    }

    [Fact]
    public void Reacting_to_or_validating_a_class_before_registering_it_says_what_to_register()
    {
        var reaction = Assert.Throws<ArgumentException>(() => Counter.React<Renamed>((_, _) => []));
        var validation = Assert.Throws<ArgumentException>(() => Counter.Validate<Rename>(_ => []));

        Assert.Contains("can't react to Renamed: register it first with Evolve<Renamed>(...)", reaction.Message);
        Assert.Contains("can't validate Rename: register it first with Decide<Rename>(...)", validation.Message);
    }

    [Fact]
    public void A_scenario_can_check_that_an_invalid_command_is_refused()
    {
        var strict = Counter.Decide<Order>((_, _) => []).Validate<Order>(order =>
            order.Quantity < 1 ? [new FieldError("quantity", "must be at least 1")] : []);

        var invalid = Scenario.For(strict, "o-1").When(new Order("a", 0)).ThenRaises<InvalidMessageException>();

        Assert.Equal("quantity", Assert.Single(invalid.Errors).Field);
    }

    [Fact]
    public void Expecting_another_actors_message_with_Then_fails_the_scenario_with_a_hint()
    {
        var failed = Assert.Throws<ScenarioFailedException>(() =>
            Scenario.For(Flights.Actor, "f-1").When(new Flights.Book("h-1", "Rome", new DateOnly(2026, 1, 2)))
                .Then(new Hotels.Booked("h-1", "x")));

        Assert.Contains("check other messages with ThenProduced", failed.Message);
    }

    [Fact]
    public void A_decision_may_return_a_single_event_or_null()
    {
        var renamer = Counter
            .Decide<Rename>((_, rename) => rename.Name is null ? null : new Renamed(rename.Name))
            .Event<Renamed>();

        Scenario.For(renamer, "p-1").When(new Rename("ada")).Then(new Renamed("ada"));
        Scenario.For(renamer, "p-1").When(new Rename(null)).ThenNothing();
    }
}
