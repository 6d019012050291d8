/// Postgres latency scenario: chains of command → event → reaction → command on another actor → event (`Chain`:
/// Ping → Pinged → the reaction sends Pong to a new pongs stream → Ponged), one at a time, through the normal
/// runtime (default options) on the Postgres store. A chain runs from the dispatch call to the commit of Ponged, as
/// the store announces it; a read of the correlation then checks that all four messages are stored.
module Sourced.Benchmarks.PostgresLatency

open System
open System.Collections.Concurrent
open System.Diagnostics
open System.Runtime.ExceptionServices
open System.Threading
open System.Threading.Tasks
open Npgsql
open Sourced
open Sourced.Benchmarks.Chain
open Sourced.Benchmarks.LatencyChain
open Sourced.Benchmarks.Measure

let private ct = CancellationToken.None
let private scenario = "latency"

/// A way of running chains, and the chains it ran.
[<NoEquality; NoComparison>]
type private Variant =
    {
        Name: string
        /// Dispatched and heard through another store instance: another process, as far as the store can tell.
        Remote: bool
        /// With background load chains meanwhile.
        Loaded: bool
        PerRound: int
        Runs: ResizeArray<Run>
        Rates: ResizeArray<float>
    }

let private ms (from: int64) (until: int64) =
    Stopwatch.GetElapsedTime(from, until).TotalMilliseconds

let private total (run: Run) =
    ms run.Started (if run.Remote then run.Heard else run.Stored)

/// p50, p95 and p99 of the floor and of each variant's chains against it; the target on the first variant's p99.
let private chainFigures (floors: ResizeArray<float>) (variants: Variant list) : Figure list =
    let at (name: string) (samples: float seq) (rank: float) =
        latency scenario $"{name}: p{int rank} of {Seq.length samples}" (percentile rank samples)

    [
        for rank in [ 50.0; 95.0; 99.0 ] do
            let baseline =
                at "floor: the 4 messages in 4 durable commits, raw Npgsql" floors rank

            yield baseline

            for variant in variants do
                let chain =
                    at $"chain, {variant.Name}" (Seq.map total variant.Runs) rank
                    |> against baseline

                if rank = 99.0 && variant.Name = variants.Head.Name then
                    yield chain |> goal "<= 25 ms" (fun figure -> figure.Value <= 25.0)
                else
                    yield chain
    ]

/// Where a variant's chains spent their time, up to Ponged stored: medians (and `ranks` besides), in ms.
let private breakdown (steps: Map<Guid, float * float>) (ranks: float list) (variant: Variant) : Figure list =
    let claims (run: Run) = fst steps[run.Correlation]
    let completions (run: Run) = snd steps[run.Correlation]

    let parts =
        [
            "dispatch (Ping stored)", (fun run -> ms run.Started run.Dispatched)
            "hop 1 (Ping decided, Pinged stored)", (fun run -> ms run.Dispatched run.Pinged)
            "hop 2 (Pinged reacted to, Pong stored)", (fun run -> ms run.Pinged run.Pong)
            "hop 3 (Pong decided, Ponged stored)", (fun run -> ms run.Pong run.Stored)
            if variant.Remote then
                "Ponged heard through LISTEN/NOTIFY", (fun run -> ms run.Stored run.Heard)
            "in its claims (3 batches)", claims
            "in its completions (3 batches)", completions
            "in wake-ups, queueing, handlers (the rest)",
            fun run ->
                ms run.Started run.Stored
                - ms run.Started run.Dispatched
                - claims run
                - completions run
        ]

    [
        for part, measure in parts do
            for rank in 50.0 :: ranks ->
                let samples = variant.Runs |> Seq.map measure
                latency scenario $"  {variant.Name}: {part}: p{int rank}" (percentile rank samples)
    ]

/// The floor, in ms: the chain's four messages stored by raw Npgsql in the store's tables, one after the other,
/// each in its own durable commit (as the dispatch and the three completions are), with nothing between them.
let private floorAsync (append: RawAppend.Append -> Task) (number: int) : Task<float> =
    task {
        let pings = $"ping-{Guid.NewGuid():N}"
        let pongs = $"pongs-{Guid.NewGuid()}"

        let steps =
            [
                pings, 0L, Actor.command Pings.actor pings (Pings.Ping number)
                pings, 1L, Codec.message Pings.actor.Events pings (Pings.Pinged number)
                pongs, 0L, Actor.command Pongs.actor pongs (Pongs.Pong number)
                pongs, 1L, Codec.message Pongs.actor.Events pongs (Pongs.Ponged number)
            ]

        let started = Stopwatch.GetTimestamp()

        for streamId, after, message in steps do
            do!
                append
                    {
                        StreamId = streamId
                        After = after
                        Messages = [ message ]
                    }

        return Stopwatch.GetElapsedTime(started).TotalMilliseconds
    }

/// Each variant's chains of one round, one at a time; the background load runs through the loaded variant's turn.
let private roundAsync current runtime local remote floor (floors: ResizeArray<float>) (variants: Variant list) record =
    task {
        for number in 1 .. variants.Head.PerRound do
            let! took = floorAsync floor number

            if record then
                floors.Add took

        for variant in variants do
            let stop =
                if variant.Loaded then
                    Some(startLoad runtime (TimeSpan.FromMilliseconds 50.0))
                else
                    None

            for number in 1 .. variant.PerRound do
                let! run =
                    chainAsync current (if variant.Remote then remote else local) variant.Remote number

                if record then
                    variant.Runs.Add run

            match stop with
            | Some stop ->
                let! rate = stop ()

                if record then
                    variant.Rates.Add rate
            | None -> ()
    }

/// Runs the chains with a runtime on `store`: the variants take turns, after a round of warm-up.
let private measureAsync quick (floor: RawAppend.Append -> Task) (store: IMessageStore) (client: IMessageStore) =
    task {
        let floors = ResizeArray<float>()
        let current = ref None
        let steps = ConcurrentQueue<struct (Guid * bool * float)>()

        let timed =
            timing store (fun id claim took -> steps.Enqueue(struct (id, claim, took)))

        let reactors =
            Chain.reactors @ [ Actor.toReactor loadPings; Actor.toReactor loadPongs ]

        let runtime = new Runtime(timed, reactors, RuntimeOptions.defaults)
        use _ = store.Subscribe(onStored current)
        use _ = client.Subscribe(onHeard current)

        let variant name remote loaded perRound =
            {
                Name = name
                Remote = remote
                Loaded = loaded
                PerRound = perRound
                Runs = ResizeArray()
                Rates = ResizeArray()
            }

        let scale = if quick then 1 else 3

        let variants =
            [
                variant "same process" false false (25 * scale)
                variant "with background load" false true (20 * scale)
                variant "from another process" true false (12 * scale)
            ]

        do! runtime.StartAsync ct

        let! outcome =
            task {
                try
                    let warmUp = variants |> List.map (fun variant -> { variant with PerRound = 10 })
                    do! roundAsync current runtime timed client floor floors warmUp false

                    for _ in 1 .. (if quick then 2 else 5) do
                        do! roundAsync current runtime timed client floor floors variants true

                    return Ok()
                with error ->
                    return Error(ExceptionDispatchInfo.Capture error)
            }

        do! (runtime :> IAsyncDisposable).DisposeAsync()

        match outcome with
        | Error error -> error.Throw()
        | Ok() -> ()

        let steps =
            steps
            |> Seq.groupBy (fun struct (id, _, _) -> id)
            |> Seq.map (fun (id, records) ->
                let sum claim =
                    records
                    |> Seq.sumBy (fun struct (_, isClaim, took) -> if isClaim = claim then took else 0.0)

                id, (sum true, sum false))
            |> Map.ofSeq

        let loaded = variants |> List.find (fun variant -> variant.Loaded)

        return
            chainFigures floors variants
            @ [
                figure scenario $"background load during the loaded chains" "chains/s" (median loaded.Rates)
            ]
            @ (variants
               |> List.collect (fun variant -> breakdown steps (if variant.Remote then [] else [ 99.0 ]) variant))
    }

let run (quick: bool) : Task<Figure list> =
    task {
        use dataSource = NpgsqlDataSource.Create(Postgres.connectionString ())
        // NOTE: the client has a pool and a notifier of its own, as another process would.
        use clientSource = NpgsqlDataSource.Create(Postgres.connectionString ())

        return!
            Postgres.withSchemasAsync dataSource [ "latency"; "latency_floor" ] (fun schemas ->
                let schema = schemas[0]
                // NOTE: a schema of its own, so that the runtime's reactors never see the floor's messages.
                let floor = RawAppend.one dataSource (Postgres.tables schemas[1])

                Postgres.withStoreAsync dataSource schema (fun store ->
                    Postgres.withStoreAsync clientSource schema (fun client -> measureAsync quick floor store client)))
    }
