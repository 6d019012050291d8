namespace Sourced

open System
open System.Threading
open System.Threading.Tasks

/// The in-memory store: the whole contract, thread-safe, for tests, samples and single-process apps.
/// Every operation runs under one async lock. Transactions and completions record undo steps and roll
/// back on failure; their `Sync` actions run inside the lock, so they must not call the store.
type MemoryStore(clock: TimeProvider) =
    let state = MemoryState()
    let gate = new SemaphoreSlim(1, 1)
    let insideLock = AsyncLocal<bool>()
    let listeners = ResizeArray<StoreNotification -> unit>()

    let notify (notification: StoreNotification) =
        let current = lock listeners (fun () -> listeners.ToArray())

        for listener in current do
            // NOTE: a wake-up is only a hint; a failing listener must not fail the write that caused it.
            try
                listener notification
            with _ ->
                ()

    let appended (messages: Message list) =
        if not messages.IsEmpty then
            notify (
                StoreNotification.MessagesAppended(messages |> List.map (fun message -> message.Type) |> List.distinct)
            )

    let locked (ct: CancellationToken) (work: unit -> Task<'T>) : Task<'T> =
        task {
            if insideLock.Value then
                invalidOp
                    "The memory store was called from inside one of its own transactions (a Sync action, say): use the transaction given to you instead."

            do! gate.WaitAsync(ct)
            insideLock.Value <- true

            try
                return! work ()
            finally
                insideLock.Value <- false
                gate.Release() |> ignore
        }

    let lockedSync ct (work: unit -> 'T) =
        locked ct (fun () -> Task.FromResult(work ()))

    /// Runs `work` on a transaction under the lock; an `Error` or an exception rolls everything back.
    /// Notifies subscribers of what a committed transaction appended.
    let transact ct (work: MemoryTransaction -> Task<Result<'T, 'Error>>) : Task<Result<'T, 'Error>> =
        task {
            let! outcome, stored =
                locked ct (fun () ->
                    task {
                        let transaction = MemoryTransaction(state, clock, ct)
                        state.Journal <- ResizeArray()
                        let mutable committed = false

                        try
                            let! outcome = work transaction

                            match outcome with
                            | Ok _ ->
                                state.Journal <- null
                                committed <- true
                            | Error _ -> ()

                            return outcome, transaction.Appended
                        finally
                            if not committed then
                                state.Rollback()
                    })

            appended stored
            return outcome
        }

    let immediately (result: 'T) : Task<Result<'T, exn>> = Task.FromResult(Ok result)

    let run ct (work: MemoryTransaction -> 'T) : Task<'T> =
        task {
            match! transact ct (fun transaction -> immediately (work transaction)) with
            | Ok result -> return result
            | Error(error: exn) -> return raise error
        }

    let holder (claim: Claim) =
        let handle = claim.Token :?> MemoryClaim
        let group = state.Group claim.Group

        match group.Claims.TryGetValue claim.StreamId with
        | true, holder when holder.Token = handle.Token -> Some group
        | _ -> None

    let release (claim: Claim) =
        match state.Groups.TryGetValue claim.Group with
        | true, group when (holder claim).IsSome -> group.Claims.Remove claim.StreamId |> ignore
        | _ -> ()

    /// After a completion: the offset moves (unless a reset came since the claim: then only what was
    /// processed is remembered, so it replays), and a group that was retrying is healthy again.
    let acknowledge (group: GroupData) (claim: Claim) (seq: int64) =
        let sameEpoch = (claim.Token :?> MemoryClaim).Epoch = group.Epoch
        state.Advance(group, claim.StreamId, seq, sameEpoch)

        if group.RetryCount > 0 || group.RetryAt.IsSome then
            group.RetryCount <- 0
            group.RetryAt <- None
            group.Error <- None

    new() = MemoryStore(TimeProvider.System)

    /// Every stored message in log order (a test helper: the message trail).
    member _.Messages: Message list =
        gate.Wait()

        try
            List.ofSeq state.Log
        finally
            gate.Release() |> ignore

    interface IMessageStore with
        member _.Clock = clock

        member _.AppendAsync(streamId, expectedSeq, messages, ct) =
            Store.checkSequence streamId expectedSeq messages
            run ct (fun transaction -> transaction.Append(streamId, expectedSeq, messages))

        member _.AppendNextAsync(messages, ct) =
            run ct (fun transaction -> transaction.AppendNext messages)

        member _.ReadStreamAsync(streamId, after, upTo, ct) =
            lockedSync ct (fun () ->
                state.Stream streamId
                |> Seq.filter (fun message ->
                    message.Seq > after && upTo |> Option.forall (fun upTo -> message.Seq <= upTo))
                |> List.ofSeq)

        member _.ReadCorrelationAsync(correlationId, ct) =
            lockedSync ct (fun () -> List.ofSeq (state.Correlation correlationId))

        member _.ReadLogAsync(after, limit, ct) =
            lockedSync ct (fun () ->
                if limit < 1 then
                    invalidArg (nameof limit) "A page needs a limit of at least 1."

                state.Log
                |> Seq.skip (int (Math.Clamp(after, 0L, int64 state.Log.Count)))
                |> Seq.truncate limit
                |> List.ofSeq)

        member _.ScheduleAsync(at, messages, ct) =
            run ct (fun transaction -> transaction.Schedule(at, messages)) :> Task

        member _.PromoteDueAsync(ct) =
            run ct (fun transaction -> transaction.Promote().Length)

        member _.RegisterGroupAsync(group, ct) =
            if String.IsNullOrWhiteSpace group.Id then
                invalidArg (nameof group) "A consumer group needs an id."

            lockedSync ct (fun () -> state.Register group) :> Task

        member _.StopGroupAsync(groupId, reason, error, ct) =
            lockedSync ct (fun () ->
                let group = state.Group groupId
                let active = group.Status = GroupStatus.Active

                if active then
                    group.Status <- GroupStatus.Stopped
                    group.Reason <- Some reason
                    group.Error <- error |> Option.orElse group.Error
                    group.RetryAt <- None

                active)

        member _.StartGroupAsync(groupId, ct) =
            task {
                do!
                    lockedSync ct (fun () ->
                        let group = state.Group groupId
                        group.Status <- GroupStatus.Active
                        group.Reason <- None
                        group.Error <- None
                        group.RetryAt <- None
                        group.RetryCount <- 0)

                notify (StoreNotification.GroupStarted groupId)
            }

        member _.ResetGroupAsync(groupId, ct) =
            lockedSync ct (fun () ->
                let group = state.Group groupId
                group.Epoch <- group.Epoch + 1L

                for pair in List.ofSeq group.Offsets do
                    pair.Value.Acked <- pair.Value.Origin
                    state.Refresh(group, pair.Key))
            :> Task

        member _.RecordFailureAsync(groupId, attempt, recovery, error, ct) =
            lockedSync ct (fun () ->
                let group = state.Group groupId
                let paused = group.RetryAt |> Option.exists (fun until -> until > clock.GetUtcNow())

                let applies =
                    group.Status = GroupStatus.Active
                    && group.RetryCount = attempt - 1
                    && not paused

                if applies then
                    group.Error <- Some error

                    match recovery with
                    | Recovery.RetryAt at ->
                        group.RetryAt <- Some at
                        group.RetryCount <- attempt
                    | Recovery.Stop ->
                        group.Status <- GroupStatus.Stopped
                        group.Reason <- Some $"{error.ExceptionType}: {error.Error}"
                        group.RetryAt <- None

                applies)

        member _.RetryCountAsync(groupId, ct) =
            lockedSync ct (fun () -> (state.Group groupId).RetryCount)

        member _.GroupStatsAsync(ct) =
            lockedSync ct (fun () ->
                state.Groups.Values
                |> Seq.map state.Stats
                |> Seq.sortBy (fun stats -> stats.Id)
                |> List.ofSeq)

        member _.ClaimAsync(request, ct) =
            lockedSync ct (fun () -> state.Claim(request, clock.GetUtcNow()))

        member _.ClaimManyAsync(request, streams, ct) =
            lockedSync ct (fun () ->
                let now = clock.GetUtcNow()

                List.unfold
                    (fun left ->
                        if left = 0 then
                            None
                        else
                            state.Claim(request, now) |> Option.map (fun claim -> claim, left - 1))
                    (max 1 streams))

        member store.CompleteManyAsync(completions, ct) =
            Store.completeEachAsync store completions ct

        member _.CompleteAsync(claim, handled, ct) =
            task {
                Store.checkPrefix claim handled

                let! outcome =
                    transact ct (fun transaction ->
                        task {
                            match holder claim with
                            | None -> return Error CompleteResult.Lost
                            | Some group ->
                                try
                                    match! Store.executeAsync transaction handled ct with
                                    | Error conflict -> return Error conflict
                                    | Ok acknowledged ->
                                        acknowledged |> Option.iter (acknowledge group claim)
                                        return Ok()
                                finally
                                    release claim
                                    state.Refresh(group, claim.StreamId)
                        })

                match outcome with
                | Ok() -> return CompleteResult.Completed
                | Error conflict -> return conflict
            }

        member _.ReleaseAsync(claim, ct) =
            lockedSync ct (fun () -> release claim) :> Task

        member _.HeartbeatAsync(workers, ct) =
            lockedSync ct (fun () ->
                for worker in workers do
                    state.Heartbeat(worker, clock.GetUtcNow()))
            :> Task

        member _.ReclaimAsync(staleAfter, ct) =
            lockedSync ct (fun () -> state.Reclaim(clock.GetUtcNow() - staleAfter))

        member _.TransactAsync<'T>(work: IStoreTransaction -> Task<'T>, ct) : Task<'T> =
            task {
                match! transact ct (fun transaction -> task { let! result = work transaction in return Ok result }) with
                | Ok result -> return result
                | Error(error: exn) -> return raise error
            }

        member _.Subscribe(listener) =
            lock listeners (fun () -> listeners.Add listener)

            { new IDisposable with
                member _.Dispose() =
                    lock listeners (fun () -> listeners.Remove listener |> ignore)
            }
