namespace Sourced.Hosting

open System
open System.ComponentModel
open Microsoft.Extensions.DependencyInjection
open Npgsql
open Sourced
open Sourced.CSharp

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
        registrations.DataSource <- null

        configure (fun options ->
            options.Store <- StoreKind.Memory
            options.ConnectionString <- null)

        builder

    /// Uses the PostgreSQL store over this connection string (the host creates and disposes the data source).
    member builder.UsePostgres(connectionString: string) : SourcedBuilder =
        if String.IsNullOrWhiteSpace connectionString then
            invalidArg (nameof connectionString) "A PostgreSQL connection string is needed."

        registrations.DataSource <- null

        configure (fun options ->
            options.Store <- StoreKind.Postgres
            options.ConnectionString <- connectionString)

        builder

    /// Uses the PostgreSQL store over this data source (the caller disposes it).
    member builder.UsePostgres(dataSource: NpgsqlDataSource) : SourcedBuilder =
        if isNull dataSource then
            nullArg (nameof dataSource)

        registrations.DataSource <- dataSource
        configure (fun options -> options.Store <- StoreKind.Postgres)
        builder

    /// Uses the PostgreSQL store, connected through `Sourced:ConnectionString`, else `ConnectionStrings:Sourced`,
    /// else the `NpgsqlDataSource` registered in the services.
    member builder.UsePostgres() : SourcedBuilder =
        configure (fun options -> options.Store <- StoreKind.Postgres)
        builder

    /// Runs an actor, projector or handler in the host's workers (one consumer group each).
    member builder.Add(definition: ReactorDefinition) : SourcedBuilder =
        if isNull (box definition) then
            nullArg (nameof definition)

        let reactor = definition.Reactor
        registrations.Reactors.Add(fun _ -> reactor)
        builder

    /// Runs an actor, projector or handler made from services (a projector writing to your database, say),
    /// created once when the host starts.
    member builder.Add(factory: Func<IServiceProvider, ReactorDefinition>) : SourcedBuilder =
        if isNull factory then
            nullArg (nameof factory)

        registrations.Reactors.Add(fun services ->
            match box (factory.Invoke services) with
            | null -> invalidOp "A reactor factory given to SourcedBuilder.Add returned null."
            | definition -> (unbox<ReactorDefinition> definition).Reactor)

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

    /// How every consumer group recovers from failures (by default it stops: see `ErrorPolicy`).
    member builder.UseErrorPolicy(policy: ErrorPolicy) : SourcedBuilder =
        if isNull policy then
            nullArg (nameof policy)

        let strategy = policy.Strategy

        registrations.RuntimeChanges.Add(fun options ->
            { options with
                ErrorStrategy = strategy
            })

        builder

    /// How one consumer group recovers from failures, whatever `UseErrorPolicy(policy)` says for the others.
    member builder.UseErrorPolicy(group: string, policy: ErrorPolicy) : SourcedBuilder =
        if String.IsNullOrWhiteSpace group then
            invalidArg (nameof group) "A consumer group is needed."

        if isNull policy then
            nullArg (nameof policy)

        registrations.GroupStrategies[group] <- policy.Strategy
        builder

    /// Changes the options after they are bound from configuration.
    member builder.Configure(configure: Action<SourcedOptions>) : SourcedBuilder =
        if isNull configure then
            nullArg (nameof configure)

        services.Configure<SourcedOptions> configure |> ignore
        builder
