namespace Microsoft.Extensions.DependencyInjection

open System
open System.Runtime.CompilerServices
open Sourced.Hosting
open Microsoft.Extensions.DependencyInjection.Extensions
open Npgsql
open Sourced.Postgres.Hosting

/// `sourced.UsePostgres(...)`: the PostgreSQL store in `AddSourced`.
[<Extension; AbstractClass; Sealed>]
type PostgresBuilderExtensions =

    /// This host's registration of what `UsePostgres(dataSource)` was given, added with the store.
    static member private Registration(services: IServiceCollection) : PostgresRegistration =
        services
        |> Seq.tryPick (fun descriptor ->
            match descriptor.ImplementationInstance with
            | :? PostgresRegistration as registration -> Some registration
            | _ -> None)
        |> Option.defaultWith (fun () ->
            let registration = PostgresRegistration()
            services.AddSingleton registration |> ignore
            registration)

    /// Adds the PostgreSQL store under the name "Postgres" without choosing it: `Sourced:Store` may then choose it.
    [<Extension>]
    static member AddPostgres(builder: SourcedBuilder) : SourcedBuilder =
        if isNull (box builder) then
            nullArg (nameof builder)

        let services = builder.Services
        PostgresBuilderExtensions.Registration services |> ignore

        services.TryAddSingleton<SourcedDataSource>(fun provider ->
            new SourcedDataSource(
                provider.GetRequiredService<PostgresRegistration>(),
                provider.GetRequiredService<Microsoft.Extensions.Options.IOptions<SourcedOptions>>().Value,
                provider
            ))

        services.TryAddEnumerable(ServiceDescriptor.Singleton<SourcedStoreProvider, PostgresStoreProvider>())
        builder

    /// Uses the PostgreSQL store over this connection string (the host creates and disposes the data source).
    [<Extension>]
    static member UsePostgres(builder: SourcedBuilder, connectionString: string) : SourcedBuilder =
        if String.IsNullOrWhiteSpace connectionString then
            invalidArg (nameof connectionString) "A PostgreSQL connection string is needed."

        let chosen = PostgresBuilderExtensions.UsePostgres builder
        (PostgresBuilderExtensions.Registration builder.Services).DataSource <- null
        chosen.Configure(fun options -> options.ConnectionString <- connectionString)

    /// Uses the PostgreSQL store over this data source (the caller disposes it).
    [<Extension>]
    static member UsePostgres(builder: SourcedBuilder, dataSource: NpgsqlDataSource) : SourcedBuilder =
        if isNull dataSource then
            nullArg (nameof dataSource)

        let chosen = PostgresBuilderExtensions.UsePostgres builder
        (PostgresBuilderExtensions.Registration builder.Services).DataSource <- dataSource
        chosen

    /// Uses the PostgreSQL store, connected through `Sourced:ConnectionString`, else `ConnectionStrings:Sourced`,
    /// else the `NpgsqlDataSource` registered in the services.
    [<Extension>]
    static member UsePostgres(builder: SourcedBuilder) : SourcedBuilder =
        (PostgresBuilderExtensions.AddPostgres builder).UseStore ConnectionSource.StoreName
