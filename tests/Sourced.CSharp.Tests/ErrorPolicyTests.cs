using CartSample;
using Sourced.CSharp;
using Xunit;

namespace Sourced.CSharp.Tests;

/// What workers do when a C# reactor fails.
public class ErrorPolicyTests
{
    static readonly Item Book = new("p-123", 1000, 2);

    [Fact]
    public async Task A_failing_handler_is_retried_with_its_policy_until_it_succeeds()
    {
        var store = EventStore.InMemory();
        var calls = 0;
        var retries = new List<int>();
        var done = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var flaky = new Handler("flaky").On<ItemAdded>(Carts.Actor, (_, _) =>
        {
            if (Interlocked.Increment(ref calls) < 3) throw new TimeoutException("gateway timed out");
            done.TrySetResult(calls);
            return [];
        });
        var policy = ErrorPolicy.Retry(5, TimeSpan.FromMilliseconds(10))
            .OnRetry((failure, _) => { lock (retries) retries.Add(failure.Attempt); });
        await Carts.Actor.ExecuteAsync(store, "cart-1", new AddItem(Book));
        await using var workers = new Workers(store, [flaky], 1, policy);

        await workers.StartAsync();
        var succeededAt = await done.Task.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(3, succeededAt);
        lock (retries) Assert.Equal([1, 2], retries);
    }

    [Fact]
    public async Task By_default_a_failing_group_stops_and_reports_the_message_and_the_error()
    {
        var store = EventStore.InMemory();
        var stopped = new TaskCompletionSource<FailureInfo>(TaskCreationOptions.RunContinuationsAsynchronously);
        var broken = new Handler("broken").On<ItemAdded>(Carts.Actor, (_, _) => throw new InvalidOperationException("no mail server"));
        await Carts.Actor.ExecuteAsync(store, "cart-1", new AddItem(Book));
        await using var workers = new Workers(store, [broken], 1, ErrorPolicy.Stop.OnStop(stopped.SetResult));

        await workers.StartAsync();
        var failure = await stopped.Task.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(("broken", "carts.item_added", "cart-1", 1), (failure.Group, failure.Message.Type, failure.Message.StreamId, failure.Attempt));
        Assert.Equal("no mail server", failure.Error.Message);
    }
}
