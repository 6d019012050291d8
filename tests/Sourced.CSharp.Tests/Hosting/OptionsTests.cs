using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Sourced.Hosting;
using Xunit;

namespace Sourced.CSharp.Tests.Hosting;

/// SourcedOptions: bound from the "Sourced" configuration section, changed in code, checked at start.
[Collection(PostgresCollection.Name)]
public class OptionsTests(PostgresServer server)
{
    static Dictionary<string, string?> Settings(params (string Key, string Value)[] pairs) =>
        pairs.ToDictionary(p => p.Key, string? (p) => p.Value);

    [Fact]
    public async Task Options_are_bound_from_the_Sourced_configuration_section_and_reach_the_runtime()
    {
        await using var host = TestHost.Build(StoreKind.Memory, server, sourced => sourced.Add(Shop.Baskets),
            Settings(("Sourced:Workers", "3"), ("Sourced:BatchSize", "7"), ("Sourced:StreamsPerClaim", "4"),
                ("Sourced:CatchUpInterval", "00:00:02"),
                ("Sourced:StaleAfter", "00:00:30"), ("Sourced:Name", "node-a"), ("Sourced:LagDegradedAbove", "5")));

        var runtime = host.Services.GetRequiredService<Runtime>();

        Assert.Equal(3, runtime.Options.Workers);
        Assert.Equal(7, runtime.Options.BatchSize);
        Assert.Equal(4, runtime.Options.StreamsPerClaim);
        Assert.Equal(TimeSpan.FromSeconds(2), runtime.Options.CatchUpInterval);
        Assert.Equal(TimeSpan.FromSeconds(30), runtime.Options.StaleAfter);
        Assert.Equal(["node-a-worker-1", "node-a-worker-2", "node-a-worker-3"], runtime.WorkerNames);
        Assert.Equal(5L, host.Services.GetRequiredService<IOptions<SourcedOptions>>().Value.LagDegradedAbove);
    }

    [Fact]
    public async Task Code_changes_options_after_configuration()
    {
        await using var host = TestHost.Build(StoreKind.Memory, server,
            sourced => sourced.Add(Shop.Baskets).Configure(o => o.Workers = 5),
            Settings(("Sourced:Workers", "3"), ("Sourced:BatchSize", "7")));

        var runtime = host.Services.GetRequiredService<Runtime>();

        Assert.Equal(5, runtime.Options.Workers);
        Assert.Equal(7, runtime.Options.BatchSize);
    }

    [Fact]
    public async Task Invalid_options_fail_the_start_naming_each_setting_its_value_and_what_is_allowed()
    {
        await using var host = TestHost.Build(StoreKind.Memory, server, sourced => sourced.Add(Shop.Baskets),
            Settings(("Sourced:Workers", "0"), ("Sourced:StaleAfter", "00:00:01"), ("Sourced:PromoteInterval", "00:00:00"),
                ("Sourced:StreamsPerClaim", "0")));

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.Host.StartAsync());

        Assert.Contains("Sourced:Workers is 0: it must be at least 1.", error.Message);
        Assert.Contains("Sourced:StreamsPerClaim is 0: it must be at least 1.", error.Message);
        Assert.Contains("Sourced:PromoteInterval is 00:00:00: it must be a positive time span", error.Message);
        Assert.Contains(
            "Sourced:StaleAfter is 00:00:01: it must be longer than Sourced:HeartbeatInterval (00:00:02)", error.Message);
        Assert.Equal(4, error.Failures.Count());
    }

    [Fact]
    public async Task An_unknown_setting_is_an_error_not_a_silent_default()
    {
        await using var host = TestHost.Build(StoreKind.Memory, server, sourced => sourced.Add(Shop.Baskets),
            Settings(("Sourced:Wokers", "3")));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.Host.StartAsync());

        Assert.Contains("'Wokers'", error.Message);
    }

    [Fact]
    public async Task A_value_of_the_wrong_type_names_its_setting()
    {
        await using var host = TestHost.Build(StoreKind.Memory, server, sourced => sourced.Add(Shop.Baskets),
            Settings(("Sourced:Workers", "many")));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.Host.StartAsync());

        Assert.Contains("Sourced:Workers", error.Message);
    }

    [Fact]
    public async Task The_PostgreSQL_store_without_a_connection_string_fails_the_start_saying_where_to_set_one()
    {
        await using var host = TestHost.Build(StoreKind.Memory, server, sourced => sourced.UsePostgres(),
            Settings(("Sourced:Schema", "Not-An-Identifier")));

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.Host.StartAsync());

        Assert.Contains("Sourced:Store is Postgres but there is no connection string: set Sourced:ConnectionString or " +
                        "ConnectionStrings:Sourced", error.Message);
        Assert.Contains("The schema 'Not-An-Identifier' is not a plain identifier", error.Message);
    }

    [Fact]
    public async Task A_connection_string_with_the_memory_store_is_refused()
    {
        await using var host = TestHost.Build(StoreKind.Memory, server, sourced => sourced.Add(Shop.Baskets),
            Settings(("Sourced:ConnectionString", "Host=localhost")));

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.Host.StartAsync());

        Assert.Contains("Sourced:ConnectionString is set but Sourced:Store is Memory", error.Message);
    }

    [Fact]
    public async Task A_store_name_that_no_package_added_fails_the_start_listing_the_stores_there_are()
    {
        await using var host = TestHost.Build(StoreKind.Memory, server, sourced => sourced.Add(Shop.Baskets),
            Settings(("Sourced:Store", "Postgres"), ("ConnectionStrings:Sourced", server.ConnectionString)));

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.Host.StartAsync());

        Assert.Contains("Sourced:Store is 'Postgres': it must be one of Memory (a store package adds its name", error.Message);
    }

    [Fact]
    public void The_hosting_defaults_of_the_PostgreSQL_settings_are_the_store_s_own()
    {
        var hosting = new SourcedOptions();
        var store = Sourced.Postgres.PostgresOptionsModule.defaults;

        Assert.Equal(store.Schema, hosting.Schema);
        Assert.Equal(store.Prefix, hosting.Prefix);
        Assert.Equal(store.DiscoveryBatch, hosting.DiscoveryBatch);
        Assert.Equal(store.DiscoveryWait, hosting.DiscoveryWait);
        Assert.Equal(store.PrepareStatements, hosting.PrepareStatements);
    }

    [Fact]
    public async Task The_PostgreSQL_store_is_chosen_and_installed_from_configuration_alone()
    {
        var schema = server.FreshSchema();
        var counts = new Counts();
        try
        {
            await using var host = TestHost.Build(StoreKind.Memory, server,
                sourced => sourced.AddPostgres().Add(Shop.Baskets).Add(Shop.Counter(counts)),
                Settings(("Sourced:Store", "Postgres"), ("ConnectionStrings:Sourced", server.ConnectionString),
                    ("Sourced:Schema", schema), ("Sourced:Prefix", "shop")));
            await host.Host.StartAsync();

            await host.EventStore.DispatchAsync(Shop.Add("basket-1"));

            await counts.ReachedAsync("basket-1", 1);
            Assert.IsType<Sourced.Postgres.PostgresStore>(host.Services.GetRequiredService<IMessageStore>());
            var installed = Assert.Single(host.Logs.WithId(SourcedEventIds.SchemaInstalled));
            Assert.Contains($"Sourced schema {schema} (table prefix shop)", installed.Message);
            await host.Host.StopAsync();
        }
        finally
        {
            await server.DropSchemaAsync(schema);
        }
    }

    [Fact]
    public async Task Without_InstallSchema_an_empty_schema_fails_the_start_with_a_clear_message()
    {
        await using var host = TestHost.Build(StoreKind.Postgres, server, sourced => sourced.Add(Shop.Baskets),
            Settings(("Sourced:InstallSchema", "false")));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => host.Host.StartAsync());

        Assert.Contains("has no Sourced tables (prefix 'sourced') at this version, and Sourced:InstallSchema is false",
            error.Message);
    }
}
