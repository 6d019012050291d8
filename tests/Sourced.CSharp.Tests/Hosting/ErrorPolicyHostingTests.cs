using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Sourced.Hosting;
using Xunit;

namespace Sourced.CSharp.Tests.Hosting;

/// Error policies given to AddSourced: for every group, or for one.
[Collection(PostgresCollection.Name)]
public class ErrorPolicyHostingTests(PostgresServer server)
{
    [Theory]
    [InlineData(StoreKind.Memory, false)]
    [InlineData(StoreKind.Memory, true)]
    [InlineData(StoreKind.Postgres, true)]
    public async Task A_retrying_group_is_logged_as_a_warning_and_reported_Degraded(StoreKind store, bool forOneGroup)
    {
        var policy = ErrorPolicy.Retry(3, TimeSpan.FromMinutes(5));
        await using var host = await TestHost.StartAsync(store, server, sourced =>
        {
            sourced.Add(Shop.Baskets).Add(Shop.Counter(new Counts()));
            if (forOneGroup) sourced.UseErrorPolicy(Shop.ProjectorGroup, policy);
            else sourced.UseErrorPolicy(policy);
        });

        await host.EventStore.DispatchAsync(Shop.Add("basket-1", Shop.Poison));
        var retrying = await host.Logs.WaitForAsync(SourcedEventIds.Retrying);
        var report = await host.HealthAsync();

        Assert.Equal(LogLevel.Warning, retrying.Level);
        Assert.StartsWith(
            $"Consumer group {Shop.ProjectorGroup} failed on baskets.item_added of stream basket-1 (attempt 1); retrying at ",
            retrying.Message);
        Assert.Equal("the poison product", retrying.Exception?.Message);
        Assert.Empty(host.Logs.WithId(SourcedEventIds.GroupStopped));
        Assert.Equal(HealthStatus.Degraded, report.Status);
        Assert.Equal($"Consumer groups waiting to retry after a failure: '{Shop.ProjectorGroup}'.",
            report.Entries["sourced"].Description);
        Assert.Equal(1, TestHost.Figures(report, Shop.ProjectorGroup)["retryCount"]);
        await host.Host.StopAsync();
    }

    [Fact]
    public async Task A_policy_for_a_group_that_no_reactor_has_is_refused()
    {
        await using var host = TestHost.Build(StoreKind.Memory, server,
            sourced => sourced.Add(Shop.Baskets).UseErrorPolicy("bakset", ErrorPolicy.Stop));

        var error = Assert.Throws<InvalidOperationException>(() => host.Services.GetRequiredService<Runtime>());

        Assert.Equal("UseErrorPolicy names the consumer group 'bakset', which no reactor has (they are 'baskets').",
            error.Message);
    }
}
