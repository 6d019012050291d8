using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Sourced.Hosting;
using Xunit;

namespace Sourced.CSharp.Tests.Hosting;

/// What the runtime reports reaches ILogger under "Sourced.Runtime", with the documented event ids and levels.
[Collection(PostgresCollection.Name)]
public class LoggingTests(PostgresServer server)
{
    [Theory]
    [InlineData(StoreKind.Memory)]
    [InlineData(StoreKind.Postgres)]
    public async Task The_runtime_logs_start_batches_and_stop_with_their_event_ids(StoreKind store)
    {
        var counts = new Counts();
        await using var host = await TestHost.StartAsync(store, server,
            sourced => sourced.Add(Shop.Baskets).Add(Shop.Counter(counts)));

        await host.EventStore.DispatchAsync(Shop.Add("basket-1"));
        var batch = await host.Logs.WaitForAsync(e =>
            e.EventId.Id == SourcedEventIds.BatchCompleted && e.Message.Contains(Shop.ProjectorGroup));
        await host.Host.StopAsync();

        var started = Assert.Single(host.Logs.WithId(SourcedEventIds.RuntimeStarted));
        Assert.Equal(("Sourced.Runtime", LogLevel.Information, "RuntimeStarted"),
            (started.Category, started.Level, started.EventId.Name));
        Assert.Contains("started 2 workers", started.Message);
        Assert.Equal(LogLevel.Debug, batch.Level);
        Assert.Equal($"Consumer group {Shop.ProjectorGroup} processed 1 messages of stream basket-1", batch.Message);
        Assert.Equal(LogLevel.Information, Assert.Single(host.Logs.WithId(SourcedEventIds.RuntimeStopping)).Level);
        Assert.Equal(LogLevel.Information, Assert.Single(host.Logs.WithId(SourcedEventIds.RuntimeStopped)).Level);
        var ids = host.Logs.Entries.Where(e => e.Category == "Sourced.Runtime").Select(e => e.EventId.Id).ToList();
        Assert.True(ids.IndexOf(SourcedEventIds.RuntimeStopping) < ids.IndexOf(SourcedEventIds.RuntimeStopped));
        Assert.Equal(store == StoreKind.Postgres ? 1 : 0, host.Logs.WithId(SourcedEventIds.SchemaInstalled).Count);
    }

    [Theory]
    [InlineData(StoreKind.Memory)]
    [InlineData(StoreKind.Postgres)]
    public async Task A_stopped_group_is_logged_as_an_error_with_the_exception(StoreKind store)
    {
        await using var host = await TestHost.StartAsync(store, server,
            sourced => sourced.Add(Shop.Baskets).Add(Shop.Counter(new Counts())));

        await host.EventStore.DispatchAsync(Shop.Add("basket-1", Shop.Poison));
        var stopped = await host.Logs.WaitForAsync(SourcedEventIds.GroupStopped);

        Assert.Equal(("Sourced.Runtime", LogLevel.Error), (stopped.Category, stopped.Level));
        Assert.Equal(
            $"Consumer group {Shop.ProjectorGroup} stopped after failing on baskets.item_added of stream basket-1 (attempt 1)",
            stopped.Message);
        Assert.Equal("the poison product", stopped.Exception?.Message);
        await host.Host.StopAsync();
    }

    [Fact]
    public void The_documented_event_ids_are_stable()
    {
        Assert.Equal(
            [5000, 5001, 5002, 5010, 5011, 5012, 5013, 5014, 5020, 5021, 5030, 5100, 5101],
            new[]
            {
                SourcedEventIds.RuntimeStarted, SourcedEventIds.RuntimeStopping, SourcedEventIds.RuntimeStopped,
                SourcedEventIds.BatchCompleted, SourcedEventIds.Conflicted, SourcedEventIds.ClaimLost,
                SourcedEventIds.Retrying, SourcedEventIds.GroupStopped, SourcedEventIds.Promoted,
                SourcedEventIds.Reclaimed, SourcedEventIds.Trouble, SourcedEventIds.SchemaInstalled,
                SourcedEventIds.NoReactors,
            });
    }
}
