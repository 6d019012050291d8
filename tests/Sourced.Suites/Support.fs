/// Builders shared by the tests: numbered streams, batches with deterministic ids and clock.
module Sourced.Tests.Support

open System
open System.Runtime.ExceptionServices
open System.Threading
open System.Threading.Tasks
open Expecto
open Sourced

let fixedNow = DateTimeOffset(2026, 11, 27, 12, 0, 0, TimeSpan.Zero)

/// Ids 00000001-..., 00000002-..., in call order.
let sequentialIds () : unit -> Guid =
    let mutable next = 0

    fun () ->
        next <- next + 1
        Guid(next, 0s, 0s, Array.zeroCreate 8)

/// Messages numbered as a stored stream: seqs and positions 1..n.
let stored (messages: Message list) : Message list =
    messages
    |> List.mapi (fun index message ->
        { message with
            Seq = int64 index + 1L
            Position = int64 index + 1L
        })

/// A batch of the last `pending` messages of `history` (which must be numbered).
let batchOf (group: string) (history: Message list) (pending: int) : Batch =
    {
        Group = group
        StreamId = (List.head history).StreamId
        Messages =
            history
            |> List.skip (history.Length - pending)
            |> List.map (fun message -> { Message = message; Replaying = false })
        History = history
        Now = fixedNow
        Clock = TimeProvider.System
        NewId = sequentialIds ()
    }

let messagesOf (actions: Sourced.Action list) : Message list = Actions.messages actions

let payloadText (message: Message) = Json.toText message.Payload

/// A clock that only moves when told to, so no test waits for time to pass.
type ManualClock(start: DateTimeOffset) =
    inherit TimeProvider()
    let gate = obj ()
    let mutable now = start

    new() = ManualClock(fixedNow)

    member _.Advance(by: TimeSpan) = lock gate (fun () -> now <- now + by)

    override _.GetUtcNow() = lock gate (fun () -> now)

/// Runs `body` on a store made by `create` on `clock`, then disposes the store when it is disposable,
/// whether `body` succeeded or not.
let withStore
    (create: TimeProvider -> Task<IMessageStore>)
    (clock: TimeProvider)
    (body: IMessageStore -> Task<unit>)
    : Task<unit> =
    task {
        let! store = create clock

        let! outcome =
            task {
                try
                    do! body store
                    return None
                with error ->
                    return Some(ExceptionDispatchInfo.Capture error)
            }

        match box store with
        | :? IAsyncDisposable as disposable -> do! disposable.DisposeAsync()
        | :? IDisposable as disposable -> disposable.Dispose()
        | _ -> ()

        match outcome with
        | Some error -> error.Throw()
        | None -> ()
    }

/// The exception of type 'Error that `work` raised, synchronously or through its task.
let raises<'Error when 'Error :> exn> (work: unit -> Task) : Task<'Error> =
    task {
        let! outcome =
            task {
                try
                    do! work ()
                    return None
                with error ->
                    return Some error
            }

        match outcome with
        | Some(:? 'Error as error) -> return error
        | Some error -> return failtestf "expected %s, got %O" typeof<'Error>.Name error
        | None -> return failtestf "expected %s, nothing was raised" typeof<'Error>.Name
    }

/// Waits until `condition` holds, checking it again each time `signal` is released and at least every
/// `recheck`; after `timeout`, fails the test with `describe ()`.
let waitUntil
    (signal: SemaphoreSlim)
    (recheck: TimeSpan)
    (timeout: TimeSpan)
    (describe: unit -> string)
    (condition: unit -> Task<bool>)
    : Task =
    task {
        let deadline = DateTime.UtcNow + timeout
        let mutable satisfied = false

        while not satisfied do
            let! holds = condition ()

            if holds then
                satisfied <- true
            else
                let remaining = deadline - DateTime.UtcNow

                if remaining <= TimeSpan.Zero then
                    failtestf "%s" (describe ())

                let! _ = signal.WaitAsync(min remaining recheck)
                ()
    }

/// A store that passes every call to `inner`; tests override the members they want to watch or break.
type DelegatingStore(inner: IMessageStore) =
    abstract AppendAsync: string * int64 * Message list * CancellationToken -> Task<AppendResult>

    default _.AppendAsync(streamId, expectedSeq, messages, ct) =
        inner.AppendAsync(streamId, expectedSeq, messages, ct)

    abstract ReadStreamAsync: string * int64 * int64 option * CancellationToken -> Task<Message list>

    default _.ReadStreamAsync(streamId, after, upTo, ct) =
        inner.ReadStreamAsync(streamId, after, upTo, ct)

    abstract GroupStatsAsync: CancellationToken -> Task<GroupStats list>
    default _.GroupStatsAsync(ct) = inner.GroupStatsAsync(ct)
    abstract RetryCountAsync: string * CancellationToken -> Task<int>
    default _.RetryCountAsync(group, ct) = inner.RetryCountAsync(group, ct)
    abstract ClaimAsync: ClaimRequest * CancellationToken -> Task<Claim option>
    default _.ClaimAsync(request, ct) = inner.ClaimAsync(request, ct)
    abstract ClaimManyAsync: ClaimRequest * int * CancellationToken -> Task<Claim list>

    default _.ClaimManyAsync(request, streams, ct) =
        inner.ClaimManyAsync(request, streams, ct)

    interface IMessageStore with
        member _.Clock = inner.Clock

        member store.AppendAsync(streamId, expectedSeq, messages, ct) =
            store.AppendAsync(streamId, expectedSeq, messages, ct)

        member _.AppendNextAsync(messages, ct) = inner.AppendNextAsync(messages, ct)

        member store.ReadStreamAsync(streamId, after, upTo, ct) =
            store.ReadStreamAsync(streamId, after, upTo, ct)

        member _.ReadCorrelationAsync(correlationId, ct) =
            inner.ReadCorrelationAsync(correlationId, ct)

        member _.ReadLogAsync(after, limit, ct) = inner.ReadLogAsync(after, limit, ct)
        member _.ScheduleAsync(at, messages, ct) = inner.ScheduleAsync(at, messages, ct)
        member _.PromoteDueAsync(ct) = inner.PromoteDueAsync(ct)
        member _.RegisterGroupAsync(group, ct) = inner.RegisterGroupAsync(group, ct)

        member _.StopGroupAsync(group, reason, error, ct) =
            inner.StopGroupAsync(group, reason, error, ct)

        member _.StartGroupAsync(group, ct) = inner.StartGroupAsync(group, ct)
        member _.ResetGroupAsync(group, ct) = inner.ResetGroupAsync(group, ct)

        member _.RecordFailureAsync(group, attempt, recovery, error, ct) =
            inner.RecordFailureAsync(group, attempt, recovery, error, ct)

        member store.RetryCountAsync(group, ct) = store.RetryCountAsync(group, ct)

        member store.GroupStatsAsync(ct) = store.GroupStatsAsync(ct)
        member store.ClaimAsync(request, ct) = store.ClaimAsync(request, ct)

        member store.ClaimManyAsync(request, streams, ct) =
            store.ClaimManyAsync(request, streams, ct)

        member _.CompleteAsync(claim, handled, ct) = inner.CompleteAsync(claim, handled, ct)

        member _.CompleteManyAsync(completions, ct) =
            inner.CompleteManyAsync(completions, ct)

        member _.ReleaseAsync(claim, ct) = inner.ReleaseAsync(claim, ct)
        member _.HeartbeatAsync(workers, ct) = inner.HeartbeatAsync(workers, ct)
        member _.ReclaimAsync(staleAfter, ct) = inner.ReclaimAsync(staleAfter, ct)
        member _.TransactAsync(work, ct) = inner.TransactAsync(work, ct)
        member _.Subscribe(listener) = inner.Subscribe(listener)

/// A store that delegates to `inner`, letting a test watch reads and act just before appends.
let intercept
    (inner: IMessageStore)
    (onRead: string -> int64 -> unit)
    (beforeAppend: string -> int64 -> Task)
    : IMessageStore =
    { new DelegatingStore(inner) with
        override _.AppendAsync(streamId, expectedSeq, messages, ct) =
            task {
                do! beforeAppend streamId expectedSeq
                return! inner.AppendAsync(streamId, expectedSeq, messages, ct)
            }

        override _.ReadStreamAsync(streamId, after, upTo, ct) =
            onRead streamId after
            inner.ReadStreamAsync(streamId, after, upTo, ct)
    }
