namespace Microsoft.Extensions.DependencyInjection

open System
open System.Runtime.CompilerServices
open Sourced.Hosting
open Microsoft.Extensions.DependencyInjection.Extensions
open Sourced
open Sourced.CSharp

/// The C# facade in `AddSourced`: its reactor definitions, error policies and `EventStore`.
[<Extension; AbstractClass; Sealed>]
type CSharpBuilderExtensions =

    /// Registers the facade's `EventStore` (over the host's `IMessageStore`) once; every method here does it.
    [<Extension>]
    static member AddEventStore(builder: SourcedBuilder) : SourcedBuilder =
        if isNull (box builder) then
            nullArg (nameof builder)

        builder.Services.TryAddSingleton<EventStore>(fun services ->
            EventStore(services.GetRequiredService<IMessageStore>()))

        builder

    /// Runs an actor, projector or handler in the host's workers (one consumer group each).
    [<Extension>]
    static member Add(builder: SourcedBuilder, definition: ReactorDefinition) : SourcedBuilder =
        if isNull (box definition) then
            nullArg (nameof definition)

        let reactor = definition.Reactor
        (CSharpBuilderExtensions.AddEventStore builder).AddReactor(Func<IServiceProvider, Reactor>(fun _ -> reactor))

    /// Runs an actor, projector or handler made from services (a projector writing to your database, say),
    /// created once when the host starts.
    [<Extension>]
    static member Add(builder: SourcedBuilder, factory: Func<IServiceProvider, ReactorDefinition>) : SourcedBuilder =
        if isNull factory then
            nullArg (nameof factory)

        (CSharpBuilderExtensions.AddEventStore builder)
            .AddReactor(
                Func<IServiceProvider, Reactor>(fun services ->
                    match box (factory.Invoke services) with
                    | null -> invalidOp "A reactor factory given to SourcedBuilder.Add returned null."
                    | definition -> (unbox<ReactorDefinition> definition).Reactor)
            )

    /// How every consumer group recovers from failures (by default it stops: see `ErrorPolicy`).
    [<Extension>]
    static member UseErrorPolicy(builder: SourcedBuilder, policy: ErrorPolicy) : SourcedBuilder =
        if isNull policy then
            nullArg (nameof policy)

        let strategy = policy.Strategy

        (CSharpBuilderExtensions.AddEventStore builder)
            .ConfigureRuntime(fun options ->
                { options with
                    ErrorStrategy = strategy
                })

    /// How one consumer group recovers from failures, whatever `UseErrorPolicy(policy)` says for the others.
    [<Extension>]
    static member UseErrorPolicy(builder: SourcedBuilder, group: string, policy: ErrorPolicy) : SourcedBuilder =
        if isNull policy then
            nullArg (nameof policy)

        (CSharpBuilderExtensions.AddEventStore builder).UseErrorStrategy(group, policy.Strategy)
