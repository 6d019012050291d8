/// The append scenario: the store's `AppendAsync` against raw Npgsql writing the same rows into the same tables
/// (each contender has a schema of its own, installed by the store, so the DDL is the same; see `RawAppend` for
/// the baselines) and against Marten's Quick appends (`MartenAppend`), in four parts: one event per append with
/// one writer and with 8 concurrent writers, 100 events per append, and optimistic appends to existing streams.
/// Contenders take turns every few appends (`AppendContest`), so that a noisy machine slows them alike.
module Sourced.Benchmarks.PostgresAppend

open System.Threading
open System.Threading.Tasks
open Marten
open Npgsql
open Sourced
open Sourced.Benchmarks.AppendContest
open Sourced.Benchmarks.Measure
open Sourced.Benchmarks.RawAppend

let private ct = CancellationToken.None
let private scenario = "append"

/// A typical event: about 200 bytes of JSON (`MartenAppend.OrderPlaced` serialises to the same).
let private payload =
    Json.parse
        """{"orderId":"0190f3c4-6a1e-7c52-9d3b-2f6a8e1b4c7d","customer":"c-1042","lines":[{"sku":"SKU-123","quantity":2,"price":19.99},{"sku":"SKU-987","quantity":1,"price":5.5}],"currency":"EUR","note":"leave at the door"}"""

/// `streams` streams, each written by `appends` appends of `size` events: the first creates the stream.
let private workload (prefix: string) (streams: int) (appends: int) (size: int) : Append list =
    [
        for stream in 1..streams do
            let streamId = $"{prefix}-{stream}"

            for append in 0 .. appends - 1 do
                let after = int64 (append * size)

                {
                    StreamId = streamId
                    After = after
                    Messages =
                        [
                            for n in 1..size ->
                                { Message.create streamId "OrderPlaced" payload with
                                    Seq = after + int64 n
                                }
                        ]
                }
    ]

/// `writers` writers, each with a workload of its own; all of it measured.
let private concurrent (writers: int) (streams: int) (appends: int) (size: int) (prefix: string) : Round =
    {
        Setup = []
        Writers =
            [
                for writer in 1..writers -> workload $"{prefix}-w{writer}" streams appends size
            ]
    }

/// One writer appending to streams that exist: their first appends are made before the clock starts.
let private existing (streams: int) (appends: int) (prefix: string) : Round =
    let all = workload prefix streams (appends + 1) 1

    {
        Setup = all |> List.filter (fun append -> append.After = 0L)
        Writers = [ all |> List.filter (fun append -> append.After > 0L) ]
    }

let private storeAppend (store: IMessageStore) (append: Append) : Task =
    task {
        match! store.AppendAsync(append.StreamId, append.After, append.Messages, ct) with
        | AppendResult.Appended _ -> ()
        | AppendResult.Conflict _ -> conflict append
    }

let private countIn (dataSource: NpgsqlDataSource) (tables: Postgres.Tables) () =
    Postgres.scalarAsync<int64> dataSource $"SELECT count(*) FROM {tables.Messages}"

let private raw (dataSource: NpgsqlDataSource) (tables: Postgres.Tables) name append =
    {
        Name = name
        Append = append dataSource tables
        Count = countIn dataSource tables
    }

let private sourced (dataSource: NpgsqlDataSource) (tables: Postgres.Tables) (store: IMessageStore) name =
    {
        Name = name
        Append = storeAppend store
        Count = countIn dataSource tables
    }

let private marten (dataSource: NpgsqlDataSource) (store: DocumentStore) name append =
    {
        Name = name
        Append = append store
        Count = fun () -> MartenAppend.countAsync dataSource store
    }

/// The figures of one part: each contender against the baseline, the store's with its target, and the store
/// against Marten (the last contender) as a figure of its own, with the target 1.0.
let private report (contenders: Contender list) (rates: float list list) (baseline: int) (store: int) (least: float) =
    let label = contenders[store].Name.Split(':')[0]
    let marten = contenders.Length - 1

    [
        yield!
            figures scenario contenders rates baseline
            |> List.mapi (fun index figure ->
                if index = store then
                    goal $">= {least}" (ratioAtLeast least) figure
                else
                    figure)
        versus scenario $"{label}: store vs Marten" contenders rates store marten
        |> goal ">= 1.0" (ratioAtLeast 1.0)
    ]

/// Runs `work` with the store's schemas for `purposes` (the last one the store's) and a Marten schema.
let private withContenders dataSource (purposes: string list) work =
    Postgres.withSchemasAsync dataSource purposes (fun schemas ->
        Postgres.withStoreAsync dataSource (List.last schemas) (fun store ->
            MartenAppend.withStoreAsync dataSource (List.head purposes + "_marten") (fun martenStore ->
                work (schemas |> List.map Postgres.tables) (store :> IMessageStore) martenStore)))

/// One event per append, one writer: the store against one raw statement per event (and, to tell what a second
/// round trip costs, the same raw statement in an explicit transaction, which is how Marten commits).
let private single (dataSource: NpgsqlDataSource) (quick: bool) (rounds: int) : Task<Figure list> =
    withContenders dataSource [ "single_raw"; "single_rawtx"; "single_store" ] (fun tables store martenStore ->
        task {
            let label = "1 event per append, 1 writer"

            let contenders =
                [
                    raw dataSource tables[0] $"{label}: raw Npgsql, 1 statement" RawAppend.one
                    sourced dataSource tables[2] store $"{label}: store AppendAsync"
                    raw dataSource tables[1] $"{label}: raw in BEGIN/COMMIT (diagnostic)" RawAppend.oneInTransaction
                    marten dataSource martenStore $"{label}: Marten Quick append" MartenAppend.append
                ]

            let streams = if quick then 12 else 30
            let! rates = contest rounds 10 contenders (concurrent 1 streams 5 1)
            return report contenders rates 0 1 0.85
        })

/// One event per append, 8 writers at once, each on streams of its own.
let private eight (dataSource: NpgsqlDataSource) (quick: bool) (rounds: int) : Task<Figure list> =
    withContenders dataSource [ "eight_raw"; "eight_store" ] (fun tables store martenStore ->
        task {
            let label = "1 event per append, 8 writers"

            let contenders =
                [
                    raw dataSource tables[0] $"{label}: raw Npgsql, 1 statement" RawAppend.one
                    sourced dataSource tables[1] store $"{label}: store AppendAsync"
                    marten dataSource martenStore $"{label}: Marten Quick append" MartenAppend.append
                ]

            let streams = if quick then 4 else 6
            let! rates = contest rounds 5 contenders (concurrent 8 streams 5 1)
            return report contenders rates 0 1 0.85
        })

/// 100 events per append: the store against three raw ways of writing a batch; the fastest is the baseline.
let private batch (dataSource: NpgsqlDataSource) (quick: bool) (rounds: int) : Task<Figure list> =
    let size = 100
    let purposes = [ "batch_arrays"; "batch_values"; "batch_copy"; "batch_store" ]

    withContenders dataSource purposes (fun tables store martenStore ->
        task {
            let label = $"{size} events per append"

            let contenders =
                [
                    raw dataSource tables[0] $"{label}: raw Npgsql, unnest(arrays), 1 statement" RawAppend.arrays
                    raw
                        dataSource
                        tables[1]
                        $"{label}: raw Npgsql, multi-row VALUES, 1 statement"
                        (fun source tables -> RawAppend.values source tables size)
                    raw dataSource tables[2] $"{label}: raw Npgsql, binary COPY in a transaction" RawAppend.copy
                    sourced dataSource tables[3] store $"{label}: store AppendAsync"
                    marten dataSource martenStore $"{label}: Marten Quick append" MartenAppend.append
                ]

            let streams = if quick then 5 else 10
            let! rates = contest rounds 2 contenders (concurrent 1 streams 2 size)

            let fastest =
                rates
                |> List.truncate 3
                |> List.map median
                |> List.indexed
                |> List.maxBy snd
                |> fst

            return report contenders rates fastest 3 0.8
        })

/// Fails unless the contender refuses an append at a stale seq to a stream it wrote (at seq 6 by now), storing
/// nothing, and then takes the append at seq 6: the check that the optimistic part measures is really made.
let private refusesStale (contender: Contender) : Task =
    task {
        let appends = workload "r1" 1 7 1
        let! before = contender.Count()

        let! refused =
            task {
                try
                    do! contender.Append appends[2]
                    return false
                with _ ->
                    return true
            }

        do! contender.Append appends[6]
        let! after = contender.Count()

        if not refused || after <> before + 1L then
            invalidOp $"'{contender.Name}' did not refuse an append at a stale seq."
    }

/// One event per append at the seq the writer knows, to streams that exist: every contender checks it.
let private optimistic (dataSource: NpgsqlDataSource) (quick: bool) (rounds: int) : Task<Figure list> =
    withContenders dataSource [ "expected_raw"; "expected_store" ] (fun tables store martenStore ->
        task {
            let label = "1 event per append at an expected seq"

            let contenders =
                [
                    raw dataSource tables[0] $"{label}: raw Npgsql, 1 statement" RawAppend.one
                    sourced dataSource tables[1] store $"{label}: store AppendAsync"
                    marten dataSource martenStore $"{label}: Marten Quick append" MartenAppend.appendExpected
                ]

            let streams = if quick then 12 else 30
            let! rates = contest rounds 10 contenders (existing streams 5)

            for contender in contenders do
                do! refusesStale contender

            return report contenders rates 0 1 0.85
        })

let run (quick: bool) : Task<Figure list> =
    task {
        use dataSource = NpgsqlDataSource.Create(Postgres.connectionString ())
        let rounds = if quick then 5 else 15
        let! singles = single dataSource quick rounds
        let! eights = eight dataSource quick rounds
        let! batches = batch dataSource quick rounds
        let! expected = optimistic dataSource quick rounds
        return singles @ eights @ batches @ expected
    }
