using System.Collections.Concurrent;

namespace Sourced.CSharp.Tests.Hosting;

public record AddItem(string ProductId, int Price, int Quantity);

public record ItemAdded(string ProductId, int Price, int Quantity);

public record Basket(string Id, int Count);

/// The hosting tests' domain: baskets that count their items, and a projector whose sync a test can watch,
/// hold (a batch in flight) or make fail.
public static class Shop
{
    /// The product id that makes the projector's sync throw.
    public const string Poison = "poison";

    public const string ProjectorGroup = "basket-counts";

    public static readonly Actor<Basket> Baskets = new Actor<Basket>("baskets", id => new Basket(id, 0))
        .Decide<AddItem>((_, add) => [new ItemAdded(add.ProductId, add.Price, add.Quantity)])
        .Evolve<ItemAdded>((basket, _) => basket with { Count = basket.Count + 1 });

    public static Envelope Add(string basketId, string productId = "p-1") =>
        Baskets.Command(basketId, new AddItem(productId, 10, 1));

    /// Counts the items of each basket in `counts`; holds each batch at `gate` when there is one.
    public static Projector<int> Counter(Counts counts, Gate? gate = null) =>
        Projector<int>.EventSourced(ProjectorGroup, _ => 0, async (projected, _) =>
            {
                if (projected.Events.Any(e => e.Payload.GetProperty("productId").GetString() == Poison))
                    throw new InvalidOperationException("the poison product");
                if (gate is not null) await gate.PassAsync();
                counts.Set(projected.StreamId, projected.State);
            })
            .Evolve<ItemAdded>(Baskets, (count, _) => count + 1);

    public const string HandlerGroup = "basket-watchers";

    /// A handler that holds each message at `gate` (outside any store transaction).
    public static Handler Watcher(Gate gate) =>
        new Handler(HandlerGroup).Run<ItemAdded>(Baskets, async (_, _, _) => await gate.PassAsync());
}

/// The projected counts, with a wait for a count to be reached.
public sealed class Counts
{
    readonly ConcurrentDictionary<string, int> counts = new();
    readonly ConcurrentDictionary<(string, int), TaskCompletionSource> reached = new();

    public int this[string streamId] => counts.GetValueOrDefault(streamId);

    public void Set(string streamId, int count)
    {
        counts[streamId] = count;
        Signal(streamId, count).TrySetResult();
    }

    TaskCompletionSource Signal(string streamId, int count) =>
        reached.GetOrAdd((streamId, count), _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    public Task ReachedAsync(string streamId, int count) =>
        Signal(streamId, count).Task.WaitAsync(TimeSpan.FromSeconds(30));
}

/// Holds batches in flight until released; tells when one has entered and when it has finished.
public sealed class Gate
{
    readonly TaskCompletionSource entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly TaskCompletionSource released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool Finished { get; private set; }

    public Task Entered => entered.Task.WaitAsync(TimeSpan.FromSeconds(30));

    public void Release() => released.TrySetResult();

    public async Task PassAsync()
    {
        entered.TrySetResult();
        await released.Task;
        Finished = true;
    }
}
