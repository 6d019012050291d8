/// Postgres scale scenario: the latency of a claim (`ClaimAsync`: discovery and claim in one round trip) and of a
/// cycle of claim + acknowledging `CompleteAsync` (a handled batch with no actions), with 10k, 100k and 1M streams
/// pending for one consumer group: most streams pending is the worst case for the claim's index. Each size has a
/// schema of its own, seeded with set-based SQL (checked against what the store's own discovery records), and the
/// sizes take turns so that a noisy machine slows them alike. "Claim alone" is the `ClaimAsync` part of each cycle.
/// Then the memory the pending streams use: the store's tables per 100k streams, and the worker's managed heap
/// before and after claiming at each size (the store keeps no per-stream state in memory).
module Sourced.Benchmarks.PostgresScale

open System
open System.Diagnostics
open System.Threading
open System.Threading.Tasks
open Npgsql
open Sourced
open Sourced.Postgres
open Sourced.Benchmarks.Measure

let private ct = CancellationToken.None
let private scenario = "scale"
let private group = ScaleSeeding.group
let private messageType = ScaleSeeding.messageType

/// The claims of one size: its store, the next stream it must hand out, and the latencies measured.
type private Size =
    {
        Streams: int
        Store: IMessageStore
        mutable Next: int
        Claims: ResizeArray<float>
        Cycles: ResizeArray<float>
    }

/// Claims the oldest pending stream and acknowledges its message; checks that it is the stream and message the
/// seeding put first in line. Records the claim's latency and the whole cycle's, when `record`.
let private cycleAsync (size: Size) (record: bool) : Task =
    task {
        let request =
            {
                Group = group
                Worker = "bench-worker"
                BatchSize = 100
                WithHistory = false
            }

        let started = Stopwatch.GetTimestamp()
        let! claim = size.Store.ClaimAsync(request, ct)
        let claimed = Stopwatch.GetElapsedTime started
        let expected = $"claim-{size.Next}"

        let claim =
            match claim with
            | Some claim when
                claim.StreamId = expected
                && (match claim.Messages with
                    | [ pending ] ->
                        pending.Message.StreamId = expected
                        && pending.Message.Seq = 1L
                        && pending.Message.Type = messageType
                        && pending.Message.Payload.GetProperty("number").GetInt32() = size.Next
                        && not pending.Replaying
                    | _ -> false)
                ->
                claim
            | Some claim ->
                invalidOp
                    $"With {size.Streams} streams, the claim was for '{claim.StreamId}' with {claim.Messages.Length} message(s); expected '{expected}' and its one message."
            | None -> invalidOp $"With {size.Streams} streams, nothing was claimed; expected '{expected}'."

        let completing = Stopwatch.GetTimestamp()

        let handled =
            [
                for pending in claim.Messages ->
                    {
                        Message = pending.Message
                        Actions = []
                    }
            ]

        match! size.Store.CompleteAsync(claim, handled, ct) with
        | CompleteResult.Completed -> ()
        | conflict -> invalidOp $"Acknowledging '{expected}' did not complete: {conflict}."

        let completed = Stopwatch.GetElapsedTime completing
        size.Next <- size.Next + 1

        if record then
            size.Claims.Add claimed.TotalMilliseconds
            size.Cycles.Add (claimed + completed).TotalMilliseconds
    }

/// Up to `cycles` cycles, fewer when they take longer than `budget` in all (at least one): a store whose claims
/// slow down with the number of streams still finishes, with fewer samples (the figures say how many).
let private turnAsync (budget: TimeSpan) (size: Size) (cycles: int) (record: bool) : Task =
    task {
        let started = Stopwatch.GetTimestamp()
        let mutable left = cycles

        while left > 0 do
            do! cycleAsync size record

            left <-
                if Stopwatch.GetElapsedTime started > budget then
                    0
                else
                    left - 1
    }

let private label (streams: int) =
    if streams >= 1_000_000 then $"{streams / 1_000_000}M"
    elif streams >= 1_000 then $"{streams / 1_000}k"
    else string streams

/// Median and p99 of claims and of cycles at each size; the larger sizes against the smallest (the ratio tells
/// whether latency stays flat as streams grow), with the targets on the largest.
let private figures (sizes: Size list) : Figure list =
    let smallest = sizes.Head
    let largest = List.last sizes

    let measures =
        [
            "claim + complete", (fun size -> size.Cycles), 50.0, "median"
            "claim + complete", (fun size -> size.Cycles), 99.0, "p99"
            "claim alone", (fun size -> size.Claims), 50.0, "median"
            "claim alone", (fun size -> size.Claims), 99.0, "p99"
        ]

    [
        for what, samples, rank, rankName in measures do
            let at (size: Size) =
                let samples = samples size

                latency
                    scenario
                    $"{what}, {label size.Streams} streams pending: {rankName} of {samples.Count}"
                    (percentile rank samples)

            let baseline = at smallest

            for size in sizes do
                if size.Streams = smallest.Streams then
                    yield baseline
                elif size.Streams = largest.Streams && rank = 50.0 then
                    yield
                        at size
                        |> against baseline
                        |> goal "<= 5 ms" (fun figure -> figure.Value <= 5.0)
                else
                    yield at size |> against baseline
    ]

/// Bytes of each of the store's tables in a schema, with its indexes and TOAST, as seeded and vacuumed.
let private tableBytesAsync (dataSource: NpgsqlDataSource) (schema: string) : Task<(string * int64) list> =
    task {
        let tables = Postgres.tables schema

        let! sizes =
            [
                "messages", tables.Messages
                "streams", tables.Streams
                "offsets (the group's)", tables.Offsets
            ]
            |> List.map (fun (what, table) ->
                task {
                    let! bytes =
                        Postgres.scalarAsync<int64> dataSource $"SELECT pg_total_relation_size('{table}')"

                    return what, bytes
                })
            |> Task.WhenAll

        return List.ofArray sizes
    }

/// Each table's MB per 100k streams at each size, against the smallest size's.
let private tableFigures (tableBytes: (int * (string * int64) list) list) : Figure list =
    let at (streams: int) (what: string) (bytes: int64) =
        { latency
              scenario
              $"database: {what}, {label streams} streams pending, per 100k streams"
              (float bytes / 1048576.0 / (float streams / 100_000.0)) with
            Unit = "MB"
        }

    let smallest, baselines = tableBytes.Head

    [
        for what, bytes in baselines do
            let baseline = at smallest what bytes
            yield baseline

            for streams, sizes in tableBytes.Tail do
                yield
                    at streams what (sizes |> List.find (fst >> (=) what) |> snd)
                    |> against baseline
    ]

/// Live managed bytes after a full blocking collection.
let private liveBytes () =
    GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, true, true)
    GC.WaitForPendingFinalizers()
    GC.GetTotalMemory true

/// The worker's managed heap before and after a turn of claims at each size, smallest first, and its working set
/// after: a store that kept state per stream would grow with the number of streams pending.
let private memoryAsync (budget: TimeSpan) (sizes: Size list) : Task<Figure list> =
    task {
        let measured = ResizeArray()

        for size in sizes do
            let first = size.Next
            let before = liveBytes ()
            do! turnAsync budget size 200 false
            let after = liveBytes ()
            use proc = Process.GetCurrentProcess()
            measured.Add(size, size.Next - first, before, after, proc.WorkingSet64)

        let mb (bytes: int64) = float bytes / 1048576.0

        let megabytes name value =
            { latency scenario name value with
                Unit = "MB"
            }

        let at (size, cycles, _, after, workingSet) =
            megabytes
                $"worker: managed heap after {cycles} claims + completes at {label size.Streams} pending (live, full GC)"
                (mb after),
            megabytes $"worker: working set after them, {label size.Streams} pending" (mb workingSet)

        let heapBaseline, workingSetBaseline = at measured[0]

        return
            [
                for index, entry in Seq.indexed measured do
                    let size, cycles, before, after, _ = entry
                    let heap, workingSet = at entry

                    if index = 0 then
                        yield! [ heapBaseline; workingSetBaseline ]
                    else
                        yield! [ heap |> against heapBaseline; workingSet |> against workingSetBaseline ]

                    yield
                        { latency
                              scenario
                              $"worker: managed heap growth over the {cycles} claims at {label size.Streams} pending"
                              (float (after - before) / 1024.0) with
                            Unit = "KB"
                        }
            ]
    }

let rec private withStoresAsync
    (dataSource: NpgsqlDataSource)
    (schemas: string list)
    (work: PostgresStore list -> Task<'T>)
    : Task<'T> =
    match schemas with
    | [] -> work []
    | schema :: rest ->
        Postgres.withStoreAsync dataSource schema (fun store ->
            withStoresAsync dataSource rest (fun stores -> work (store :: stores)))

/// Registers the group and seeds `count` streams; gives the seconds it took (with VACUUM ANALYZE and CHECKPOINT).
let private prepareAsync (dataSource: NpgsqlDataSource) (schema: string) (store: IMessageStore) (count: int) =
    task {
        do! ScaleSeeding.registerAsync store
        eprintfn "  seeding %s streams..." (label count)
        let started = Stopwatch.GetTimestamp()
        do! ScaleSeeding.seedAsync dataSource schema count true
        return Stopwatch.GetElapsedTime(started).TotalSeconds
    }

let run (quick: bool) : Task<Figure list> =
    task {
        use dataSource = NpgsqlDataSource.Create(Postgres.connectionString ())
        do! ScaleSeeding.checkSeedingAsync dataSource

        let counts =
            if quick then
                [ 10_000; 100_000 ]
            else
                [ 10_000; 100_000; 1_000_000 ]

        let rounds = if quick then 5 else 10
        let budget = TimeSpan.FromSeconds(if quick then 1.0 else 2.0)
        let cyclesPerTurn = 40
        let purposes = counts |> List.map (fun count -> $"claims_{count}")

        return!
            Postgres.withSchemasAsync dataSource purposes (fun schemas ->
                withStoresAsync dataSource schemas (fun stores ->
                    task {
                        let sizes = ResizeArray<Size>()
                        let seeding = ResizeArray<Figure>()
                        let tableBytes = ResizeArray()

                        for (count, schema), store in List.zip (List.zip counts schemas) stores do
                            let store = store :> IMessageStore
                            let! seconds = prepareAsync dataSource schema store count
                            let! bytes = tableBytesAsync dataSource schema
                            tableBytes.Add(count, bytes)

                            seeding.Add
                                { latency
                                      scenario
                                      $"seeding {label count} streams (set-based SQL, VACUUM ANALYZE, CHECKPOINT)"
                                      seconds with
                                    Unit = "s"
                                }

                            sizes.Add
                                {
                                    Streams = count
                                    Store = store
                                    Next = 1
                                    Claims = ResizeArray()
                                    Cycles = ResizeArray()
                                }

                        for size in sizes do
                            do! turnAsync budget size 20 false

                        for round in 0 .. rounds - 1 do
                            for offset in 0 .. sizes.Count - 1 do
                                do! turnAsync budget sizes[(round + offset) % sizes.Count] cyclesPerTurn true

                        let! memory = memoryAsync budget (List.ofSeq sizes)

                        return
                            List.ofSeq seeding
                            @ figures (List.ofSeq sizes)
                            @ tableFigures (List.ofSeq tableBytes)
                            @ memory
                    }))
    }
