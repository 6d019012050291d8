/// Catch-up scenario: events already stored, consumed from scratch by a projection that does nothing with them,
/// from start until every event is acknowledged. Sourced: a runtime with 2 workers running a no-op projector;
/// baseline: Marten's async daemon running a no-op event projection over the same events in its own schema.
module Sourced.Benchmarks.CatchUp

open System
open System.Diagnostics
open System.Threading
open System.Threading.Tasks
open Npgsql
open Sourced
open Sourced.Postgres
open Sourced.Benchmarks.Measure

let private ct = CancellationToken.None
let private scenario = "catch-up"

/// The stored event: about 200 bytes of JSON either way (a record, so that Marten can read it back too).
[<CLIMutable>]
type OrderPlaced =
    {
        OrderId: Guid
        Customer: string
        Sku: string
        Quantity: int
        Price: float
        Currency: string
        Note: string
    }

type Event = Placed of OrderPlaced

let private codec = Codec.union<Event> "catchup"

/// `streams` streams of `perStream` events, written as both stores' applications would have: transactions of
/// 10 events to each of 100 streams, the streams taking turns, so each stream's events are spread over the log.
type Workload =
    {
        Streams: int
        PerStream: int
    }

    member workload.Total = workload.Streams * workload.PerStream

/// Each transaction's streams and their events, in log order.
let private transactions (workload: Workload) : (string * OrderPlaced list) list list =
    let perAppend = 10
    let streamsPerTransaction = 100

    [
        for turn in 0 .. workload.PerStream / perAppend - 1 do
            for first in 0..streamsPerTransaction .. workload.Streams - 1 ->
                [
                    for stream in first .. min workload.Streams (first + streamsPerTransaction) - 1 ->
                        $"order-{stream}",
                        [
                            for n in 1..perAppend ->
                                {
                                    OrderId = Guid.CreateVersion7()
                                    Customer = $"c-{stream}"
                                    Sku = "SKU-123"
                                    Quantity = turn * perAppend + n
                                    Price = 19.99
                                    Currency = "EUR"
                                    Note = "seeded for the catch-up benchmark, leave at the door"
                                }
                        ]
                ]
    ]

/// The same transactions for Marten's append API.
let private boxed (workload: Workload) : (string * obj list) list list =
    transactions workload
    |> List.map (List.map (fun (streamId, events) -> streamId, List.map box events))

// ---- Sourced ---------------------------------------------------------------------------------------------------

/// One `AppendNextAsync` per transaction (the store assigns the seqs).
let private seedSourcedAsync (store: IMessageStore) (workload: Workload) : Task =
    task {
        for transaction in transactions workload do
            let messages =
                [
                    for streamId, events in transaction do
                        for event in events -> Codec.message codec streamId (Placed event)
                ]

            let! _ = store.AppendNextAsync(messages, ct)
            ()
    }

/// A projector that decodes every event and stores nothing: no state to load, a `Sync` that does nothing (it
/// still runs in each batch's completion transaction, where a real projector writes its rows).
let private noOpProjector (group: string) : Reactor =
    Projector.stateStored group codec (fun _ _ -> Task.FromResult()) (fun () _ -> ()) (fun _ _ -> Task.FromResult())
    |> Projector.toReactor

/// One Sourced contender: the runtime's options that differ from the defaults.
type private Contender =
    {
        Name: string
        Options: RuntimeOptions -> RuntimeOptions
    }

/// Runs a runtime over a new group until it has acknowledged `total` events; gives the seconds from start to the
/// last acknowledgement. Checks that the group's lag is then 0, and reports the store calls on stderr.
let private sourcedTurnAsync (store: IMessageStore) (contender: Contender) (group: string) (total: int) =
    task {
        let counts = StoreProbe.Counts()

        let options =
            contender.Options
                { RuntimeOptions.defaults with
                    Workers = 2
                }

        let runtime =
            new Runtime(StoreProbe.probe counts store, [ noOpProjector group ], options)

        let acknowledged = ref 0

        let finished =
            TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)

        use _ =
            runtime.Subscribe(fun event ->
                match event with
                | RuntimeEvent.BatchCompleted(_, _, handled) ->
                    if Interlocked.Add(acknowledged, handled) >= total then
                        finished.TrySetResult() |> ignore
                | RuntimeEvent.GroupStopped failure -> finished.TrySetException failure.Error |> ignore
                | _ -> ())

        let started = Stopwatch.GetTimestamp()
        do! runtime.StartAsync ct

        do! finished.Task.WaitAsync(TimeSpan.FromMinutes 2.0)
        let seconds = Stopwatch.GetElapsedTime(started).TotalSeconds
        do! (runtime :> IAsyncDisposable).DisposeAsync()
        eprintfn "    %s: %.2f s, %O" contender.Name seconds counts
        let! stats = store.GroupStatsAsync ct

        match stats |> List.tryFind (fun stats -> stats.Id = group) with
        | Some stats when stats.Lag = 0L && acknowledged.Value = total -> ()
        | stats -> invalidOp $"Group '{group}' acknowledged {acknowledged.Value} of {total} events: {stats}."

        return seconds
    }

// ---- The contest -----------------------------------------------------------------------------------------------

/// Seeds both schemas (not measured), then settles the server: statistics, and a checkpoint so that writing the
/// seeded pages out does not happen during a turn. Gives Marten's highest event sequence.
let private seedAsync (dataSource: NpgsqlDataSource) (store: IMessageStore) (schemas: string * string) workload =
    task {
        let sourcedSchema, martenSchema = schemas
        let started = Stopwatch.GetTimestamp()
        do! seedSourcedAsync store workload
        let sourcedSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds
        do! MartenDaemon.seedAsync martenSchema typeof<OrderPlaced> (boxed workload)
        let martenSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds - sourcedSeconds
        eprintfn "  seeded in %.1f s (Sourced) and %.1f s (Marten)" sourcedSeconds martenSeconds
        let tables = Postgres.tables sourcedSchema

        let seeded =
            [
                tables.Messages
                tables.Streams
                $"{martenSchema}.mt_events"
                $"{martenSchema}.mt_streams"
            ]

        let! _ =
            Postgres.executeAsync dataSource $"""VACUUM (ANALYZE) {String.Join(", ", seeded)}"""

        let! _ = Postgres.executeAsync dataSource "CHECKPOINT"

        let! highest =
            Postgres.scalarAsync<int64> dataSource $"SELECT max(seq_id) FROM {martenSchema}.mt_events"

        if highest <> int64 workload.Total then
            invalidOp $"Marten stored {highest} events, not {workload.Total}."

        return highest
    }

let private contenders =
    [
        {
            Name = "defaults (claims of up to 10 streams × 100 messages)"
            Options = id
        }
        {
            Name = "one stream per claim (StreamsPerClaim = 1)"
            Options = fun options -> { options with StreamsPerClaim = 1 }
        }
        {
            Name = "up to 20 streams per claim (StreamsPerClaim and MaxDrainRounds 20)"
            Options =
                fun options ->
                    { options with
                        StreamsPerClaim = 20
                        MaxDrainRounds = 20
                    }
        }
    ]

/// A warm-up round, then `rounds` rounds in which Marten and each Sourced contender take a turn, each on a new
/// consumer group or projection (so each starts from scratch), starting with a different one each round. Gives
/// each contender's rates per round, Marten's last.
let private contestAsync dataSource store schemas (workload: Workload) (highest: int64) (rounds: int) =
    task {
        let rates = Array.init (contenders.Length + 1) (fun _ -> ResizeArray<float>())

        let turns round =
            [
                for index, contender in List.indexed contenders do
                    yield index, (fun () -> sourcedTurnAsync store contender $"noop_{round}_{index}" workload.Total)

                yield
                    contenders.Length,
                    (fun () ->
                        MartenDaemon.catchUpAsync dataSource (snd schemas) typeof<OrderPlaced> $"noop_{round}" highest)
            ]

        for round in 0..rounds do
            let turns = turns round
            let shift = round % turns.Length

            for index, turn in turns[shift..] @ turns[.. shift - 1] do
                let! _ = Postgres.executeAsync dataSource "CHECKPOINT"
                let! seconds = turn ()

                if round > 0 then
                    rates[index].Add(float workload.Total / seconds)

        return rates |> Array.map List.ofSeq
    }

let run (quick: bool) : Task<Figure list> =
    task {
        let workload =
            if quick then
                { Streams = 100; PerStream = 100 }
            else
                { Streams = 1_000; PerStream = 100 }

        let rounds = if quick then 1 else 3
        let label = $"{workload.Total / 1_000}k events over {workload.Streams} streams"
        use dataSource = NpgsqlDataSource.Create(Postgres.connectionString ())

        return!
            Postgres.withSchemasAsync dataSource [ "catchup_sourced"; "catchup_marten" ] (fun schemas ->
                Postgres.withStoreAsync dataSource schemas[0] (fun store ->
                    task {
                        let store = store :> IMessageStore
                        let schemas = schemas[0], schemas[1]
                        eprintfn "  seeding %s, twice..." label
                        let! highest = seedAsync dataSource store schemas workload
                        let! rates = contestAsync dataSource store schemas workload highest rounds
                        let martenRates = Array.last rates

                        let baseline =
                            figure
                                scenario
                                $"Marten's async daemon, {label} (baseline)"
                                "events/s"
                                (median martenRates)

                        let sourced =
                            [
                                for contender, samples in
                                    List.zip contenders (List.ofArray rates[.. contenders.Length - 1]) ->
                                    let measured =
                                        figure
                                            scenario
                                            $"runtime, 2 workers, {contender.Name}, {label}"
                                            "events/s"
                                            (median samples)
                                        |> againstPaired baseline martenRates samples

                                    // NOTE: the target is for the defaults; the other contenders are diagnostics.
                                    if obj.ReferenceEquals(contender, List.head contenders) then
                                        measured |> goal ">= 2x Marten's daemon" (ratioAtLeast 2.0)
                                    else
                                        measured
                            ]

                        return baseline :: sourced
                    }))
    }
