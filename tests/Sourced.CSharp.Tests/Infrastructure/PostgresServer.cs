using Npgsql;
using Sourced.Postgres.Server;
using Xunit;

namespace Sourced.CSharp.Tests;

/// The PostgreSQL server of the C# tests: the one SOURCED_TEST_PG names, or else a throwaway server started
/// once per test process (removed when it exits). Without either, every PostgreSQL test fails saying why.
public sealed class PostgresServer
{
    /// Set it to a connection string to run the tests on that server instead of a throwaway one.
    public const string Variable = "SOURCED_TEST_PG";

    static readonly Lazy<(string? ConnectionString, string? Problem)> server = new(Start);

    static (string?, string?) Start()
    {
        var given = Environment.GetEnvironmentVariable(Variable);
        if (!string.IsNullOrEmpty(given)) return (given, null);
        try
        {
            return (Throwaway.start(new Throwaway.Settings(durable: false, database: "sourced_test")), null);
        }
        catch (Exception error)
        {
            return (null,
                $"The PostgreSQL tests have no server: {Variable} is unset, and starting a throwaway server failed: " +
                $"{error.Message}\n\nTo fix it, install the server (apt-get install -y postgresql), or set {Variable} " +
                "to a connection string, such as 'Host=127.0.0.1;Port=5432;Username=postgres;Database=sourced_test'.");
        }
    }

    /// The server's connection string; throws with the reason when there is no server.
    public string ConnectionString =>
        server.Value.ConnectionString ?? throw new InvalidOperationException(server.Value.Problem);

    /// A new schema name (`t_` and 12 hex digits): each test has tables of its own.
    public string FreshSchema() => Throwaway.freshSchema();

    /// Drops a test's schema and everything in it.
    public async Task DropSchemaAsync(string schema)
    {
        await using var dataSource = NpgsqlDataSource.Create(ConnectionString);
        await using var drop = dataSource.CreateCommand($"DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
        await drop.ExecuteNonQueryAsync();
    }
}

/// The tests that use PostgreSQL: they share one server and run one at a time.
[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>
{
    public const string Name = "PostgreSQL";
}
