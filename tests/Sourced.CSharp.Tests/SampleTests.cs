using System.Diagnostics;
using Xunit;

namespace Sourced.CSharp.Tests;

/// The C# sample as a user runs it: a process on the generic host, on the memory store and on PostgreSQL.
[Collection(PostgresCollection.Name)]
public class SampleTests(PostgresServer postgres)
{
    /// `samples/Cart.CSharp`, built next to this project in the same configuration.
    static string SampleDll()
    {
        var output = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var (framework, configuration) = (output.Name, output.Parent!.Name);
        var root = output.Parent!.Parent!.Parent!.Parent!.Parent!.FullName;
        return Path.Combine(root, "samples", "Cart.CSharp", "bin", configuration, framework, "Cart.CSharp.dll");
    }

    static async Task<(int ExitCode, string Output)> RunSampleAsync(string? postgres, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(SampleDll());
        foreach (var arg in args) start.ArgumentList.Add(arg);
        start.Environment["SOURCED_PG"] = postgres ?? "";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"The sample did not finish in 2 minutes:\n{await output}\n{await errors}");
        }

        return (process.ExitCode, await output + await errors);
    }

    static void AssertCompleted((int ExitCode, string Output) run)
    {
        Assert.True(run.ExitCode == 0, $"exit code {run.ExitCode}:\n{run.Output}");
        Assert.Contains("#4 carts.admin_email_sent", run.Output);
        Assert.Contains(": 2 unit(s), total 2000", run.Output);
        Assert.Contains("item.quantity: must be at least 1", run.Output);
        Assert.Contains("Sourced runtime stopped", run.Output);
    }

    [Fact]
    public async Task The_csharp_cart_sample_runs_on_the_memory_store() =>
        AssertCompleted(await RunSampleAsync(null));

    [Fact]
    public async Task The_csharp_cart_sample_runs_on_postgres_when_a_connection_string_is_given()
    {
        var schema = postgres.FreshSchema();
        try
        {
            var run = await RunSampleAsync(postgres.ConnectionString, "--Sourced:Schema", schema);

            AssertCompleted(run);
            Assert.Contains($"Sourced schema {schema}", run.Output);
        }
        finally
        {
            await postgres.DropSchemaAsync(schema);
        }
    }
}
