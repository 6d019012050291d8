using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sourced.Hosting;

namespace Sourced.CSharp.Tests.Hosting;

/// The store a test host runs on.
public enum StoreKind { Memory, Postgres }

/// A generic host with AddSourced on one store (memory, or PostgreSQL in a schema of its own), its logs
/// captured; disposing it disposes the host and drops the schema.
public sealed class TestHost : IAsyncDisposable
{
    readonly PostgresServer? server;
    readonly string? schema;

    TestHost(IHost host, TestLogs logs, PostgresServer? server, string? schema)
    {
        Host = host;
        Logs = logs;
        this.server = server;
        this.schema = schema;
    }

    public IHost Host { get; }
    public TestLogs Logs { get; }
    public IServiceProvider Services => Host.Services;
    public EventStore EventStore => Services.GetRequiredService<EventStore>();

    /// Builds (does not start) a host. `settings`: in-memory configuration; `configure`: more AddSourced calls.
    public static TestHost Build(StoreKind store, PostgresServer server, Action<SourcedBuilder>? configure = null,
        IDictionary<string, string?>? settings = null, Action<IServiceCollection>? services = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(
            new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings ?? new Dictionary<string, string?>());
        var logs = new TestLogs();
        builder.Logging.AddProvider(logs).SetMinimumLevel(LogLevel.Debug);
        services?.Invoke(builder.Services);
        string? schema = null;
        builder.Services.AddSourced(sourced =>
        {
            if (store == StoreKind.Postgres)
            {
                schema = server.FreshSchema();
                var chosen = schema;
                sourced.UsePostgres(server.ConnectionString).Configure(o => o.Schema = chosen);
            }

            configure?.Invoke(sourced);
        });
        builder.Services.AddHealthChecks().AddSourced();
        return new TestHost(builder.Build(), logs, store == StoreKind.Postgres ? server : null, schema);
    }

    /// Builds and starts a host.
    public static async Task<TestHost> StartAsync(StoreKind store, PostgresServer server,
        Action<SourcedBuilder>? configure = null, IDictionary<string, string?>? settings = null)
    {
        var host = Build(store, server, configure, settings);
        await host.Host.StartAsync();
        return host;
    }

    public Task<HealthReport> HealthAsync() => Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();

    /// The figures the health check reports for one consumer group.
    public static IReadOnlyDictionary<string, object> Figures(HealthReport report, string group) =>
        (IReadOnlyDictionary<string, object>)report.Entries["sourced"].Data[group];

    public async ValueTask DisposeAsync()
    {
        if (Host is IAsyncDisposable disposable) await disposable.DisposeAsync();
        else Host.Dispose();
        if (server is not null && schema is not null) await server.DropSchemaAsync(schema);
    }
}
