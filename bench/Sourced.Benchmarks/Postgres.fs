/// The PostgreSQL server of the postgres scenarios: the one SOURCED_BENCH_PG names, or else a throwaway durable
/// server (fsync and synchronous commits on) started on first use and removed when the program exits.
module Sourced.Benchmarks.Postgres

open System
open System.Runtime.ExceptionServices
open System.Threading
open System.Threading.Tasks
open Npgsql
open Sourced.Postgres
open Sourced.Postgres.Server

/// Set it to a connection string to benchmark that server instead of a throwaway one.
[<Literal>]
let Variable = "SOURCED_BENCH_PG"

let private server =
    lazy
        (match Environment.GetEnvironmentVariable Variable with
         | null
         | "" ->
             eprintfn "starting a throwaway durable PostgreSQL server (%s is unset)..." Variable

             Throwaway.start
                 {
                     Durable = true
                     Database = "sourced_bench"
                 }
         | given -> given)

/// The connection string of the benchmark server; the first call starts the throwaway server when needed.
let connectionString () : string = server.Force()

let private ct = CancellationToken.None

/// The tables of a store installed with the default prefix in `schema` (the store's own names are internal).
type Tables =
    {
        Schema: string
        Messages: string
        Streams: string
        Groups: string
        Offsets: string
    }

let tables (schema: string) : Tables =
    {
        Schema = schema
        Messages = $"{schema}.sourced_messages"
        Streams = $"{schema}.sourced_streams"
        Groups = $"{schema}.sourced_groups"
        Offsets = $"{schema}.sourced_offsets"
    }

/// Replaces `{messages}`, `{streams}`, `{groups}` and `{offsets}` in a statement with the tables of a schema.
let render (tables: Tables) (sql: string) : string =
    sql
        .Replace("{messages}", tables.Messages)
        .Replace("{streams}", tables.Streams)
        .Replace("{groups}", tables.Groups)
        .Replace("{offsets}", tables.Offsets)

/// A new schema name for one scenario's tables (dropped again by `dropSchemaAsync`); names are at most 30
/// characters, so a long purpose is cut.
let freshSchema (purpose: string) : string =
    let stem = "b_" + purpose

    stem.Substring(0, min stem.Length 21)
    + "_"
    + Guid.NewGuid().ToString("N").Substring(0, 8)

/// A store with the default options in `schema`.
let storeIn (dataSource: NpgsqlDataSource) (schema: string) : PostgresStore =
    new PostgresStore(
        dataSource,
        { PostgresOptions.defaults with
            Schema = schema
        }
    )

/// Runs `work`, then `cleanup` whether or not `work` failed.
let finallyAsync (cleanup: unit -> Task) (work: unit -> Task<'T>) : Task<'T> =
    task {
        let! outcome =
            task {
                try
                    let! result = work ()
                    return Ok result
                with error ->
                    return Error(ExceptionDispatchInfo.Capture error)
            }

        do! cleanup ()

        match outcome with
        | Ok result -> return result
        | Error error ->
            error.Throw()
            return Unchecked.defaultof<'T>
    }

/// Runs `work` with a store on `schema`, and disposes it afterwards.
let withStoreAsync (dataSource: NpgsqlDataSource) (schema: string) (work: PostgresStore -> Task<'T>) : Task<'T> =
    let store = storeIn dataSource schema
    finallyAsync (fun () -> (store :> IAsyncDisposable).DisposeAsync().AsTask()) (fun () -> work store)

let executeAsync (dataSource: NpgsqlDataSource) (sql: string) : Task<int> =
    task {
        use command = dataSource.CreateCommand sql
        command.CommandTimeout <- 600
        return! command.ExecuteNonQueryAsync ct
    }

let scalarAsync<'T> (dataSource: NpgsqlDataSource) (sql: string) : Task<'T> =
    task {
        use command = dataSource.CreateCommand sql
        command.CommandTimeout <- 600
        let! value = command.ExecuteScalarAsync ct
        return unbox<'T> value
    }

/// Runs `work` on a new schema for each purpose, each with the store's tables (installed by the store itself, so
/// the DDL is the store's), and drops the schemas afterwards.
let withSchemasAsync (dataSource: NpgsqlDataSource) (purposes: string list) (work: string list -> Task<'T>) : Task<'T> =
    task {
        let schemas = purposes |> List.map freshSchema

        let drop () : Task =
            task {
                for schema in schemas do
                    let! _ = executeAsync dataSource $"DROP SCHEMA IF EXISTS {schema} CASCADE"
                    ()
            }

        return!
            finallyAsync drop (fun () ->
                task {
                    for schema in schemas do
                        do! withStoreAsync dataSource schema (fun store -> task { do! store.InstallAsync ct })

                    return! work schemas
                })
    }

/// The server's version and durability settings, for the report.
let private describeAsync (dataSource: NpgsqlDataSource) : Task<string> =
    task {
        let! version = scalarAsync<string> dataSource "SHOW server_version"
        let! fsync = scalarAsync<string> dataSource "SHOW fsync"
        let! commit = scalarAsync<string> dataSource "SHOW synchronous_commit"
        let! buffers = scalarAsync<string> dataSource "SHOW shared_buffers"
        return $"PostgreSQL {version} (fsync {fsync}, synchronous_commit {commit}, shared_buffers {buffers})"
    }

let private description =
    lazy
        (use dataSource = NpgsqlDataSource.Create(connectionString ())
         describeAsync(dataSource).GetAwaiter().GetResult())

/// What the postgres scenarios ran on, when one ran.
let serverDescription () : string option =
    if server.IsValueCreated then
        Some(description.Force())
    else
        None
