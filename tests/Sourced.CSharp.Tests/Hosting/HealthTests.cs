using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Sourced.Hosting;
using Xunit;

namespace Sourced.CSharp.Tests.Hosting;

/// The Sourced health check: the store's reachability and each consumer group's status and lag.
[Collection(PostgresCollection.Name)]
public class HealthTests(PostgresServer server)
{
    [Theory]
    [InlineData(StoreKind.Memory)]
    [InlineData(StoreKind.Postgres)]
    public async Task Healthy_while_groups_run_then_Unhealthy_naming_the_stopped_group_and_its_error(StoreKind store)
    {
        var counts = new Counts();
        await using var host = await TestHost.StartAsync(store, server,
            sourced => sourced.Add(Shop.Baskets).Add(Shop.Counter(counts)));
        await host.EventStore.DispatchAsync(Shop.Add("basket-1"));
        await counts.ReachedAsync("basket-1", 1);
        await host.Logs.WaitForAsync(e =>
            e.EventId.Id == SourcedEventIds.BatchCompleted && e.Message.Contains(Shop.ProjectorGroup));

        var healthy = await host.HealthAsync();

        Assert.Equal(HealthStatus.Healthy, healthy.Status);
        Assert.Equal("2 consumer groups active.", healthy.Entries["sourced"].Description);
        Assert.Equal("active", TestHost.Figures(healthy, Shop.ProjectorGroup)["status"]);

        await host.EventStore.DispatchAsync(Shop.Add("basket-2", Shop.Poison));
        await host.Logs.WaitForAsync(SourcedEventIds.GroupStopped);
        var unhealthy = await host.HealthAsync();

        Assert.Equal(HealthStatus.Unhealthy, unhealthy.Status);
        Assert.Equal(
            $"Consumer groups stopped: '{Shop.ProjectorGroup}' is stopped: " +
            "System.InvalidOperationException: the poison product.",
            unhealthy.Entries["sourced"].Description);
        var figures = TestHost.Figures(unhealthy, Shop.ProjectorGroup);
        Assert.Equal("stopped", figures["status"]);
        Assert.Equal(1L, figures["lag"]);
        Assert.Equal("active", TestHost.Figures(unhealthy, "baskets")["status"]);
        await host.Host.StopAsync();
    }

    [Theory]
    [InlineData(StoreKind.Memory)]
    [InlineData(StoreKind.Postgres)]
    public async Task Degraded_while_a_group_has_more_messages_waiting_than_LagDegradedAbove(StoreKind store)
    {
        var gate = new Gate();
        await using var host = await TestHost.StartAsync(store, server,
            sourced => sourced.Add(Shop.Baskets).Add(Shop.Watcher(gate)).Configure(o => o.LagDegradedAbove = 0));

        await host.EventStore.DispatchAsync(Shop.Add("basket-1"));
        await gate.Entered;
        var degraded = await host.HealthAsync();
        gate.Release();
        await host.Logs.WaitForAsync(e =>
            e.EventId.Id == SourcedEventIds.BatchCompleted && e.Message.Contains(Shop.HandlerGroup));
        var healthy = await host.HealthAsync();

        Assert.Equal(HealthStatus.Degraded, degraded.Status);
        Assert.Equal($"Consumer groups with more than 0 messages waiting: '{Shop.HandlerGroup}'.",
            degraded.Entries["sourced"].Description);
        Assert.Equal(1L, TestHost.Figures(degraded, Shop.HandlerGroup)["lag"]);
        Assert.Equal(HealthStatus.Healthy, healthy.Status);
        await host.Host.StopAsync();
    }

    [Fact]
    public async Task A_stopped_group_reports_the_failure_status_given_to_the_check()
    {
        var services = new ServiceCollection().AddLogging()
            .AddSourced(sourced => sourced.Add(Shop.Baskets).Add(Shop.Counter(new Counts())));
        services.AddHealthChecks().AddSourced(name: "events", failureStatus: HealthStatus.Degraded, tags: ["ready"]);
        await using var provider = services.BuildServiceProvider();
        var runtime = provider.GetRequiredService<Runtime>();
        await runtime.StartAsync(CancellationToken.None);
        await runtime.StopGroupAsync(Shop.ProjectorGroup, "paused by an operator", CancellationToken.None);

        var report = await provider.GetRequiredService<HealthCheckService>().CheckHealthAsync();

        var entry = report.Entries["events"];
        Assert.Equal(HealthStatus.Degraded, entry.Status);
        Assert.Equal($"Consumer groups stopped: '{Shop.ProjectorGroup}' is stopped: paused by an operator.",
            entry.Description);
        Assert.Equal(["ready"], entry.Tags);
        await runtime.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Unhealthy_when_the_store_cannot_be_reached()
    {
        var port = FreePort();
        await using var host = TestHost.Build(StoreKind.Memory, server,
            sourced => sourced.Add(Shop.Baskets).UsePostgres($"Host=127.0.0.1;Port={port};Username=postgres"));

        var report = await host.HealthAsync();

        var entry = report.Entries["sourced"];
        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.StartsWith("The message store could not be reached: ", entry.Description);
        Assert.NotNull(entry.Exception);
    }

    [Fact]
    public async Task Unhealthy_after_HealthTimeout_when_the_store_does_not_answer()
    {
        // A listener that accepts connections and never says a word.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var port = ((IPEndPoint)silent.LocalEndpoint).Port;
        await using var host = TestHost.Build(StoreKind.Memory, server,
            sourced => sourced.Add(Shop.Baskets)
                .UsePostgres($"Host=127.0.0.1;Port={port};Username=postgres;Timeout=60")
                .Configure(o => o.HealthTimeout = TimeSpan.FromMilliseconds(300)));

        var clock = Stopwatch.StartNew();
        var report = await host.HealthAsync();

        var entry = report.Entries["sourced"];
        Assert.Equal(HealthStatus.Unhealthy, entry.Status);
        Assert.Equal("The message store did not answer within 00:00:00.3000000.", entry.Description);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"the check took {clock.Elapsed}");
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
