namespace Microsoft.Extensions.DependencyInjection

open System.Collections.Generic
open System.Runtime.CompilerServices
open System.Runtime.InteropServices
open Microsoft.Extensions.Diagnostics.HealthChecks
open Microsoft.Extensions.Options
open Sourced
open Sourced.Hosting

/// `services.AddHealthChecks().AddSourced()`: the health of the message store and of the consumer groups.
[<Extension; AbstractClass; Sealed>]
type SourcedHealthChecksBuilderExtensions =

    /// Adds a check that reports `failureStatus` (default Unhealthy) when the store does not answer within
    /// `Sourced:HealthTimeout` or a consumer group is stopped, and Degraded when a group waits to retry or has
    /// more than `Sourced:LagDegradedAbove` messages waiting. Its data has the figures of each group.
    [<Extension>]
    static member AddSourced
        (
            builder: IHealthChecksBuilder,
            [<Optional; DefaultParameterValue("sourced")>] name: string,
            [<Optional>] failureStatus: System.Nullable<HealthStatus>,
            [<Optional; DefaultParameterValue(null: IEnumerable<string>)>] tags: IEnumerable<string>
        ) : IHealthChecksBuilder =
        if isNull builder then
            nullArg (nameof builder)

        let create (services: System.IServiceProvider) : IHealthCheck =
            match services.GetService<SourcedReactors>() with
            | null -> invalidOp "The Sourced health check needs services.AddSourced(...) too."
            | reactors ->
                SourcedHealthCheck(
                    services.GetRequiredService<IMessageStore>(),
                    reactors,
                    services.GetRequiredService<IOptions<SourcedOptions>>()
                )

        builder.Add(HealthCheckRegistration(name, System.Func<_, _> create, failureStatus, tags))
