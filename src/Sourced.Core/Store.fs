namespace Sourced

open System
open System.Threading
open System.Threading.Tasks

/// The outcome of an optimistic append.
[<RequireQualifiedAccess; NoComparison>]
type AppendResult =
    /// Stored, with their global positions.
    | Appended of Message list
    /// The stream was not at the expected seq; nothing was stored.
    | Conflict of actualSeq: int64

/// A consumer group as registered: the reactor's group id and the message types it consumes.
type GroupInfo =
    {
        /// The consumer group id.
        Id: string
        /// The message types it consumes.
        Types: string list
        /// Where it starts when it is first registered.
        StartFrom: StartFrom
    }

/// Whether a consumer group is taking messages.
[<RequireQualifiedAccess>]
type GroupStatus =
    /// Its workers claim its messages.
    | Active
    /// Stopped by its error strategy or an operator: its messages wait until it is started again.
    | Stopped

/// The failure recorded on a consumer group by the error strategy.
[<NoEquality; NoComparison>]
type GroupError =
    {
        /// The exception's message.
        Error: string
        /// The exception's full type name.
        ExceptionType: string
        /// The whole exception as text, stack trace included.
        Detail: string
        /// The message that failed, when there was one.
        Message: Message option
        /// When it failed.
        At: DateTimeOffset
    }

/// What a failure does to its group: pause it until a time, or stop it until someone starts it again.
[<RequireQualifiedAccess>]
type Recovery =
    /// Pause the group until then, and try the message again.
    | RetryAt of DateTimeOffset
    /// Stop the group, with the error as the reason.
    | Stop

/// The state of one consumer group, for operators and health checks.
[<NoEquality; NoComparison>]
type GroupStats =
    {
        /// The consumer group id.
        Id: string
        /// Active, or stopped.
        Status: GroupStatus
        /// Why it was stopped.
        Reason: string option
        /// The failure recorded last, until the group succeeds again or is started.
        Error: GroupError option
        /// No claims before this time (set by retries with a delay).
        RetryAt: DateTimeOffset option
        /// Failed attempts since it last succeeded (0 when healthy).
        RetryCount: int
        /// Streams this group has an offset in.
        Streams: int64
        /// Streams with messages waiting for this group.
        PendingStreams: int64
        /// Messages waiting for this group.
        Lag: int64
    }

/// What a worker asks for when claiming.
type ClaimRequest =
    {
        /// The consumer group to claim for.
        Group: string
        /// The worker asking: its heartbeats keep the claim alive.
        Worker: string
        /// The most pending messages to take from the stream.
        BatchSize: int
        /// Whether to bring the stream's whole history along (`Claim.History`).
        WithHistory: bool
    }

/// Exclusive ownership of one (group, stream) pair and its next pending messages, until completed or released.
[<NoEquality; NoComparison>]
type Claim =
    {
        /// The consumer group it was claimed for.
        Group: string
        /// The stream claimed.
        StreamId: string
        /// The group's next pending messages of the stream, in order.
        Messages: Pending list
        /// The whole stream at claim time, when asked for.
        History: Message list
        /// The store's own handle on the claim.
        Token: obj
    }

/// The outcome of completing a claim.
[<RequireQualifiedAccess>]
type CompleteResult =
    /// Actions executed and offset advanced, in one transaction.
    | Completed
    /// An `AppendAfter` lost to a concurrent writer: nothing was executed; claim again to retry on fresh history.
    | Conflict of streamId: string * expectedSeq: int64 * actualSeq: int64
    /// The claim had been taken away (its lease expired and was freed, or it was completed or released
    /// already): nothing was executed; the batch belongs to whoever claims the stream next.
    | Lost

/// A wake-up for idle workers.
[<RequireQualifiedAccess>]
type StoreNotification =
    /// Messages of these types were stored.
    | MessagesAppended of types: string list
    /// A consumer group was started again.
    | GroupStarted of group: string

/// Store operations inside one transaction (`IMessageStore.TransactAsync`): they commit together or not at all,
/// and each sees the ones before it.
type IStoreTransaction =
    /// For `Sync` actions run inside this transaction.
    abstract SyncContext: SyncContext

    /// Optimistic append, as `IMessageStore.AppendAsync`, inside the transaction.
    abstract AppendAsync:
        streamId: string * expectedSeq: int64 * messages: Message list * ct: CancellationToken -> Task<AppendResult>

    /// Appends at the end of each message's stream, as `IMessageStore.AppendNextAsync`, inside the transaction.
    abstract AppendNextAsync: messages: Message list * ct: CancellationToken -> Task<Message list>

    /// The stream's messages with `after < seq <= upTo`, seeing this transaction's own appends.
    abstract ReadStreamAsync:
        streamId: string * after: int64 * upTo: int64 option * ct: CancellationToken -> Task<Message list>

    /// Keeps messages aside until `at`, as `IMessageStore.ScheduleAsync`, inside the transaction.
    abstract ScheduleAsync: at: DateTimeOffset * messages: Message list * ct: CancellationToken -> Task

    /// A group's unprocessed messages in a stream, up to a seq, with their replay flags. A stream a worker
    /// holds a claim on is waited for, or refused with `StreamBusyException`.
    abstract PendingAsync: group: string * streamId: string * upTo: int64 * ct: CancellationToken -> Task<Pending list>

    /// Marks a group's messages of a stream processed up to a seq (offsets never move backwards).
    abstract AcknowledgeAsync: group: string * streamId: string * seq: int64 * ct: CancellationToken -> Task

/// The store contract. Both stores pass one contract test suite.
type IMessageStore =
    /// The store's clock: due times of scheduled messages and retry times are read against it.
    abstract Clock: TimeProvider

    /// Optimistic append: `messages` carry seqs `expectedSeq + 1 ...`; a stream at another seq is a conflict.
    abstract AppendAsync:
        streamId: string * expectedSeq: int64 * messages: Message list * ct: CancellationToken -> Task<AppendResult>

    /// Appends each message at the end of its stream (seqs assigned by the store); returns them as stored.
    abstract AppendNextAsync: messages: Message list * ct: CancellationToken -> Task<Message list>

    /// The stream's messages with `after < seq <= upTo`, in order.
    abstract ReadStreamAsync:
        streamId: string * after: int64 * upTo: int64 option * ct: CancellationToken -> Task<Message list>

    /// Every message of one correlation id (a whole command → event → reaction chain), in log order.
    abstract ReadCorrelationAsync: correlationId: Guid * ct: CancellationToken -> Task<Message list>

    /// Up to `limit` messages of the global log with positions above `after`, for tooling.
    abstract ReadLogAsync: after: int64 * limit: int * ct: CancellationToken -> Task<Message list>

    /// Keeps messages aside until `at`.
    abstract ScheduleAsync: at: DateTimeOffset * messages: Message list * ct: CancellationToken -> Task

    /// Appends the scheduled messages that are due (each once, in order); returns how many.
    abstract PromoteDueAsync: ct: CancellationToken -> Task<int>

    /// Creates the group (idempotent; a later registration updates its types).
    abstract RegisterGroupAsync: group: GroupInfo * ct: CancellationToken -> Task

    /// Stops an active group with a reason (and the error that stopped it); false when it was already stopped.
    abstract StopGroupAsync:
        group: string * reason: string * error: GroupError option * ct: CancellationToken -> Task<bool>

    /// Active again, with retries and errors cleared.
    abstract StartGroupAsync: group: string * ct: CancellationToken -> Task

    /// Replays the group from its start: messages it processed before come back flagged as replays.
    abstract ResetGroupAsync: group: string * ct: CancellationToken -> Task

    /// Records the `attempt`-th failure of a group since it last succeeded, with the error and what its strategy
    /// decided: a retry pauses the group until a time, a stop stops it (the error's text as the reason). Applies
    /// only to an active group that is not paused and is at retry `attempt - 1`, so that failures happening at
    /// once, or while it waits, count once; false when it did not apply.
    abstract RecordFailureAsync:
        group: string * attempt: int * recovery: Recovery * error: GroupError * ct: CancellationToken -> Task<bool>

    /// The failed attempts a group has recorded since it last succeeded (0 when healthy): what the next
    /// failure's attempt number follows. Cheap, unlike `GroupStatsAsync`.
    abstract RetryCountAsync: group: string * ct: CancellationToken -> Task<int>

    /// The state of every consumer group, with its lag.
    abstract GroupStatsAsync: ct: CancellationToken -> Task<GroupStats list>

    /// The next (group, stream) with pending messages that no one else holds, if any.
    abstract ClaimAsync: request: ClaimRequest * ct: CancellationToken -> Task<Claim option>

    /// Up to `streams` claims at once: distinct streams of one group, oldest first pending message first, each
    /// exactly as `ClaimAsync` would give it (its own lease, its own batch of up to `BatchSize` messages).
    abstract ClaimManyAsync: request: ClaimRequest * streams: int * ct: CancellationToken -> Task<Claim list>

    /// Executes the actions of `handled` (a prefix of the claim's messages, up to the first `Retry`) and
    /// advances the offset past the last one, in one transaction; always ends the claim. Acknowledging
    /// anything clears the group's retry count, retry time and error: it is healthy again.
    abstract CompleteAsync: claim: Claim * handled: Handled list * ct: CancellationToken -> Task<CompleteResult>

    /// Completes several claims, each as `CompleteAsync` would and with its own outcome: a conflict, a lost
    /// claim or a failing action of one never changes what happens to the others (an error comes back as its
    /// `Error`, its claim released). A store may complete them in one transaction; if one of them conflicts or
    /// fails there, it completes them again one by one, so `Sync` actions may run twice (their transactional
    /// writes are stored once).
    abstract CompleteManyAsync:
        completions: (Claim * Handled list) list * ct: CancellationToken -> Task<Result<CompleteResult, exn> list>

    /// Gives the claim up without acknowledging anything.
    abstract ReleaseAsync: claim: Claim * ct: CancellationToken -> Task

    /// Records that these workers are alive.
    abstract HeartbeatAsync: workers: string list * ct: CancellationToken -> Task

    /// Frees the claims of workers silent for longer than `staleAfter` (counted from their last heartbeat
    /// or claim); returns how many. A freed claim can no longer be completed.
    abstract ReclaimAsync: staleAfter: TimeSpan * ct: CancellationToken -> Task<int>

    /// Runs `work` in one transaction: everything it does is stored, or nothing is (it raised).
    abstract TransactAsync<'T> : work: (IStoreTransaction -> Task<'T>) * ct: CancellationToken -> Task<'T>

    /// Wake-ups after appends and group restarts (a hint: polling stays the source of truth).
    abstract Subscribe: listener: (StoreNotification -> unit) -> IDisposable

/// What every store shares: argument checks, executing a batch's actions, and helpers over `IMessageStore`.
[<RequireQualifiedAccess>]
module Store =

    /// Optimistic appends must continue one stream exactly: expectedSeq + 1, + 2, ...; anything else is an
    /// argument error naming the stream and the seq.
    let checkSequence (streamId: string) (expectedSeq: int64) (messages: Message list) =
        messages
        |> List.iteri (fun index message ->
            if message.StreamId <> streamId then
                invalidArg
                    (nameof messages)
                    $"Message '{message.Type}' is for stream '{message.StreamId}', not '{streamId}'."

            if message.Seq <> expectedSeq + int64 index + 1L then
                invalidArg
                    (nameof messages)
                    $"Message '{message.Type}' for stream '{streamId}' has seq {message.Seq}; expected {expectedSeq + int64 index + 1L}.")

    /// Whether handled messages are a prefix of the claim's messages (what a store may complete).
    let isPrefix (claim: Claim) (handled: Handled list) =
        handled.Length <= claim.Messages.Length
        && List.forall2
            (fun (item: Handled) (pending: Pending) -> item.Message.Id = pending.Message.Id)
            handled
            (List.truncate handled.Length claim.Messages)

    /// What a store completes must be a prefix of the claim's messages; anything else is an argument error.
    let checkPrefix (claim: Claim) (handled: Handled list) =
        if not (isPrefix claim handled) then
            invalidArg (nameof handled) $"Handled messages must be a prefix of the claim on stream '{claim.StreamId}'."

    /// Completes claims one after the other, each in its own transaction (what `CompleteManyAsync` does
    /// without a faster way).
    let completeEachAsync
        (store: IMessageStore)
        (completions: (Claim * Handled list) list)
        (ct: CancellationToken)
        : Task<Result<CompleteResult, exn> list> =
        task {
            let results = ResizeArray()

            for claim, handled in completions do
                try
                    let! completed = store.CompleteAsync(claim, handled, ct)
                    results.Add(Ok completed)
                with error ->
                    results.Add(Error error)

            return List.ofSeq results
        }

    /// Appends optimistically, raising `ConcurrencyConflictException` on conflict.
    let appendAsync (store: IMessageStore) (streamId: string) (expectedSeq: int64) (messages: Message list) ct =
        task {
            match! store.AppendAsync(streamId, expectedSeq, messages, ct) with
            | AppendResult.Appended stored -> return stored
            | AppendResult.Conflict actual -> return raise (ConcurrencyConflictException(streamId, expectedSeq, actual))
        }

    /// Stores a message for the reactors to pick up (seq assigned by the store); returns it as stored.
    let dispatchAsync (store: IMessageStore) (message: Message) (ct: CancellationToken) : Task<Message> =
        task {
            let! stored = store.AppendNextAsync([ message ], ct)
            return List.head stored
        }

    /// Registers a reactor's consumer group.
    let registerAsync (store: IMessageStore) (reactor: Reactor) (ct: CancellationToken) : Task =
        store.RegisterGroupAsync(
            {
                Id = reactor.Group
                Types = reactor.Types
                StartFrom = reactor.StartFrom
            },
            ct
        )

    /// The handled messages whose actions a completion executes: those before the first with a `Retry`.
    let processed (handled: Handled list) =
        handled
        |> List.takeWhile (fun item -> not (item.Actions |> List.exists (fun action -> action.IsRetry)))

    /// Executes the actions of `handled` in order through a transaction, stopping before the first entry with a
    /// `Retry`, except the `Sync` actions, which it returns to run once every append has succeeded (so a
    /// conflicting batch never syncs). Returns the seq to acknowledge up to and the syncs, or the conflict that
    /// must cancel the transaction.
    let applyAsync
        (transaction: IStoreTransaction)
        (handled: Handled list)
        (ct: CancellationToken)
        : Task<Result<int64 option * (SyncContext -> Task<unit>) list, CompleteResult>> =
        task {
            let mutable acknowledged = None
            let mutable conflict = None
            let syncs = ResizeArray<SyncContext -> Task<unit>>()

            let processed = processed handled

            for item in processed do
                for action in item.Actions do
                    if conflict.IsNone then
                        match action with
                        | Action.AppendAfter(streamId, expected, messages) ->
                            match! transaction.AppendAsync(streamId, expected, messages, ct) with
                            | AppendResult.Conflict actual ->
                                conflict <- Some(CompleteResult.Conflict(streamId, expected, actual))
                            | AppendResult.Appended _ -> ()
                        | Action.AppendNext messages ->
                            let! _ = transaction.AppendNextAsync(messages, ct)
                            ()
                        | Action.Schedule(at, messages) -> do! transaction.ScheduleAsync(at, messages, ct)
                        | Action.Sync run -> syncs.Add run
                        | Action.Ack
                        | Action.Retry -> ()

                if conflict.IsNone then
                    acknowledged <- Some item.Message.Seq

            match conflict with
            | Some conflict -> return Error conflict
            | None -> return Ok(acknowledged, List.ofSeq syncs)
        }

    /// Runs syncs returned by `applyAsync` inside the transaction.
    let syncAsync (transaction: IStoreTransaction) (syncs: (SyncContext -> Task<unit>) list) : Task =
        task {
            for run in syncs do
                do! run transaction.SyncContext
        }

    /// `applyAsync`, then its syncs: the whole of a batch's actions. Returns the seq to acknowledge up to, or
    /// the conflict that must cancel the transaction.
    let executeAsync
        (transaction: IStoreTransaction)
        (handled: Handled list)
        (ct: CancellationToken)
        : Task<Result<int64 option, CompleteResult>> =
        task {
            match! applyAsync transaction handled ct with
            | Error conflict -> return Error conflict
            | Ok(acknowledged, syncs) ->
                do! syncAsync transaction syncs
                return Ok acknowledged
        }
