using CartSample;
using Sourced;
using Sourced.CSharp;
using Sourced.Testing;
using Xunit;

namespace Sourced.CSharp.Tests;

/// The seed's cart, written in C#, through the facade: the same behaviours as the F# cart's tests.
public class CartTests
{
    static readonly Item Book = new("p-123", 1000, 2);

    [Fact]
    public void Adding_an_item_to_an_open_cart_adds_it() =>
        Scenario.For(Carts.Actor, "cart-1")
            .When(new AddItem(Book))
            .Then(new ItemAdded(Book));

    [Fact]
    public void A_closed_cart_refuses_items()
    {
        var closed = Carts.Actor.Evolve<CartClosed>((cart, _) => cart with { Status = "closed" });

        Scenario.For(closed, "cart-1")
            .Given(new CartClosed())
            .When(new AddItem(Book))
            .ThenRejected("cart is not open");
    }

    [Fact]
    public void An_added_item_makes_the_cart_email_the_admin() =>
        Scenario.For(Carts.Actor, "cart-1")
            .Given(new ItemAdded(Book))
            .When(new ItemAdded(Book))
            .Then(new SendAdminEmail("p-123"));

    [Fact]
    public void A_scenario_whose_expectation_fails_says_what_came_out()
    {
        var failed = Assert.Throws<ScenarioFailedException>(() =>
            Scenario.For(Carts.Actor, "cart-1")
                .When(new AddItem(Book))
                .Then(new ItemAdded(Book with { Quantity = 3 })));

        Assert.Contains("\"quantity\":3", failed.Message);
        Assert.Contains("\"quantity\":2", failed.Message);
    }

    [Fact]
    public void An_invalid_command_is_refused_naming_the_stream_the_type_and_the_field()
    {
        var invalid = Assert.Throws<InvalidMessageException>(() =>
            Carts.Actor.Command("cart-2", new AddItem(Book with { Quantity = 0 })));

        Assert.Equal(
            "Invalid 'carts.add_item' message for stream 'cart-2': item.quantity: must be at least 1",
            invalid.Message);
    }

    [Fact]
    public async Task Executing_commands_stores_events_and_loading_folds_them()
    {
        var store = EventStore.InMemory();

        var first = await Carts.Actor.ExecuteAsync(store, "cart-1", new AddItem(Book));
        await Carts.Actor.ExecuteAsync(store, "cart-1", new AddItem(Book with { ProductId = "p-2", Price = 5 }));
        var cart = await Carts.Actor.LoadAsync(store, "cart-1");

        Assert.Equal("carts.item_added", Assert.Single(first.Events).Type);
        Assert.Equal(first.Command.Id, first.Events[0].CausationId);
        Assert.Equal(2, cart.Seq);
        Assert.Equal(2010, cart.State.Total);
        Assert.Equal(["p-123", "p-2"], cart.State.Items.Select(item => item.ProductId));
    }

    [Fact]
    public async Task Deciding_in_memory_stores_nothing()
    {
        var store = EventStore.InMemory();
        var loaded = await Carts.Actor.LoadAsync(store, "cart-1");

        var decided = Carts.Actor.Decide(loaded, new AddItem(Book));

        Assert.Equal(1, decided.Seq);
        Assert.Equal(2000, decided.State.Total);
        Assert.Empty(await store.ReadStreamAsync("cart-1"));
    }

    [Fact]
    public async Task A_dispatched_command_runs_through_the_reaction_chain_with_one_correlation()
    {
        var store = EventStore.InMemory();
        var command = Carts.Actor.Command("cart-1", new AddItem(Book)).WithMetadata("request_id", "req-42");

        await store.DispatchAsync(command);
        await store.DrainAsync([Carts.Actor]);
        var trail = await store.ReadCorrelationAsync(command.CorrelationId);

        Assert.Equal(
            ["carts.add_item", "carts.item_added", "carts.send_admin_email", "carts.admin_email_sent"],
            trail.Select(message => message.Type));
        Assert.All(trail, message => Assert.Equal("req-42", message.MetadataString("request_id")));
        Assert.Equal("carts", trail[2].MetadataString("producer"));
    }

    [Fact]
    public void Payloads_are_camel_case_json_and_types_snake_case_under_the_actor_name()
    {
        var message = Carts.Actor.Command("cart-1", new AddItem(Book));

        Assert.Equal("carts.add_item", message.Type);
        Assert.Equal("""{"item":{"productId":"p-123","price":1000,"quantity":2}}""", message.Payload.GetRawText());
    }

    [Fact]
    public void A_decided_event_of_an_unregistered_class_is_a_clear_error()
    {
        var forgetful = new Actor<int>("forgetful", _ => 0).Decide<AddItem>((_, _) => [new ItemAdded(Book)]);

        var error = Assert.Throws<InvalidOperationException>(() =>
            forgetful.Decide(new Loaded<int>("f-1", 0, 0), new AddItem(Book)));

        Assert.Contains("Evolve<ItemAdded>", error.Message);
    }

    [Fact]
    public void Deciding_the_same_command_class_twice_is_refused_at_definition()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            Carts.Actor.Decide<AddItem>((_, _) => []));

        Assert.Contains("'carts' already has a Decide for AddItem", error.Message);
    }

    record CartClosed;
}
