/// The Marten contender of the append scenario: the same events through Marten 9's event store in its fastest
/// append mode (Quick), string stream keys, in a schema of its own that is created before anything is measured.
module Sourced.Benchmarks.MartenAppend

open System
open System.Threading
open System.Threading.Tasks
open JasperFx
open JasperFx.Events
open Marten
open Npgsql
open Sourced.Benchmarks.RawAppend

let private ct = CancellationToken.None

/// A line of `OrderPlaced`.
type OrderLine =
    {
        Sku: string
        Quantity: int
        Price: decimal
    }

/// The benchmark's event as a .NET type: serialised (camelCase) it is the JSON the other contenders store.
type OrderPlaced =
    {
        OrderId: Guid
        Customer: string
        Lines: OrderLine array
        Currency: string
        Note: string
    }

let private orderPlaced: OrderPlaced =
    {
        OrderId = Guid.Parse "0190f3c4-6a1e-7c52-9d3b-2f6a8e1b4c7d"
        Customer = "c-1042"
        Lines =
            [|
                {
                    Sku = "SKU-123"
                    Quantity = 2
                    Price = 19.99m
                }
                {
                    Sku = "SKU-987"
                    Quantity = 1
                    Price = 5.5m
                }
            |]
        Currency = "EUR"
        Note = "leave at the door"
    }

/// The event as a new object per message, as an application would make them.
let private eventsOf (append: Append) : obj array =
    [|
        for _ in append.Messages ->
            box
                { orderPlaced with
                    OrderId = orderPlaced.OrderId
                }
    |]

/// A Marten document store on `dataSource` whose tables live in `schema`: Quick appends, string stream keys,
/// System.Text.Json, and no schema checks at run time (`createAsync` applies the schema first).
let private storeIn (dataSource: NpgsqlDataSource) (schema: string) : DocumentStore =
    DocumentStore.For(fun (options: StoreOptions) ->
        options.Connection dataSource
        options.DatabaseSchemaName <- schema
        options.Events.DatabaseSchemaName <- schema
        options.Events.StreamIdentity <- StreamIdentity.AsString
        options.Events.AppendMode <- EventAppendMode.Quick
        options.UseSystemTextJsonForSerialization(casing = Weasel.Core.Casing.CamelCase)
        options.AutoCreateSchemaObjects <- AutoCreate.None
        options.Events.AddEventType<OrderPlaced>() |> ignore)

/// Runs `work` with a Marten store on a new schema, created before `work` starts and dropped afterwards.
let withStoreAsync (dataSource: NpgsqlDataSource) (purpose: string) (work: DocumentStore -> Task<'T>) : Task<'T> =
    let schema = Postgres.freshSchema purpose
    let store = storeIn dataSource schema

    let cleanup () : Task =
        task {
            store.Dispose()
            let! _ = Postgres.executeAsync dataSource $"DROP SCHEMA IF EXISTS {schema} CASCADE"
            ()
        }

    Postgres.finallyAsync cleanup (fun () ->
        task {
            do! store.Storage.ApplyAllConfiguredChangesToDatabaseAsync(Nullable AutoCreate.CreateOrUpdate)
            return! work store
        })

/// Marten's usual append: the events go onto the stream after whatever it holds (created when new), one
/// `SaveChangesAsync` (one transaction) per append. No expected version: Marten's cheapest path.
let append (store: DocumentStore) (append: Append) : Task =
    task {
        use session = store.LightweightSession()
        session.Events.Append(append.StreamId, eventsOf append) |> ignore
        do! session.SaveChangesAsync ct
    }

/// Marten's optimistic append: fails unless the stream is at `append.After` (Marten's expected version is the
/// stream's version after the events), or, at 0, unless the stream is new.
let appendExpected (store: DocumentStore) (append: Append) : Task =
    task {
        use session = store.LightweightSession()

        if append.After = 0L then
            session.Events.StartStream(append.StreamId, eventsOf append) |> ignore
        else
            session.Events.Append(append.StreamId, append.After + int64 append.Messages.Length, eventsOf append)
            |> ignore

        do! session.SaveChangesAsync ct
    }

/// How many events Marten stored.
let countAsync (dataSource: NpgsqlDataSource) (store: DocumentStore) : Task<int64> =
    Postgres.scalarAsync<int64> dataSource $"SELECT count(*) FROM {store.Options.Events.DatabaseSchemaName}.mt_events"
