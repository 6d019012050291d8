namespace Sourced.Postgres.Hosting

open System
open System.Threading.Tasks
open Microsoft.Extensions.Configuration
open Microsoft.Extensions.DependencyInjection
open Microsoft.Extensions.Logging
open Npgsql
open Sourced.Hosting

/// What `UsePostgres(dataSource)` was given; the caller owns it.
[<Sealed>]
type internal PostgresRegistration() =
    member val DataSource: NpgsqlDataSource = null with get, set

/// Where the PostgreSQL store gets its connections, and where that was found (for messages).
[<RequireQualifiedAccess>]
type internal ConnectionSource =
    | DataSource of dataSource: NpgsqlDataSource * origin: string
    | ConnectionString of connectionString: string * origin: string
    | Missing

[<RequireQualifiedAccess>]
module internal ConnectionSource =

    /// The store's name in `Sourced:Store`.
    [<Literal>]
    let StoreName = "Postgres"

    /// The connection name looked up in `ConnectionStrings`.
    [<Literal>]
    let ConnectionName = "Sourced"

    /// In order: `UsePostgres(dataSource)`, `Sourced:ConnectionString`, `ConnectionStrings:Sourced`, then an
    /// `NpgsqlDataSource` service. NOTE: the named settings come before a data source service, which may well be
    /// the application's own database.
    let locate (registration: PostgresRegistration) (options: SourcedOptions) (services: IServiceProvider) =
        let named =
            match services.GetService<IConfiguration>() with
            | null -> null
            | configuration -> configuration.GetConnectionString ConnectionName

        if not (isNull registration.DataSource) then
            ConnectionSource.DataSource(registration.DataSource, "UsePostgres(dataSource)")
        elif not (String.IsNullOrWhiteSpace options.ConnectionString) then
            ConnectionSource.ConnectionString(options.ConnectionString, "Sourced:ConnectionString")
        elif not (String.IsNullOrWhiteSpace named) then
            ConnectionSource.ConnectionString(named, $"ConnectionStrings:{ConnectionName}")
        else
            match services.GetService<NpgsqlDataSource>() with
            | null -> ConnectionSource.Missing
            | dataSource -> ConnectionSource.DataSource(dataSource, "the NpgsqlDataSource service")

/// The data source of the PostgreSQL store; disposes it when this host created it from a connection string.
[<Sealed>]
type internal SourcedDataSource(registration: PostgresRegistration, options: SourcedOptions, services: IServiceProvider)
    =
    let dataSource, owned =
        match ConnectionSource.locate registration options services with
        | ConnectionSource.DataSource(given, _) -> given, false
        | ConnectionSource.ConnectionString(connectionString, _) ->
            let builder = NpgsqlDataSourceBuilder connectionString

            match services.GetService<ILoggerFactory>() with
            | null -> ()
            | loggers -> builder.UseLoggerFactory loggers |> ignore

            builder.Build(), true
        | ConnectionSource.Missing ->
            invalidOp "The PostgreSQL store has no connection string (see Sourced:ConnectionString)."

    member _.DataSource = dataSource

    interface IAsyncDisposable with
        member _.DisposeAsync() =
            if owned then
                dataSource.DisposeAsync()
            else
                ValueTask.CompletedTask

    interface IDisposable with
        member _.Dispose() =
            if owned then
                dataSource.Dispose()
