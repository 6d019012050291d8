namespace Sourced

open System
open System.Collections.Concurrent
open System.Collections.Generic
open System.Runtime.CompilerServices
open System.Runtime.ExceptionServices
open System.Threading
open System.Threading.Tasks

/// A unit went round more times than its limit allows: reactors that dispatch each other forever.
type UnitLoopException(iterations: int, message: Message) =
    inherit
        Exception(
            $"The unit exceeded {iterations} iterations (at '{message.Type}' in stream '{message.StreamId}'): do its reactors dispatch each other forever?"
        )

    /// The limit it went over (`UnitOptions.MaxIterations`).
    member _.Iterations = iterations
    /// The message it had reached.
    member _.LastMessage = message

/// How a unit runs.
type UnitOptions =
    {
        /// Messages handled before the unit gives up as a loop.
        MaxIterations: int
        /// When false, commands the unit sends to its own reactors (the first one included) are handled
        /// without being stored; their events are stored.
        PersistCommands: bool
    }

/// The default unit options.
[<RequireQualifiedAccess>]
module UnitOptions =
    /// Up to 100 messages handled; commands are stored.
    let defaults =
        {
            MaxIterations = 100
            PersistCommands = true
        }

/// What one reactor did in a unit: the messages it handled and the messages it produced.
[<NoEquality; NoComparison>]
type UnitStep =
    {
        /// The reactor's consumer group.
        Group: string
        /// The messages of its batch, in order.
        Handled: Message list
        /// The messages its actions stored, held back (unstored commands) or scheduled.
        Produced: Message list
    }

/// What a unit did, reactor batch by reactor batch.
[<NoEquality; NoComparison>]
type UnitResult =
    {
        /// Each batch a reactor handled, in the order they ran.
        Steps: UnitStep list
    }

    /// What a reactor's group produced during the unit, in order.
    member result.ProducedBy(group: string) : Message list =
        result.Steps
        |> List.filter (fun step -> step.Group = group)
        |> List.collect (fun step -> step.Produced)

/// What a unit's actions did with a message.
[<RequireQualifiedAccess>]
type internal Produced =
    | Stored of Message
    /// A command for the unit's own reactors, handled without being stored.
    | HeldBack of Message
    /// Stored for later: not handled by the unit.
    | Scheduled of Message

    member produced.Message =
        match produced with
        | Stored message
        | HeldBack message
        | Scheduled message -> message

/// Records what a unit's actions store; holds back commands for the unit's own reactors when they are
/// not to be persisted.
type internal UnitTransaction(inner: IStoreTransaction, holdBack: Message -> bool) =
    let produced = ResizeArray<Produced>()

    /// What was produced since the last call.
    member _.Take() : Produced list =
        let taken = List.ofSeq produced
        produced.Clear()
        taken

    interface IStoreTransaction with
        member _.SyncContext = inner.SyncContext

        member _.AppendAsync(streamId, expectedSeq, messages, ct) =
            task {
                let! result = inner.AppendAsync(streamId, expectedSeq, messages, ct)

                match result with
                | AppendResult.Appended stored -> produced.AddRange(stored |> List.map Produced.Stored)
                | AppendResult.Conflict _ -> ()

                return result
            }

        member _.AppendNextAsync(messages, ct) =
            task {
                let! stored = inner.AppendNextAsync(messages |> List.filter (holdBack >> not), ct)
                let storedById = stored |> List.map (fun message -> message.Id, message) |> dict

                for message in messages do
                    match storedById.TryGetValue message.Id with
                    | true, stored -> produced.Add(Produced.Stored stored)
                    | _ -> produced.Add(Produced.HeldBack message)

                return stored
            }

        member _.ReadStreamAsync(streamId, after, upTo, ct) =
            inner.ReadStreamAsync(streamId, after, upTo, ct)

        member _.ScheduleAsync(at, messages, ct) =
            task {
                do! inner.ScheduleAsync(at, messages, ct)
                produced.AddRange(messages |> List.map Produced.Scheduled)
            }

        member _.PendingAsync(group, streamId, upTo, ct) =
            inner.PendingAsync(group, streamId, upTo, ct)

        member _.AcknowledgeAsync(group, streamId, seq, ct) =
            inner.AcknowledgeAsync(group, streamId, seq, ct)

/// Runs a message and the whole chain it causes synchronously, in one store transaction: everything is stored
/// or nothing is. Messages the unit's reactors handle are acknowledged for their groups, so workers do not
/// process them again; messages for other reactors are stored for the workers; scheduled ones wait.
[<RequireQualifiedAccess>]
module UnitOfWork =

    let private handles (reactors: Reactor list) (message: Message) =
        reactors
        |> List.exists (fun reactor -> List.contains message.Type reactor.Types)

    let private commands (reactors: Reactor list) (message: Message) =
        reactors
        |> List.exists (fun reactor -> List.contains message.Type reactor.Commands)

    /// One reactor's batch for a message: the group's earlier unprocessed messages of the stream first.
    let private batchFor
        (transaction: IStoreTransaction)
        (reactor: Reactor)
        (message: Message)
        (stored: bool)
        (now: DateTimeOffset)
        (clock: TimeProvider)
        ct
        =
        task {
            let! history = transaction.ReadStreamAsync(message.StreamId, 0L, None, ct)
            let lastSeq = if stored then message.Seq else List.length history |> int64

            let! pending = transaction.PendingAsync(reactor.Group, message.StreamId, lastSeq, ct)

            let pending =
                if stored then
                    pending
                else
                    pending @ [ { Message = message; Replaying = false } ]

            return
                {
                    Group = reactor.Group
                    StreamId = message.StreamId
                    Messages = pending
                    History =
                        if reactor.NeedsHistory then
                            (if stored then history else history @ [ message ])
                        else
                            []
                    Now = now
                    Clock = clock
                    NewId = Guid.CreateVersion7
                }
        }

    let private step
        (transaction: UnitTransaction)
        (reactor: Reactor)
        (message: Message)
        (stored: bool)
        (now: DateTimeOffset)
        (clock: TimeProvider)
        ct
        =
        task {
            let inner = transaction :> IStoreTransaction
            let! batch = batchFor inner reactor message stored now clock ct

            if batch.Messages.IsEmpty then
                return None
            else
                let! result = reactor.Handle batch ct
                let result = Interpreter.correlate result

                match result.Failure with
                | Some(_, error) -> ExceptionDispatchInfo.Capture(error).Throw()
                | None -> ()

                match! Store.executeAsync inner result.Handled ct with
                | Error(CompleteResult.Conflict(streamId, expected, actual)) ->
                    raise (ConcurrencyConflictException(streamId, expected, actual))
                | Error CompleteResult.Completed
                | Error CompleteResult.Lost
                | Ok _ -> ()

                if
                    result.Handled.Length < batch.Messages.Length
                    || result.Handled
                       |> List.exists (fun handled -> handled.Actions |> List.exists _.IsRetry)
                then
                    invalidOp $"Reactor '{reactor.Group}' asked to retry '{message.Type}' inside a unit."

                let lastStored =
                    batch.Messages
                    |> List.map (fun pending -> pending.Message.Seq)
                    |> List.filter (fun seq -> seq > 0L)

                if not lastStored.IsEmpty then
                    do! inner.AcknowledgeAsync(reactor.Group, message.StreamId, List.max lastStored, ct)

                let produced = transaction.Take()

                return
                    Some(
                        {
                            Group = reactor.Group
                            Handled = batch.Messages |> List.map (fun pending -> pending.Message)
                            Produced = produced |> List.map (fun item -> item.Message)
                        },
                        produced
                    )
        }

    /// The groups this process registered on each store, with the types and start they were registered with:
    /// units register a group once, not on every run.
    let private registered =
        ConditionalWeakTable<IMessageStore, ConcurrentDictionary<string, string list * StartFrom>>()

    let private registerOnce (store: IMessageStore) (reactor: Reactor) (ct: CancellationToken) : Task =
        let known = registered.GetValue(store, fun _ -> ConcurrentDictionary())
        let shape = List.sort reactor.Types, reactor.StartFrom

        match known.TryGetValue reactor.Group with
        | true, seen when seen = shape -> Task.CompletedTask
        | _ ->
            task {
                do! Store.registerAsync store reactor ct
                known[reactor.Group] <- shape
            }

    /// Runs `message` and its chain through `reactors` on `store`, in one transaction.
    let private runOnceAsync
        (options: UnitOptions)
        (reactors: Reactor list)
        (store: IMessageStore)
        (message: Message)
        (ct: CancellationToken)
        : Task<UnitResult> =
        task {
            for reactor in reactors do
                do! registerOnce store reactor ct

            let holdBack (produced: Message) =
                not options.PersistCommands && commands reactors produced

            return!
                store.TransactAsync(
                    (fun inner ->
                        task {
                            let transaction = UnitTransaction(inner, holdBack)
                            let queue = Queue<Message * bool>()
                            let steps = ResizeArray<UnitStep>()
                            let now = store.Clock.GetUtcNow()

                            if holdBack message then
                                queue.Enqueue(message, false)
                            else
                                let! stored = inner.AppendNextAsync([ message ], ct)
                                queue.Enqueue(List.head stored, true)

                            let mutable iterations = 0

                            while queue.Count > 0 do
                                let next, stored = queue.Dequeue()
                                iterations <- iterations + 1

                                if iterations > options.MaxIterations then
                                    raise (UnitLoopException(options.MaxIterations, next))

                                for reactor in reactors do
                                    if List.contains next.Type reactor.Types then
                                        let! outcome = step transaction reactor next stored now store.Clock ct

                                        match outcome with
                                        | Some(unitStep, produced) ->
                                            steps.Add unitStep

                                            for item in produced do
                                                match item with
                                                | Produced.Stored message when handles reactors message ->
                                                    queue.Enqueue(message, true)
                                                | Produced.HeldBack message -> queue.Enqueue(message, false)
                                                | Produced.Stored _
                                                | Produced.Scheduled _ -> ()
                                        | None -> ()

                            return { Steps = List.ofSeq steps }
                        }),
                    ct
                )
        }

    /// Runs `message` and its chain through `reactors` on `store`, in one transaction. A stream that a worker
    /// is processing right then (`StreamBusyException`) is waited for a few times before giving up.
    let runWithAsync
        (options: UnitOptions)
        (reactors: Reactor list)
        (store: IMessageStore)
        (message: Message)
        (ct: CancellationToken)
        : Task<UnitResult> =
        task {
            let mutable attempt = 1
            let mutable result = None

            while result.IsNone do
                try
                    let! ran = runOnceAsync options reactors store message ct
                    result <- Some ran
                with :? StreamBusyException when attempt < 5 ->
                    do! Task.Delay(TimeSpan.FromMilliseconds(10.0 * float attempt), store.Clock, ct)
                    attempt <- attempt + 1

            return result.Value
        }

    /// `runWithAsync UnitOptions.defaults`.
    let runAsync (reactors: Reactor list) (store: IMessageStore) (message: Message) (ct: CancellationToken) =
        runWithAsync UnitOptions.defaults reactors store message ct
