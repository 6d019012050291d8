namespace Sourced.Hosting

open System
open System.ComponentModel
open Microsoft.Extensions.DependencyInjection
open Sourced

/// Configures Sourced in `services.AddSourced(sourced => ...)`: the store, the reactors, the options.
/// Every method returns the builder, to chain calls.
[<Sealed>]
type SourcedBuilder internal (services: IServiceCollection, registrations: Registrations) =

    let configure (change: SourcedOptions -> unit) =
        services.Configure<SourcedOptions>(Action<SourcedOptions> change) |> ignore

    /// The services being configured.
    member _.Services: IServiceCollection = services

    /// Keeps messages in memory (the default): one process, nothing kept across restarts.
    member builder.UseMemoryStore() : SourcedBuilder =
        configure (fun options ->
            options.Store <- SourcedStores.Memory
            options.ConnectionString <- null)

        builder

    /// Uses the store a store package added under this name (`Sourced:Store`), such as "Postgres".
    member builder.UseStore(name: string) : SourcedBuilder =
        if String.IsNullOrWhiteSpace name then
            invalidArg (nameof name) "A store name is needed, such as Memory or Postgres."

        configure (fun options -> options.Store <- name)
        builder

    /// Runs a core reactor (F#: `Actor.toReactor`, `Projector.toReactor`, `Handler.toReactor`).
    [<EditorBrowsable(EditorBrowsableState.Never)>]
    member builder.AddReactor(reactor: Reactor) : SourcedBuilder =
        if isNull (box reactor) then
            nullArg (nameof reactor)

        registrations.Reactors.Add(fun _ -> reactor)
        builder

    /// Changes the runtime's options after they are read from `SourcedOptions` (F#: error strategies).
    [<EditorBrowsable(EditorBrowsableState.Never)>]
    member builder.ConfigureRuntime(change: Func<RuntimeOptions, RuntimeOptions>) : SourcedBuilder =
        if isNull change then
            nullArg (nameof change)

        registrations.RuntimeChanges.Add change.Invoke
        builder

    /// Runs a core reactor made from services, created once when the host starts (the C# facade's `Add`).
    [<EditorBrowsable(EditorBrowsableState.Never)>]
    member builder.AddReactor(factory: Func<IServiceProvider, Reactor>) : SourcedBuilder =
        if isNull factory then
            nullArg (nameof factory)

        registrations.Reactors.Add factory.Invoke
        builder

    /// How one consumer group recovers from failures, whatever the runtime's options say for the others (F#, and
    /// the C# facade's `UseErrorPolicy(group, policy)`); the host refuses to start when no reactor has the group.
    [<EditorBrowsable(EditorBrowsableState.Never)>]
    member builder.UseErrorStrategy(group: string, strategy: ErrorStrategy) : SourcedBuilder =
        if String.IsNullOrWhiteSpace group then
            invalidArg (nameof group) "A consumer group is needed."

        if isNull (box strategy) then
            nullArg (nameof strategy)

        registrations.GroupStrategies[group] <- strategy
        builder

    /// Changes the options after they are bound from configuration.
    member builder.Configure(configure: Action<SourcedOptions>) : SourcedBuilder =
        if isNull configure then
            nullArg (nameof configure)

        services.Configure<SourcedOptions> configure |> ignore
        builder
