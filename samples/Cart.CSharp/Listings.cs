// A state-stored projector: one listing row per cart, kept in a dictionary standing in for a table,
// and a handler standing in for an email gateway. Both let the app wait for the background work it started.
using System.Collections.Concurrent;
using Sourced.CSharp;

namespace CartSample;

public record Listing(string CartId, int Items, int Total);

public class Listings
{
    readonly ConcurrentDictionary<string, Listing> table = new();
    readonly ConcurrentDictionary<string, TaskCompletionSource<Listing>> waiting = new();

    public Projector<Listing> Projector =>
        Projector<Listing>.StateStored(
                "cart-listings",
                (cartId, _) => Task.FromResult(table.GetValueOrDefault(cartId) ?? new Listing(cartId, 0, 0)),
                (projected, _) =>
                {
                    table[projected.StreamId] = projected.State;
                    Signal(projected.StreamId).TrySetResult(projected.State);
                    return Task.CompletedTask;
                })
            .Evolve<ItemAdded>(Carts.Actor, (listing, added) => listing with
            {
                Items = listing.Items + added.Item.Quantity,
                Total = listing.Total + added.Item.Price * added.Item.Quantity,
            });

    /// The listing of a cart, once the projector has synced it.
    public Task<Listing> WhenListedAsync(string cartId) => Signal(cartId).Task;

    TaskCompletionSource<Listing> Signal(string cartId) =>
        waiting.GetOrAdd(cartId, _ => new(TaskCreationOptions.RunContinuationsAsynchronously));
}

public class AdminEmails
{
    readonly TaskCompletionSource<string> sent = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Handler Handler =>
        new Handler("admin-emails").Run<AdminEmailSent>(Carts.Actor, async (email, envelope, ct) =>
        {
            await Task.Yield(); // an email gateway call would go here
            sent.TrySetResult($"{envelope.StreamId}: product {email.ProductId}");
        });

    public Task<string> WhenSentAsync() => sent.Task;
}
