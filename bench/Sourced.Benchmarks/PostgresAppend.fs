/// Postgres append scenario: the store's `AppendAsync` against raw Npgsql writing the same rows into the same
/// tables (each contender has a schema of its own, installed by the store, so the DDL is the same; see `RawAppend`
/// for the baselines), one client, sequential appends, contenders taking turns every few appends so that a noisy
/// machine slows them alike. Ratios are medians of per-round ratios.
module Sourced.Benchmarks.PostgresAppend

open System
open System.Diagnostics
open System.Threading
open System.Threading.Tasks
open Npgsql
open Sourced
open Sourced.Benchmarks.Measure
open Sourced.Benchmarks.RawAppend

let private ct = CancellationToken.None
let private scenario = "postgres-append"

/// A typical event: about 200 bytes of JSON.
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

let private storeAppend (store: IMessageStore) (append: Append) : Task =
    task {
        match! store.AppendAsync(append.StreamId, append.After, append.Messages, ct) with
        | AppendResult.Appended _ -> ()
        | AppendResult.Conflict _ -> conflict append
    }

// ---- The contest -------------------------------------------------------------------------------------------------

/// One way of appending, into a schema of its own.
type private Contender =
    { Name: string; Append: Append -> Task }

/// One warm-up round, then `rounds` rounds. In each, every contender gets the same fresh workload, and they take
/// turns every `block` appends, starting with a different contender each turn: drift on a noisy machine (other
/// processes, the disk's fsync latency) then hits every contender alike. Gives each contender's rate per round
/// (events per second of its own time).
let private contest
    (rounds: int)
    (block: int)
    (contenders: Contender list)
    (work: string -> Append list)
    : Task<float list list> =
    task {
        let contenders = Array.ofList contenders
        let rates = contenders |> Array.map (fun _ -> ResizeArray<float>())

        for round in 0..rounds do
            let blocks =
                contenders
                |> Array.map (fun _ -> work $"r{round}" |> List.chunkBySize block |> Array.ofList)

            let elapsed = Array.zeroCreate<TimeSpan> contenders.Length
            GC.Collect()

            for turn in 0 .. blocks[0].Length - 1 do
                for offset in 0 .. contenders.Length - 1 do
                    let index = (round + turn + offset) % contenders.Length
                    let started = Stopwatch.GetTimestamp()

                    for append in blocks[index][turn] do
                        do! contenders[index].Append append

                    elapsed[index] <- elapsed[index] + Stopwatch.GetElapsedTime started

            if round > 0 then
                for index in 0 .. contenders.Length - 1 do
                    let events =
                        blocks[index] |> Array.sumBy (List.sumBy (fun append -> append.Messages.Length))

                    rates[index].Add(float events / elapsed[index].TotalSeconds)

        return [ for rate in rates -> List.ofSeq rate ]
    }

/// Each contender's figure: its median rate, and its ratio to the baseline's (the median of the per-round ratios).
let private figures (contenders: Contender list) (rates: float list list) (baseline: int) : Figure list =
    let baselineFigure =
        figure scenario (contenders[baseline].Name + " (baseline)") "events/s" (median rates[baseline])

    List.mapi2
        (fun index (contender: Contender) (samples: float list) ->
            if index = baseline then
                baselineFigure
            else
                figure scenario contender.Name "events/s" (median samples)
                |> againstPaired baselineFigure rates[baseline] samples)
        contenders
        rates

/// One event per append: the store against one raw statement per event (and, to tell where the store's time
/// goes, the same raw statement in an explicit transaction, which is how the store runs its statement).
let private single (dataSource: NpgsqlDataSource) (quick: bool) (rounds: int) : Task<Figure list> =
    Postgres.withSchemasAsync dataSource [ "single_store"; "single_raw"; "single_rawtx" ] (fun schemas ->
        Postgres.withStoreAsync dataSource schemas[0] (fun store ->
            task {
                let streams = if quick then 20 else 30
                let tables = schemas |> List.map Postgres.tables

                let contenders =
                    [
                        {
                            Name = "1 event per append: raw Npgsql, 1 statement"
                            Append = RawAppend.one dataSource tables[1]
                        }
                        {
                            Name = "1 event per append: store AppendAsync"
                            Append = storeAppend store
                        }
                        {
                            Name = "1 event per append: raw, same statement in BEGIN/COMMIT (diagnostic)"
                            Append = RawAppend.oneInTransaction dataSource tables[2]
                        }
                    ]

                let! rates = contest rounds 10 contenders (fun prefix -> workload prefix streams 5 1)

                return
                    figures contenders rates 0
                    |> List.mapi (fun index figure ->
                        if index = 1 then
                            goal ">= 0.85" (ratioAtLeast 0.85) figure
                        else
                            figure)
            }))

/// 100 events per append: the store against three raw ways of writing a batch; the fastest is the baseline.
let private batch (dataSource: NpgsqlDataSource) (quick: bool) (rounds: int) : Task<Figure list> =
    let size = 100
    let purposes = [ "batch_arrays"; "batch_values"; "batch_copy"; "batch_store" ]

    Postgres.withSchemasAsync dataSource purposes (fun schemas ->
        Postgres.withStoreAsync dataSource schemas[3] (fun store ->
            task {
                let streams = if quick then 5 else 10
                let tables = schemas |> List.map Postgres.tables

                let contenders =
                    [
                        {
                            Name = $"{size} events per append: raw Npgsql, unnest(arrays), 1 statement"
                            Append = RawAppend.arrays dataSource tables[0]
                        }
                        {
                            Name = $"{size} events per append: raw Npgsql, multi-row VALUES, 1 statement"
                            Append = RawAppend.values dataSource tables[1] size
                        }
                        {
                            Name = $"{size} events per append: raw Npgsql, binary COPY in a transaction"
                            Append = RawAppend.copy dataSource tables[2]
                        }
                        {
                            Name = $"{size} events per append: store AppendAsync"
                            Append = storeAppend store
                        }
                    ]

                let! rates =
                    contest rounds 2 contenders (fun prefix -> workload prefix streams 2 size)

                let raws = List.truncate 3 rates
                let fastest = raws |> List.map median |> List.indexed |> List.maxBy snd |> fst

                return
                    figures contenders rates fastest
                    |> List.mapi (fun index figure ->
                        if index = 3 then
                            goal ">= 0.8" (ratioAtLeast 0.8) figure
                        else
                            figure)
            }))

let run (quick: bool) : Task<Figure list> =
    task {
        use dataSource = NpgsqlDataSource.Create(Postgres.connectionString ())
        let rounds = if quick then 5 else 15
        let! singles = single dataSource quick rounds
        let! batches = batch dataSource quick rounds
        return singles @ batches
    }
