namespace Microsoft.Extensions.DependencyInjection

open System
open System.Runtime.CompilerServices
open Microsoft.Extensions.Configuration
open Sourced.Hosting

/// `services.AddSourced(...)`: Sourced's store, runtime and workers in the generic host.
[<Extension; AbstractClass; Sealed>]
type SourcedServiceCollectionExtensions =

    /// Adds the message store (`IMessageStore`), the facade's `EventStore`, the runtime and its hosted workers;
    /// options are bound from the "Sourced" section of the configuration, then `configure` adds reactors and
    /// changes options.
    [<Extension>]
    static member AddSourced(services: IServiceCollection, configure: Action<SourcedBuilder>) : IServiceCollection =
        if isNull services then
            nullArg (nameof services)

        if isNull configure then
            nullArg (nameof configure)

        SourcedServices.add services null configure

    /// As `AddSourced(configure)`, with the options bound from `configuration` (a section such as
    /// `builder.Configuration.GetSection("Sourced")`) instead of the "Sourced" section.
    [<Extension>]
    static member AddSourced
        (services: IServiceCollection, configuration: IConfiguration, configure: Action<SourcedBuilder>)
        : IServiceCollection =
        if isNull services then
            nullArg (nameof services)

        if isNull configuration then
            nullArg (nameof configuration)

        if isNull configure then
            nullArg (nameof configure)

        SourcedServices.add services configuration configure
