namespace Sourced.Hosting

open System
open Microsoft.Extensions.Configuration
open Microsoft.Extensions.DependencyInjection
open Microsoft.Extensions.Hosting
open Microsoft.Extensions.Logging
open Microsoft.Extensions.Logging.Abstractions
open Microsoft.Extensions.Options
open Microsoft.Extensions.DependencyInjection.Extensions
open Sourced

/// Binds `SourcedOptions` from a configuration section; strict: an unknown key is an error, not a silent no-op.
[<Sealed>]
type internal BindSourcedOptions(section: IConfiguration) =
    interface IConfigureOptions<SourcedOptions> with
        member _.Configure(options: SourcedOptions) =
            if not (isNull section) then
                section.Bind(options, (fun binder -> binder.ErrorOnUnknownConfiguration <- true))

/// The services `AddSourced` registers.
[<RequireQualifiedAccess>]
module internal SourcedServices =

    let private settings (services: IServiceProvider) =
        services.GetRequiredService<IOptions<SourcedOptions>>().Value

    let private store (services: IServiceProvider) : IMessageStore =
        let options = settings services
        (StoreProviders.chosen services options).Create(options, services)

    let private runtime (registrations: Registrations) (services: IServiceProvider) =
        let options = OptionsMapping.runtime registrations (settings services)
        let reactors = services.GetRequiredService<SourcedReactors>().All

        for group in registrations.GroupStrategies.Keys do
            if not (reactors |> List.exists (fun reactor -> reactor.Group = group)) then
                let known =
                    reactors |> List.map (fun reactor -> $"'{reactor.Group}'") |> String.concat ", "

                invalidOp $"UseErrorPolicy names the consumer group '{group}', which no reactor has (they are {known})."

        new Runtime(services.GetRequiredService<IMessageStore>(), reactors, options)

    let private loggers (services: IServiceProvider) =
        match services.GetService<ILoggerFactory>() with
        | null -> NullLoggerFactory.Instance :> ILoggerFactory
        | given -> given

    let private singleton<'T when 'T: not struct> (services: IServiceCollection) (create: IServiceProvider -> 'T) =
        services.AddSingleton<'T>(Func<IServiceProvider, 'T> create) |> ignore

    /// Registers the options, the in-memory store's provider, the store, the runtime and the hosted service, then lets
    /// `configure` add reactors and change options. `section`: where the options are bound from; when null, the
    /// "Sourced" section of the `IConfiguration` service, if there is one.
    let add (services: IServiceCollection) (section: IConfiguration) (configure: Action<SourcedBuilder>) =
        if
            services
            |> Seq.exists (fun descriptor -> descriptor.ServiceType = typeof<Registrations>)
        then
            invalidOp "AddSourced was already called on these services: call it once, with every reactor."

        let registrations = Registrations()
        services.AddSingleton registrations |> ignore

        singleton<IConfigureOptions<SourcedOptions>> services (fun provider ->
            match section, provider.GetService<IConfiguration>() with
            | null, null -> BindSourcedOptions null
            | null, root -> BindSourcedOptions(root.GetSection SourcedOptions.SectionName)
            | given, _ -> BindSourcedOptions given)

        services.AddOptions<SourcedOptions>().ValidateOnStart() |> ignore

        singleton<IValidateOptions<SourcedOptions>> services (fun provider -> SourcedOptionsValidator provider)

        singleton services (fun provider -> SourcedReactors(registrations, provider))
        services.TryAddSingleton<TimeProvider> TimeProvider.System
        services.TryAddEnumerable(ServiceDescriptor.Singleton<SourcedStoreProvider, MemoryStoreProvider>())
        singleton services store
        singleton services (runtime registrations)

        singleton<IHostedService> services (fun provider ->
            SourcedHostedService(
                provider,
                provider.GetRequiredService<SourcedReactors>(),
                provider.GetRequiredService<IOptions<SourcedOptions>>(),
                loggers provider
            ))

        configure.Invoke(SourcedBuilder(services, registrations))
        services
