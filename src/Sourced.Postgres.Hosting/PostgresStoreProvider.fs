namespace Sourced.Postgres.Hosting

open System
open System.Threading
open System.Threading.Tasks
open Microsoft.Extensions.DependencyInjection
open Microsoft.Extensions.Logging
open Npgsql
open Sourced
open Sourced.Hosting
open Sourced.Postgres

/// The PostgreSQL store in `AddSourced`, under the name "Postgres".
[<Sealed>]
type internal PostgresStoreProvider() =
    inherit SourcedStoreProvider()

    static let key = SourcedOptions.Key

    static let schemaInstalled =
        LoggerMessage.Define<string, string>(
            LogLevel.Information,
            EventId(SourcedEventIds.SchemaInstalled, "SchemaInstalled"),
            "Sourced schema {Schema} (table prefix {Prefix}) installed or upgraded"
        )

    /// The store's options from the bindable ones.
    static member Map(options: SourcedOptions) : PostgresOptions =
        {
            Schema = options.Schema
            Prefix = options.Prefix
            DiscoveryBatch = options.DiscoveryBatch
            DiscoveryWait = options.DiscoveryWait
            PrepareStatements = options.PrepareStatements
        }

    static member private Connection(options: SourcedOptions, services: IServiceProvider) =
        [
            let registration = services.GetRequiredService<PostgresRegistration>()

            match ConnectionSource.locate registration options services with
            | ConnectionSource.DataSource _ -> ()
            | ConnectionSource.ConnectionString(connectionString, origin) ->
                try
                    NpgsqlConnectionStringBuilder connectionString |> ignore
                with :? ArgumentException as error ->
                    // NOTE: the connection string itself is not repeated: it may hold a password.
                    $"{origin} is not a valid PostgreSQL connection string: {error.Message}"
            | ConnectionSource.Missing ->
                $"{key (nameof options.Store)} is Postgres but there is no connection string: set "
                + $"{key (nameof options.ConnectionString)} or ConnectionStrings:{ConnectionSource.ConnectionName}, "
                + "call UsePostgres(connectionString) or UsePostgres(dataSource), or register an NpgsqlDataSource."
        ]

    override _.Name = ConnectionSource.StoreName

    override _.Problems(options, services) =
        [|
            if options.DiscoveryBatch < 1 then
                $"{key (nameof options.DiscoveryBatch)} is {options.DiscoveryBatch}: it must be at least 1."

            if options.DiscoveryWait < TimeSpan.Zero then
                $"{key (nameof options.DiscoveryWait)} is {options.DiscoveryWait}: it must not be negative."

            try
                PostgresOptions.Validate
                    { PostgresStoreProvider.Map options with
                        DiscoveryBatch = max 1 options.DiscoveryBatch
                    }
            with :? ArgumentException as error ->
                $"{key (nameof options.Schema)} or {key (nameof options.Prefix)}: {error.Message}"

            yield! PostgresStoreProvider.Connection(options, services)
        |]

    override _.Create(options, services) =
        let source = services.GetRequiredService<SourcedDataSource>()

        new PostgresStore(
            source.DataSource,
            PostgresStoreProvider.Map options,
            services.GetRequiredService<TimeProvider>()
        )

    override _.PrepareAsync(store, options, services, ct) =
        task {
            let store = store :?> PostgresStore

            if options.InstallSchema then
                do! store.InstallAsync ct

                match services.GetService<ILoggerFactory>() with
                | null -> ()
                | loggers ->
                    schemaInstalled.Invoke(loggers.CreateLogger "Sourced.Hosting", options.Schema, options.Prefix, null)
            else
                let! installed = store.IsInstalledAsync ct

                if not installed then
                    invalidOp (
                        $"The PostgreSQL schema '{options.Schema}' has no Sourced tables (prefix '{options.Prefix}') "
                        + "at this version, and Sourced:InstallSchema is false: set it to true, or install the "
                        + "schema with PostgresStore.InstallAsync before starting."
                    )
        }
        :> Task
