/// PostgreSQL stores for the shared suites: each test gets its own schema on the test server, dropped
/// when the test's store is disposed.
module Sourced.Postgres.Tests.Stores

open System
open System.Threading
open System.Threading.Tasks
open Npgsql
open Sourced
open Sourced.Postgres
open Sourced.Tests.Support

let private dataSource =
    lazy
        (let builder = NpgsqlConnectionStringBuilder(Server.connectionString ())
         builder.MaxPoolSize <- 150
         NpgsqlDataSource.Create builder.ConnectionString)

/// The shared data source of the test server.
let source () = dataSource.Value

/// A store in a fresh schema; disposing it stops its notifier and drops the schema.
type SchemaStore(store: PostgresStore, schema: string) =
    inherit DelegatingStore(store)

    member _.Store = store
    member _.Schema = schema

    interface IAsyncDisposable with
        member _.DisposeAsync() =
            ValueTask(
                task {
                    do! (store :> IAsyncDisposable).DisposeAsync()
                    use! connection = dataSource.Value.OpenConnectionAsync()
                    use drop = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {schema} CASCADE", connection)
                    let! _ = drop.ExecuteNonQueryAsync()
                    ()
                }
            )

/// A new, installed store on the given clock.
let create (clock: TimeProvider) : Task<IMessageStore> =
    task {
        let schema = Server.freshSchema ()

        let store =
            new PostgresStore(
                dataSource.Value,
                { PostgresOptions.defaults with
                    Schema = schema
                },
                clock
            )

        do! store.InstallAsync CancellationToken.None
        return new SchemaStore(store, schema) :> IMessageStore
    }
