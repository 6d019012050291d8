namespace Sourced.Hosting

open System
open System.Collections.Generic
open System.Threading
open System.Threading.Tasks
open Microsoft.Extensions.DependencyInjection
open Sourced

/// How a store package plugs into `AddSourced`: a provider registered as a `SourcedStoreProvider` service
/// (Sourced.Postgres.Hosting adds one with `UsePostgres` or `AddPostgres`); `Sourced:Store` names the one used.
[<AbstractClass>]
type SourcedStoreProvider() =
    /// The name that `Sourced:Store` chooses this store by, such as "Postgres".
    abstract Name: string

    /// The problems with these options for this store, each naming its setting; empty when they are fine.
    abstract Problems: options: SourcedOptions * services: IServiceProvider -> IReadOnlyList<string>

    /// Creates the store, once per host; the host disposes it when it is disposable. Its clock is the
    /// `TimeProvider` service (`AddSourced` registers `TimeProvider.System` when the app has none).
    abstract Create: options: SourcedOptions * services: IServiceProvider -> IMessageStore

    /// Makes the store ready before the workers start (installs or checks its schema); by default nothing.
    abstract PrepareAsync:
        store: IMessageStore * options: SourcedOptions * services: IServiceProvider * ct: CancellationToken -> Task

    default _.PrepareAsync(_, _, _, _) = Task.CompletedTask

/// The in-memory store's provider, always registered by `AddSourced`.
[<Sealed>]
type internal MemoryStoreProvider() =
    inherit SourcedStoreProvider()

    override _.Name = SourcedStores.Memory

    override _.Problems(options, _) =
        [|
            if not (String.IsNullOrWhiteSpace options.ConnectionString) then
                $"{SourcedOptions.Key(nameof options.ConnectionString)} is set but "
                + $"{SourcedOptions.Key(nameof options.Store)} is Memory: choose the store that uses it "
                + "(such as UsePostgres), or remove the connection string."
        |]

    override _.Create(_, services) =
        MemoryStore(services.GetRequiredService<TimeProvider>())

/// Finding the provider that `Sourced:Store` names among those registered.
[<RequireQualifiedAccess>]
module internal StoreProviders =

    /// The registered providers (the last registration of a name wins).
    let all (services: IServiceProvider) : SourcedStoreProvider list =
        services.GetServices<SourcedStoreProvider>() |> List.ofSeq

    let tryFind (services: IServiceProvider) (name: string) : SourcedStoreProvider option =
        all services
        |> List.tryFindBack (fun provider -> String.Equals(provider.Name, name, StringComparison.OrdinalIgnoreCase))

    /// The provider of `options.Store` (the options validator has already refused an unknown name).
    let chosen (services: IServiceProvider) (options: SourcedOptions) : SourcedStoreProvider =
        match tryFind services options.Store with
        | Some provider -> provider
        | None -> invalidOp $"No message store named '{options.Store}' was added to AddSourced."
