using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Sourced.Hosting;
using Xunit;

namespace Sourced.CSharp.Tests.Hosting;

/// A generic host with AddSourced: commands in through the injected EventStore, projections out, clean stops.
[Collection(PostgresCollection.Name)]
public class LifecycleTests(PostgresServer server)
{
    [Theory]
    [InlineData(StoreKind.Memory)]
    [InlineData(StoreKind.Postgres)]
    public async Task Commands_dispatched_through_the_injected_EventStore_reach_the_projection_and_the_host_stops_cleanly(
        StoreKind store)
    {
        var counts = new Counts();
        await using var host = await TestHost.StartAsync(store, server,
            sourced => sourced.Add(Shop.Baskets).Add(Shop.Counter(counts)));

        await host.EventStore.DispatchAsync(Shop.Add("basket-1"));
        await host.EventStore.DispatchAsync(Shop.Add("basket-1"));
        await host.EventStore.DispatchAsync(Shop.Add("basket-2"));

        await counts.ReachedAsync("basket-1", 2);
        await counts.ReachedAsync("basket-2", 1);
        var events = await host.EventStore.ReadStreamAsync("basket-1");
        Assert.Equal(["baskets.add_item", "baskets.add_item", "baskets.item_added", "baskets.item_added"],
            events.Select(e => e.Type).Order());

        await host.Host.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Single(host.Logs.WithId(SourcedEventIds.RuntimeStopped));
        Assert.IsType(store == StoreKind.Memory ? typeof(MemoryStore) : typeof(Sourced.Postgres.PostgresStore),
            host.Services.GetRequiredService<IMessageStore>());
    }

    [Theory]
    [InlineData(StoreKind.Memory)]
    [InlineData(StoreKind.Postgres)]
    public async Task A_batch_in_flight_when_the_application_stops_is_completed_before_the_host_stops(StoreKind store)
    {
        var counts = new Counts();
        var gate = new Gate();
        await using var host = await TestHost.StartAsync(store, server,
            sourced => sourced.Add(Shop.Baskets).Add(Shop.Counter(counts, gate)));
        // What SIGTERM and Ctrl+C do: the console lifetime calls StopApplication, and the host then stops.
        var shutdown = host.Host.WaitForShutdownAsync();

        await host.EventStore.DispatchAsync(Shop.Add("basket-1"));
        await gate.Entered;
        host.Services.GetRequiredService<IHostApplicationLifetime>().StopApplication();
        await host.Logs.WaitForAsync(SourcedEventIds.RuntimeStopping);

        // NOTE: not a synchronisation: a host that does not wait for the batch gets this long to show it.
        await Task.WhenAny(shutdown, Task.Delay(TimeSpan.FromMilliseconds(500)));
        Assert.False(shutdown.IsCompleted, "the host stopped while a batch was in flight");
        Assert.False(gate.Finished);
        gate.Release();
        await shutdown.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(gate.Finished);
        Assert.Equal(1, counts["basket-1"]);
        var report = await host.HealthAsync();
        Assert.Equal(0L, TestHost.Figures(report, Shop.ProjectorGroup)["lag"]);
    }

    [Fact]
    public async Task A_host_without_reactors_dispatches_through_AddEventStore_and_logs_that_no_worker_runs()
    {
        await using var host = await TestHost.StartAsync(StoreKind.Memory, server, sourced => sourced.AddEventStore());

        var stored = await host.EventStore.DispatchAsync(Shop.Add("basket-1"));

        Assert.Equal(1L, stored.Seq);
        var warning = Assert.Single(host.Logs.WithId(SourcedEventIds.NoReactors));
        Assert.Equal("Sourced.Hosting", warning.Category);
        Assert.Empty(host.Logs.WithId(SourcedEventIds.RuntimeStarted));
        Assert.Equal(HealthStatus.Healthy, (await host.HealthAsync()).Status);
        await host.Host.StopAsync();
    }

    [Theory]
    [InlineData(StoreKind.Memory)]
    [InlineData(StoreKind.Postgres)]
    public async Task A_host_can_be_disposed_synchronously_as_with_using_var(StoreKind store)
    {
        await using var host = await TestHost.StartAsync(store, server, sourced => sourced.Add(Shop.Baskets));
        await host.Host.StopAsync();

        host.Host.Dispose();

        Assert.Throws<ObjectDisposedException>(() => host.Services.GetService<EventStore>());
    }

    [Fact]
    public void A_bare_service_provider_with_a_PostgreSQL_store_can_be_disposed_synchronously()
    {
        var provider = new ServiceCollection()
            .AddLogging()
            .AddSourced(sourced => sourced.UsePostgres(server.ConnectionString).Add(Shop.Baskets))
            .BuildServiceProvider();
        _ = provider.GetRequiredService<EventStore>();

        provider.Dispose();

        Assert.Throws<ObjectDisposedException>(() => provider.GetService<EventStore>());
    }

    [Fact]
    public async Task A_PostgreSQL_store_that_cannot_be_reached_fails_the_start()
    {
        using var closed = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        closed.Start();
        var port = ((System.Net.IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        await using var host = TestHost.Build(StoreKind.Memory, server,
            sourced => sourced.Add(Shop.Baskets).UsePostgres($"Host=127.0.0.1;Port={port};Username=postgres"));

        var error = await Assert.ThrowsAnyAsync<Npgsql.NpgsqlException>(() => host.Host.StartAsync());

        Assert.Contains("Failed to connect", error.Message);
    }

    [Fact]
    public void AddSourced_twice_is_refused()
    {
        var services = new ServiceCollection().AddSourced(sourced => sourced.Add(Shop.Baskets));

        var error = Assert.Throws<InvalidOperationException>(() => services.AddSourced(_ => { }));

        Assert.Contains("AddSourced was already called", error.Message);
    }

    [Fact]
    public async Task Reactors_can_be_made_from_services_when_the_host_starts()
    {
        var counts = new Counts();
        await using var host = TestHost.Build(StoreKind.Memory, server,
            sourced => sourced.Add(Shop.Baskets).Add(provider => Shop.Counter(provider.GetRequiredService<Counts>())),
            services: services => services.AddSingleton(counts));
        await host.Host.StartAsync();

        await host.EventStore.DispatchAsync(Shop.Add("basket-1"));

        await counts.ReachedAsync("basket-1", 1);
        await host.Host.StopAsync();
    }
}
