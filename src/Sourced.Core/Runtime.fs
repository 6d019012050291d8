namespace Sourced

open System
open System.Collections.Concurrent
open System.Collections.Generic
open System.Threading
open System.Threading.Tasks

/// How a runtime runs its workers.
[<NoEquality; NoComparison>]
type RuntimeOptions =
    {
        /// Worker loops in this process.
        Workers: int
        /// Messages per claimed stream for reactors without a batch size of their own.
        BatchSize: int
        /// The most streams a worker claims at once (in one round trip), handles one after the other and completes
        /// in one transaction. A worker's claims start at one stream and double while they come back full: large
        /// claims raise throughput on backlogs of many streams; 1 keeps a slow handler from delaying the
        /// completion of other streams' batches.
        StreamsPerClaim: int
        /// Batches (streams) a worker takes from one reactor before it queues the reactor again (fairness).
        MaxDrainRounds: int
        /// How often every reactor is polled, whatever notifications say (the safety net).
        CatchUpInterval: TimeSpan
        /// How often due scheduled messages are promoted.
        PromoteInterval: TimeSpan
        /// How often the workers tell the store they are alive, which keeps their claims.
        HeartbeatInterval: TimeSpan
        /// Claims of workers silent for this long are freed for others.
        StaleAfter: TimeSpan
        /// Consecutive conflicts on one stream before they count as a failure.
        MaxConflicts: int
        /// Wait after the store could not be reached.
        StoreErrorDelay: TimeSpan
        /// Prefix of this process's worker names.
        Name: string
        /// How a consumer group recovers from failures (`ErrorStrategy.stop` by default).
        ErrorStrategy: ErrorStrategy
        /// Per consumer group overrides of `ErrorStrategy`.
        Strategies: Map<string, ErrorStrategy>
    }

/// The default runtime options.
[<RequireQualifiedAccess>]
module RuntimeOptions =
    /// 2 workers, 100 messages per stream, up to 10 streams per claim; groups stop at their first failure.
    let defaults: RuntimeOptions =
        {
            Workers = 2
            BatchSize = 100
            StreamsPerClaim = 10
            MaxDrainRounds = 10
            CatchUpInterval = TimeSpan.FromSeconds 5.0
            PromoteInterval = TimeSpan.FromMilliseconds 500.0
            HeartbeatInterval = TimeSpan.FromSeconds 2.0
            StaleAfter = TimeSpan.FromSeconds 10.0
            MaxConflicts = 10
            StoreErrorDelay = TimeSpan.FromSeconds 1.0
            Name = $"{Environment.MachineName}-{Environment.ProcessId}"
            ErrorStrategy = ErrorStrategy.stop
            Strategies = Map.empty
        }

/// What a runtime reports: for logs, metrics and tests.
[<RequireQualifiedAccess; NoEquality; NoComparison>]
type RuntimeEvent =
    /// The workers started, with their names.
    | Started of workers: string list
    /// A batch of `messages` messages of a stream was processed.
    | BatchCompleted of group: string * streamId: string * messages: int
    /// A batch lost an optimistic append to another writer; it runs again on fresh history.
    | Conflicted of group: string * streamId: string
    /// A batch's claim expired before it completed (the worker was too slow or silent): its effects were not
    /// stored, and another worker processes it.
    | ClaimLost of group: string * streamId: string
    /// A group failed, and its strategy retries at `at`: the group waits until then.
    | Retrying of failure: Failure * at: DateTimeOffset
    /// A group failed, and its strategy stopped it.
    | GroupStopped of failure: Failure
    /// Scheduled messages came due and were appended to their streams.
    | Promoted of count: int
    /// Claims of silent workers were freed for others.
    | Reclaimed of count: int
    /// The store could not be reached, or a callback failed; the runtime carries on.
    | Trouble of operation: string * error: exn
    /// A stop began: no new batch will be taken.
    | Stopping
    /// The stop finished: the workers have ended.
    | Stopped

/// Runs reactors in background worker loops over one store: one consumer group per reactor, messages of one
/// stream in order, different streams concurrently; failures go to the group's error strategy; workers never die.
type Runtime(store: IMessageStore, reactors: Reactor list, options: RuntimeOptions) =
    do
        if List.isEmpty reactors then
            invalidArg (nameof reactors) "A runtime needs at least one reactor."

        match
            reactors
            |> List.countBy (fun reactor -> reactor.Group)
            |> List.tryFind (fun (_, n) -> n > 1)
        with
        | Some(group, _) -> invalidArg (nameof reactors) $"Two reactors share the consumer group '{group}'."
        | None -> ()

        if options.Workers < 1 then
            invalidArg (nameof options) "A runtime needs at least one worker."

        if options.StreamsPerClaim < 1 then
            invalidArg (nameof options) $"StreamsPerClaim must be at least 1, not {options.StreamsPerClaim}."

    let byGroup = reactors |> List.map (fun reactor -> reactor.Group, reactor) |> dict

    let byType =
        reactors
        |> List.collect (fun reactor -> reactor.Types |> List.map (fun messageType -> messageType, reactor))
        |> List.groupBy fst
        |> List.map (fun (messageType, pairs) -> messageType, List.map snd pairs)
        |> dict

    let queue = WorkQueue(options.Workers)

    let workerNames =
        [ for index in 1 .. options.Workers -> $"{options.Name}-worker-{index}" ]

    let listeners = ResizeArray<RuntimeEvent -> unit>()
    let conflicts = ConcurrentDictionary<struct (string * string), int>()
    let stopping = new CancellationTokenSource()
    let aborting = new CancellationTokenSource()
    let mutable loops: Task list = []
    let mutable subscription: IDisposable = null

    let emit (event: RuntimeEvent) =
        for listener in lock listeners (fun () -> listeners.ToArray()) do
            // NOTE: observers must not be able to break the runtime.
            try
                listener event
            with _ ->
                ()

    let wake (reactor: Reactor) = queue.Push reactor |> ignore

    let wakeAll () =
        for reactor in reactors do
            wake reactor

    let onNotification (notification: StoreNotification) =
        match notification with
        | StoreNotification.MessagesAppended types ->
            types
            |> List.collect (fun messageType ->
                match byType.TryGetValue messageType with
                | true, interested -> interested
                | _ -> [])
            |> List.distinctBy (fun reactor -> reactor.Group)
            |> List.iter wake
        | StoreNotification.GroupStarted group ->
            match byGroup.TryGetValue group with
            | true, reactor -> wake reactor
            | _ -> ()

    /// Waits, or returns early when the runtime stops.
    let pause (delay: TimeSpan) =
        task {
            try
                do! Task.Delay(max delay TimeSpan.Zero, store.Clock, stopping.Token)
            with :? OperationCanceledException ->
                ()
        }

    let guarded (operation: string) (work: unit -> Task) =
        task {
            try
                do! work ()
            with error ->
                emit (RuntimeEvent.Trouble(operation, error))
        }

    /// Hands a failure to the group's strategy: a retry pauses the group (and wakes it when due), a stop stops it.
    let recover (reactor: Reactor) (message: Message) (error: exn) =
        task {
            let strategy =
                options.Strategies
                |> Map.tryFind reactor.Group
                |> Option.defaultValue options.ErrorStrategy

            let! retries = store.RetryCountAsync(reactor.Group, aborting.Token)
            let attempt = retries + 1

            let failure =
                {
                    Group = reactor.Group
                    Message = message
                    Error = error
                    Attempt = attempt
                    At = store.Clock.GetUtcNow()
                }

            let recovery =
                try
                    strategy.Decide failure
                with decideError ->
                    emit (RuntimeEvent.Trouble("error strategy", decideError))
                    Recovery.Stop

            // NOTE: failures of one group at the same moment (two streams, two workers), or while it waits for a
            // retry, count once: the store records a failure only at the attempt it expects, and not while paused.
            let! applied =
                store.RecordFailureAsync(reactor.Group, attempt, recovery, ErrorStrategy.record failure, aborting.Token)

            if applied then
                match recovery with
                | Recovery.RetryAt at ->
                    emit (RuntimeEvent.Retrying(failure, at))
                    do! guarded "onRetry" (fun () -> Task.FromResult(strategy.OnRetry failure at))

                    pause (at - store.Clock.GetUtcNow() + TimeSpan.FromMilliseconds 1.0)
                    |> fun waiting -> waiting.ContinueWith(fun (_: Task) -> wake reactor) |> ignore
                | Recovery.Stop ->
                    emit (RuntimeEvent.GroupStopped failure)
                    do! guarded "onStop" (fun () -> Task.FromResult(strategy.OnStop failure))
        }

    /// One step for a reactor over up to `streams` streams; gives the batches it handled (0 when there was nothing
    /// to do, or the store could not be reached).
    let step (worker: string) (reactor: Reactor) (streams: int) : Task<int> =
        task {
            // NOTE: a failure the reactor reports is recovered while its claim is still held; one that happens
            // while executing actions has already lost its claim, and is recovered after.
            let recovered = HashSet<Guid>()

            let onFailure (message: Message) error : Task =
                recovered.Add message.Id |> ignore

                task {
                    try
                        do! recover reactor message error
                    with recoverError ->
                        emit (RuntimeEvent.Trouble($"recovering {reactor.Group}", recoverError))
                        do! pause options.StoreErrorDelay
                }

            try
                let! outcomes =
                    Processing.stepManyWithAsync onFailure store reactor worker options.BatchSize streams aborting.Token

                for outcome in outcomes do
                    match outcome with
                    | StepOutcome.Idle -> ()
                    | StepOutcome.Completed(group, streamId, handled) ->
                        conflicts.TryRemove(struct (group, streamId)) |> ignore
                        emit (RuntimeEvent.BatchCompleted(group, streamId, handled))
                    | StepOutcome.Conflicted(group, streamId, message, expected, actual) ->
                        let count =
                            conflicts.AddOrUpdate(struct (group, streamId), 1, fun _ count -> count + 1)

                        emit (RuntimeEvent.Conflicted(group, streamId))

                        if count > options.MaxConflicts then
                            conflicts.TryRemove(struct (group, streamId)) |> ignore
                            do! recover reactor message (ConcurrencyConflictException(streamId, expected, actual))
                    | StepOutcome.Lost(group, streamId) -> emit (RuntimeEvent.ClaimLost(group, streamId))
                    | StepOutcome.Failed(group, streamId, handled, message, error) ->
                        if handled > 0 then
                            emit (RuntimeEvent.BatchCompleted(group, streamId, handled))

                        if not (recovered.Contains message.Id) then
                            do! recover reactor message error

                return outcomes.Length
            with error ->
                emit (RuntimeEvent.Trouble($"processing {reactor.Group}", error))
                do! pause options.StoreErrorDelay
                return 0
        }

    /// Takes up to `MaxDrainRounds` batches from a reactor, then queues it again if it still had work. Claims
    /// grow while they come back full (1, 2, 4 ... up to `StreamsPerClaim` streams; `sizes` keeps each reactor's
    /// size for this worker) and fall back to one stream when they don't: a small backlog is spread over the
    /// workers, a large one is taken in large claims.
    let drain (worker: string) (sizes: Dictionary<string, int>) (reactor: Reactor) =
        task {
            let mutable rounds = 0
            let mutable busy = true

            while busy && rounds < options.MaxDrainRounds && not stopping.IsCancellationRequested do
                let size =
                    match sizes.TryGetValue reactor.Group with
                    | true, size -> size
                    | _ -> 1

                let asked = min size (options.MaxDrainRounds - rounds)
                let! handled = step worker reactor asked

                sizes[reactor.Group] <-
                    if handled >= asked then
                        min options.StreamsPerClaim (size * 2)
                    else
                        1

                // NOTE: a reactor with work is worth another worker: an idle one joins on another stream (the
                // queue holds at most one entry per worker for it).
                if handled > 0 && rounds = 0 then
                    wake reactor

                rounds <- rounds + handled
                busy <- handled > 0

            if busy && not stopping.IsCancellationRequested then
                wake reactor
        }

    let work (worker: string) : Task =
        task {
            let sizes = Dictionary<string, int>()
            let mutable running = true

            while running do
                match! queue.TakeAsync stopping.Token with
                | Some reactor -> do! drain worker sizes reactor
                | None -> running <- false
        }

    let catchUp () : Task =
        task {
            while not stopping.IsCancellationRequested do
                wakeAll ()
                do! pause options.CatchUpInterval
        }

    let promote () : Task =
        task {
            while not stopping.IsCancellationRequested do
                do!
                    guarded "promoting scheduled messages" (fun () ->
                        task {
                            let! promoted = store.PromoteDueAsync aborting.Token

                            if promoted > 0 then
                                emit (RuntimeEvent.Promoted promoted)
                        })

                do! pause options.PromoteInterval
        }

    /// Its own loop: a promotion waiting for a lock must not delay heartbeats (leases would expire).
    let heartbeat () : Task =
        task {
            while not stopping.IsCancellationRequested do
                do!
                    guarded "heartbeat" (fun () ->
                        task {
                            do! store.HeartbeatAsync(workerNames, aborting.Token)
                            let! reclaimed = store.ReclaimAsync(options.StaleAfter, aborting.Token)

                            if reclaimed > 0 then
                                emit (RuntimeEvent.Reclaimed reclaimed)
                        })

                do! pause options.HeartbeatInterval
        }

    /// A runtime with `RuntimeOptions.defaults`.
    new(store, reactors) = new Runtime(store, reactors, RuntimeOptions.defaults)

    /// The store it runs over.
    member _.Store = store
    /// The reactors it runs, one consumer group each.
    member _.Reactors = reactors
    /// The options it runs with.
    member _.Options = options
    /// Its workers' names (`<Name>-worker-1`, ...), as heartbeats and claims record them.
    member _.WorkerNames = workerNames

    /// The reactors that consume a message type.
    member _.ReactorsFor(messageType: string) : Reactor list =
        match byType.TryGetValue messageType with
        | true, interested -> interested
        | _ -> []

    /// Observes the runtime (logs, metrics, tests); dispose to stop observing.
    member _.Subscribe(listener: RuntimeEvent -> unit) : IDisposable =
        lock listeners (fun () -> listeners.Add listener)

        { new IDisposable with
            member _.Dispose() =
                lock listeners (fun () -> listeners.Remove listener |> ignore)
        }

    /// Polls every reactor now (as the catch-up poll does).
    member _.WakeAll() = wakeAll ()

    /// Registers the consumer groups and starts the workers, the catch-up poll, promotion and heartbeats.
    member _.StartAsync(ct: CancellationToken) : Task =
        task {
            if not loops.IsEmpty then
                invalidOp "The runtime is already running."

            for reactor in reactors do
                do! Store.registerAsync store reactor ct

            subscription <- store.Subscribe onNotification

            loops <-
                [
                    yield! workerNames |> List.map (fun name -> Task.Run(fun () -> work name))
                    Task.Run(fun () -> catchUp ())
                    Task.Run(fun () -> promote ())
                    Task.Run(fun () -> heartbeat ())
                ]

            emit (RuntimeEvent.Started workerNames)
        }

    /// Stops taking work and waits for the batches in flight to finish; if `ct` fires first, they are aborted.
    member _.StopAsync(ct: CancellationToken) : Task =
        task {
            stopping.Cancel()
            emit RuntimeEvent.Stopping

            use _ = ct.Register(fun () -> aborting.Cancel())

            try
                do! Task.WhenAll(loops)
            with _ ->
                ()

            if not (isNull subscription) then
                subscription.Dispose()

            emit RuntimeEvent.Stopped
        }

    /// Stores a message for the reactors (seq assigned by the store).
    member _.DispatchAsync(message: Message, ct: CancellationToken) : Task<Message> =
        Store.dispatchAsync store message ct

    /// Stops a consumer group with a reason; its messages wait until it is started again.
    member _.StopGroupAsync(group: string, reason: string, ct: CancellationToken) : Task =
        store.StopGroupAsync(group, reason, None, ct) :> Task

    /// Starts a stopped group again (its error and retries cleared) and wakes it.
    member _.StartGroupAsync(group: string, ct: CancellationToken) : Task = store.StartGroupAsync(group, ct)

    /// Replays a group from its start (projections rebuild, reactions are skipped) and wakes it.
    member _.ResetGroupAsync(group: string, ct: CancellationToken) : Task =
        task {
            do! store.ResetGroupAsync(group, ct)

            match byGroup.TryGetValue group with
            | true, reactor -> wake reactor
            | _ -> ()
        }

    interface IAsyncDisposable with
        member runtime.DisposeAsync() =
            ValueTask(
                task {
                    if not stopping.IsCancellationRequested then
                        do! runtime.StopAsync(CancellationToken.None)

                    stopping.Dispose()
                    aborting.Dispose()
                }
            )
