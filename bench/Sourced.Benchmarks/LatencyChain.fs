/// The chain of the latency scenario as it runs: its message types, the background load's actor pair, one
/// measured run's timestamps, the store wrapper that times claims and completions, and the chain itself.
module Sourced.Benchmarks.LatencyChain

open System
open System.Collections.Concurrent
open System.Diagnostics
open System.Runtime.ExceptionServices
open System.Threading
open System.Threading.Tasks
open Sourced
open Sourced.Benchmarks.Chain

let private ct = CancellationToken.None

let typeOf (codec: Codec<'T>) (value: 'T) = fst (codec.Encode value)
let pinged = typeOf Pings.actor.Events (Pings.Pinged 0)
let pong = typeOf Pongs.actor.Commands (Pongs.Pong 0)
let ponged = typeOf Pongs.actor.Events (Pongs.Ponged 0)

/// The background load: the same chain on an actor pair of its own, so its messages never end a measured chain.
let loadPongs =
    Actor.create "load-pongs" ignore (fun () (Pongs.Pong number) -> [ Pongs.Ponged number ]) (fun () _ -> ())

let loadPings =
    Actor.create "load-pings" ignore (fun () (Pings.Ping number) -> [ Pings.Pinged number ]) (fun () _ -> ())
    |> Actor.reacts [ nameof Pings.Pinged ] (fun () (Pings.Pinged number) ->
        [ Dispatch.toActor loadPongs (Pongs.Pong number) ])

/// One measured chain: Stopwatch timestamps of its steps (0 until seen) and the signal that it ended.
[<NoEquality; NoComparison>]
type Run =
    {
        Correlation: Guid
        /// Ended when the dispatching store instance hears of Ponged, rather than when it is stored.
        Remote: bool
        Started: int64
        mutable Dispatched: int64
        mutable Pinged: int64
        mutable Pong: int64
        mutable Stored: int64
        mutable Heard: int64
        Ended: TaskCompletionSource
    }

/// The store, recording how long each claim that got a batch and each completion took, by the batch's correlation
/// id (the runtime is unchanged; this only reads the clock around two calls).
let timing (store: IMessageStore) (record: Guid -> bool -> float -> unit) : IMessageStore =
    let correlation (claim: Claim) =
        claim.Messages
        |> List.tryHead
        |> Option.map (fun pending -> pending.Message.CorrelationId)

    StoreProbe.intercept
        store
        (fun request streams ct ->
            task {
                let started = Stopwatch.GetTimestamp()
                let! claims = store.ClaimManyAsync(request, streams, ct)
                let took = Stopwatch.GetElapsedTime(started).TotalMilliseconds

                for claim in claims do
                    correlation claim |> Option.iter (fun id -> record id true took)

                return claims
            })
        (fun completions ct ->
            task {
                let started = Stopwatch.GetTimestamp()
                let! completed = store.CompleteManyAsync(completions, ct)
                let took = Stopwatch.GetElapsedTime(started).TotalMilliseconds

                for claim, _ in completions do
                    correlation claim |> Option.iter (fun id -> record id false took)

                return completed
            })

/// Dispatches a load chain every `interval` until the returned function is called; that function waits until
/// every load chain dispatched has finished, and gives the rate of load chains per second.
let startLoad (runtime: Runtime) (interval: TimeSpan) : unit -> Task<float> =
    let finished = ref 0
    let target = ref Int32.MaxValue

    let drained =
        TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)

    let stopping = new CancellationTokenSource()

    let subscription =
        runtime.Subscribe(fun event ->
            match event with
            | RuntimeEvent.BatchCompleted(group, _, handled) when group = loadPongs.Name ->
                if Interlocked.Add(finished, handled) >= Volatile.Read(&target.contents) then
                    drained.TrySetResult() |> ignore
            | _ -> ())

    let started = Stopwatch.GetTimestamp()

    let dispatching =
        task {
            use timer = new PeriodicTimer(interval)
            let mutable dispatched = 0

            try
                while! timer.WaitForNextTickAsync stopping.Token do
                    dispatched <- dispatched + 1

                    let ping =
                        Actor.command loadPings $"load-{Guid.NewGuid():N}" (Pings.Ping dispatched)

                    let! _ = runtime.DispatchAsync(ping, ct)
                    ()
            with :? OperationCanceledException ->
                ()

            return dispatched
        }

    fun () ->
        task {
            stopping.Cancel()
            let! dispatched = dispatching
            let seconds = Stopwatch.GetElapsedTime(started).TotalSeconds
            Volatile.Write(&target.contents, dispatched)

            if Volatile.Read(&finished.contents) >= dispatched then
                drained.TrySetResult() |> ignore

            do! drained.Task.WaitAsync(TimeSpan.FromSeconds 30.0)
            subscription.Dispose()
            stopping.Dispose()
            return float dispatched / seconds
        }

/// Marks the steps of the chain in flight as the runtime's store announces its appends (in this process, right
/// after each commit), and ends it at Ponged unless it is to be heard elsewhere.
let onStored (current: Run option ref) (notification: StoreNotification) =
    match notification, current.Value with
    | StoreNotification.MessagesAppended types, Some run ->
        let now = Stopwatch.GetTimestamp()

        for messageType in types do
            if messageType = pinged then
                run.Pinged <- now
            elif messageType = pong then
                run.Pong <- now
            elif messageType = ponged then
                run.Stored <- now

                if not run.Remote then
                    run.Ended.TrySetResult() |> ignore
    | _ -> ()

/// Ends a remote chain when the dispatching store instance hears of its Ponged through LISTEN/NOTIFY (a Ponged
/// heard before this chain's was stored is an earlier chain's).
let onHeard (current: Run option ref) (notification: StoreNotification) =
    match notification, current.Value with
    | StoreNotification.MessagesAppended types, Some run when
        run.Remote && run.Stored <> 0L && List.contains ponged types
        ->
        run.Heard <- Stopwatch.GetTimestamp()
        run.Ended.TrySetResult() |> ignore
    | _ -> ()

/// One chain: dispatches a Ping through `store`, waits for its end, then checks that its four messages are stored.
let chainAsync (current: Run option ref) (store: IMessageStore) (remote: bool) (number: int) : Task<Run> =
    task {
        let ping = Actor.command Pings.actor $"ping-{Guid.NewGuid():N}" (Pings.Ping number)

        let run =
            {
                Correlation = ping.CorrelationId
                Remote = remote
                Started = Stopwatch.GetTimestamp()
                Dispatched = 0L
                Pinged = 0L
                Pong = 0L
                Stored = 0L
                Heard = 0L
                Ended = TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)
            }

        current.Value <- Some run
        let! _ = Store.dispatchAsync store ping ct
        run.Dispatched <- Stopwatch.GetTimestamp()
        do! run.Ended.Task.WaitAsync(TimeSpan.FromSeconds 30.0)
        current.Value <- None
        let! stored = store.ReadCorrelationAsync(run.Correlation, ct)
        let types = stored |> List.map (fun message -> message.Type)

        if types <> [ ping.Type; pinged; pong; ponged ] then
            invalidOp $"Chain {number} stored {types}; expected {[ ping.Type; pinged; pong; ponged ]}."

        return run
    }
