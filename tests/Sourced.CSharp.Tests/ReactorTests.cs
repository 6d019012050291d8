using System.Collections.Concurrent;
using CartSample;
using Sourced.CSharp;
using Xunit;

namespace Sourced.CSharp.Tests;

/// Projectors, handlers and background workers defined in C#.
public class ReactorTests
{
    static readonly Item Book = new("p-123", 1000, 2);

    record Listing(int Items, int Total);

    static Projector<Listing> ListingsInto(ConcurrentDictionary<string, Listing> table) =>
        Projector<Listing>.EventSourced("listings", _ => new Listing(0, 0), (projected, _) =>
            {
                table[projected.StreamId] = projected.State;
                return Task.CompletedTask;
            })
            .Evolve<ItemAdded>(Carts.Actor, (listing, added) =>
                new Listing(listing.Items + added.Item.Quantity, listing.Total + added.Item.Price * added.Item.Quantity));

    [Fact]
    public async Task An_event_sourced_projector_syncs_the_state_of_each_stream()
    {
        var store = EventStore.InMemory();
        var table = new ConcurrentDictionary<string, Listing>();
        await Carts.Actor.ExecuteAsync(store, "cart-1", new AddItem(Book));
        await Carts.Actor.ExecuteAsync(store, "cart-1", new AddItem(Book with { Quantity = 1 }));
        await Carts.Actor.ExecuteAsync(store, "cart-2", new AddItem(Book with { Price = 7 }));

        await store.DrainAsync([ListingsInto(table)]);

        Assert.Equal(new Listing(3, 3000), table["cart-1"]);
        Assert.Equal(new Listing(2, 14), table["cart-2"]);
    }

    [Fact]
    public void A_projector_scenario_runs_its_sync()
    {
        var table = new ConcurrentDictionary<string, Listing>();

        Scenario.For(ListingsInto(table), "cart-1")
            .Given(new ItemAdded(Book))
            .When(new ItemAdded(Book with { Quantity = 1 }))
            .ThenSynced();

        Assert.Equal(new Listing(3, 3000), table["cart-1"]);
    }

    [Fact]
    public async Task A_state_stored_projector_loads_its_state_and_saves_it_back()
    {
        var store = EventStore.InMemory();
        var saved = new ConcurrentDictionary<string, int>();
        saved["cart-1"] = 100;
        var counter = Projector<int>.StateStored(
                "item-counts",
                (streamId, _) => Task.FromResult(saved.GetValueOrDefault(streamId)),
                (projected, _) =>
                {
                    saved[projected.StreamId] = projected.State;
                    return Task.CompletedTask;
                })
            .Evolve<ItemAdded>(Carts.Actor, (count, added) => count + added.Item.Quantity);
        await Carts.Actor.ExecuteAsync(store, "cart-1", new AddItem(Book));

        await store.DrainAsync([counter]);

        Assert.Equal(102, saved["cart-1"]);
    }

    [Fact]
    public async Task A_handler_runs_for_another_actors_events_and_sends_commands_to_actors()
    {
        var store = EventStore.InMemory();
        var emailed = new ConcurrentQueue<string>();
        var notifier = new Handler("notifier")
            .On<AdminEmailSent>(Carts.Actor, async (sent, envelope, ct) =>
            {
                await Task.Yield();
                emailed.Enqueue($"{envelope.StreamId}:{sent.ProductId}");
            })
            .On<ItemAdded>(Carts.Actor, (added, envelope) =>
                added.Item.Quantity > 1
                    ? [Dispatch.ToActor(Carts.Actor, new SendAdminEmail("bulk-" + added.Item.ProductId)).ToStream(envelope.StreamId)]
                    : []);
        var command = Carts.Actor.Command("cart-1", new AddItem(Book));

        await store.DispatchAsync(command);
        await store.DrainAsync([Carts.Actor, notifier]);
        var stream = await store.ReadStreamAsync("cart-1");

        Assert.Equal(["cart-1:bulk-p-123", "cart-1:p-123"], emailed.Order());
        Assert.Contains(stream, message => message.Type == "carts.send_admin_email" && message.MetadataString("producer") == "notifier");
    }

    [Fact]
    public async Task A_projector_or_handler_that_sends_an_own_command_fails_with_a_clear_error()
    {
        var store = EventStore.InMemory();
        var confused = new Handler("confused").On<ItemAdded>(Carts.Actor, (_, _) => [Dispatch.Command(new SendAdminEmail("x"))]);
        await Carts.Actor.ExecuteAsync(store, "cart-1", new AddItem(Book));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => store.DrainAsync([confused]));

        Assert.Contains("The handler 'confused' sent Dispatch.Command(SendAdminEmail)", error.Message);
        Assert.Contains("use Dispatch.ToActor(actor, command)", error.Message);
    }

    [Fact]
    public async Task Workers_process_dispatched_commands_in_the_background_until_stopped()
    {
        var store = EventStore.InMemory();
        var table = new ConcurrentDictionary<string, Listing>();
        var seen = new TaskCompletionSource();
        var listings = Projector<Listing>.EventSourced("listings", _ => new Listing(0, 0), (projected, _) =>
            {
                table[projected.StreamId] = projected.State;
                if (projected.State.Items == 4) seen.TrySetResult();
                return Task.CompletedTask;
            })
            .Evolve<ItemAdded>(Carts.Actor, (listing, added) => listing with { Items = listing.Items + added.Item.Quantity });
        await using var workers = new Workers(store, [Carts.Actor, listings]);

        await workers.StartAsync();
        await store.DispatchAsync(Carts.Actor.Command("cart-1", new AddItem(Book)));
        await store.DispatchAsync(Carts.Actor.Command("cart-1", new AddItem(Book)));
        await seen.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await workers.StopAsync();

        Assert.Equal(4, table["cart-1"].Items);
    }
}
