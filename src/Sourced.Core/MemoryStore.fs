namespace Sourced

open System
open System.Collections.Generic
open System.Threading
open System.Threading.Tasks


/// The in-memory store: the whole contract, thread-safe, for tests, samples and single-process apps.
/// Every operation runs under one async lock; `Sync` actions run inside it, so they must not call the store.
type MemoryStore(clock: TimeProvider) =
    let state = MemoryState()
    let scheduled = SortedDictionary<struct (DateTimeOffset * int64), Message>()
    let scheduledIds = HashSet<Guid>()
    let mutable scheduledCount = 0L
    let gate = new SemaphoreSlim(1, 1)
    let insideSync = AsyncLocal<bool>()
    let listeners = ResizeArray<StoreNotification -> unit>()

    let notify (notification: StoreNotification) =
        let current = lock listeners (fun () -> listeners.ToArray())

        for listener in current do
            // NOTE: a wake-up is only a hint; a failing listener must not fail the write that caused it.
            try
                listener notification
            with _ ->
                ()

    let locked (ct: CancellationToken) (work: unit -> Task<'T>) : Task<'T> =
        task {
            if insideSync.Value then
                invalidOp "A Sync action must not call the memory store whose transaction it runs in."

            do! gate.WaitAsync(ct)

            try
                return! work ()
            finally
                gate.Release() |> ignore
        }

    let lockedSync ct (work: unit -> 'T) =
        locked ct (fun () -> Task.FromResult(work ()))

    let appended (messages: Message list) =
        if not messages.IsEmpty then
            notify (
                StoreNotification.MessagesAppended(messages |> List.map (fun message -> message.Type) |> List.distinct)
            )

    let validateNew (messages: Message list) =
        let seen = HashSet<Guid>()

        for message in messages do
            if String.IsNullOrWhiteSpace message.StreamId then
                invalidArg (nameof messages) $"A '{message.Type}' message has no stream id."

            if String.IsNullOrWhiteSpace message.Type then
                invalidArg (nameof messages) $"A message for stream '{message.StreamId}' has no type."

            if
                state.Contains message.Id
                || scheduledIds.Contains message.Id
                || not (seen.Add message.Id)
            then
                invalidArg
                    (nameof messages)
                    $"Message {message.Id} ('{message.Type}', stream '{message.StreamId}') is already stored."

    let schedule (at: DateTimeOffset) (message: Message) =
        scheduledCount <- scheduledCount + 1L
        scheduledIds.Add message.Id |> ignore

        scheduled[struct (at, scheduledCount)] <-
            message
            |> Message.withMetadata
                MetadataKeys.ScheduledAt
                (Json.write (fun writer -> writer.WriteStringValue(clock.GetUtcNow())))

    let release (claim: Claim) =
        let handle = claim.Token :?> MemoryClaim

        match state.Groups.TryGetValue claim.Group with
        | true, group ->
            match group.Claims.TryGetValue claim.StreamId with
            | true, token when token = handle.Token -> group.Claims.Remove claim.StreamId |> ignore
            | _ -> ()
        | _ -> ()

    let holds (claim: Claim) =
        let handle = claim.Token :?> MemoryClaim
        let group = state.Group claim.Group

        match group.Claims.TryGetValue claim.StreamId with
        | true, token when token = handle.Token -> group
        | _ -> invalidOp $"The claim of group '{claim.Group}' on stream '{claim.StreamId}' is no longer held."

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
            task {
                MemoryPlan.checkSequence streamId expectedSeq messages

                let! result =
                    lockedSync ct (fun () ->
                        validateNew messages
                        let actual = state.LastSeq streamId

                        if actual <> expectedSeq then
                            AppendResult.Conflict actual
                        else
                            AppendResult.Appended(messages |> List.map state.Add))

                match result with
                | AppendResult.Appended stored -> appended stored
                | AppendResult.Conflict _ -> ()

                return result
            }

        member _.AppendNextAsync(messages, ct) =
            task {
                let! stored =
                    lockedSync ct (fun () ->
                        validateNew messages

                        messages
                        |> List.map (fun message ->
                            state.Add
                                { message with
                                    Seq = state.LastSeq message.StreamId + 1L
                                }))

                appended stored
                return stored
            }

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
            lockedSync ct (fun () ->
                validateNew messages

                for message in messages do
                    schedule at message)

        member _.PromoteDueAsync(ct) =
            task {
                let! promoted =
                    lockedSync ct (fun () ->
                        let now = clock.GetUtcNow()

                        let due =
                            scheduled
                            |> Seq.takeWhile (fun entry -> let struct (at, _) = entry.Key in at <= now)
                            |> List.ofSeq

                        [
                            for entry in due do
                                scheduled.Remove entry.Key |> ignore
                                let message = entry.Value
                                scheduledIds.Remove message.Id |> ignore

                                state.Add
                                    { message with
                                        Seq = state.LastSeq message.StreamId + 1L
                                        CreatedAt = now
                                    }
                        ])

                appended promoted
                return promoted.Length
            }

        member _.RegisterGroupAsync(group, ct) =
            if String.IsNullOrWhiteSpace group.Id then
                invalidArg (nameof group) "A consumer group needs an id."

            lockedSync ct (fun () -> state.Register group) :> Task

        member _.StopGroupAsync(groupId, reason, error, ct) =
            lockedSync ct (fun () ->
                let group = state.Group groupId
                group.Status <- GroupStatus.Stopped
                group.Reason <- Some reason
                group.Error <- error |> Option.orElse group.Error
                group.RetryAt <- None)
            :> Task

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

        member _.RetryGroupAtAsync(groupId, at, retryCount, error, ct) =
            lockedSync ct (fun () ->
                let group = state.Group groupId
                group.RetryAt <- Some at
                group.RetryCount <- retryCount
                group.Error <- Some error)
            :> Task

        member _.GroupStatsAsync(ct) =
            lockedSync ct (fun () ->
                state.Groups.Values
                |> Seq.map state.Stats
                |> Seq.sortBy (fun stats -> stats.Id)
                |> List.ofSeq)

        member _.ClaimAsync(request, ct) =
            lockedSync ct (fun () -> state.Claim(request, clock.GetUtcNow()))

        member _.CompleteAsync(claim, handled, ct) =
            task {
                let! stored =
                    locked ct (fun () ->
                        task {
                            let group = holds claim

                            try
                                match MemoryPlan.steps state claim handled with
                                | Error conflict -> return Error conflict
                                | Ok(acked, steps) ->
                                    steps
                                    |> List.choose (fun step ->
                                        match step with
                                        | Step.Store message
                                        | Step.Schedule(_, message) -> Some message
                                        | Step.Sync _ -> None)
                                    |> validateNew

                                    insideSync.Value <- true

                                    try
                                        for step in steps do
                                            match step with
                                            | Step.Sync run ->
                                                do!
                                                    run
                                                        {
                                                            Transaction = None
                                                            CancellationToken = ct
                                                        }
                                            | _ -> ()
                                    finally
                                        insideSync.Value <- false

                                    let stored =
                                        [
                                            for step in steps do
                                                match step with
                                                | Step.Store message -> state.Add message
                                                | Step.Schedule(at, message) -> schedule at message
                                                | Step.Sync _ -> ()
                                        ]

                                    match acked with
                                    | Some seq ->
                                        let offset = group.Offsets[claim.StreamId]

                                        // NOTE: a reset since the claim wins: the offset stays where the reset
                                        // put it, but what was processed is remembered, so it replays.
                                        if (claim.Token :?> MemoryClaim).Epoch = group.Epoch then
                                            offset.Acked <- max offset.Acked seq

                                        offset.High <- max offset.High seq
                                    | None -> ()

                                    return Ok stored
                            finally
                                release claim
                                state.Refresh(group, claim.StreamId)
                        })

                match stored with
                | Ok stored ->
                    appended stored
                    return CompleteResult.Completed
                | Error conflict -> return conflict
            }

        member _.ReleaseAsync(claim, ct) =
            lockedSync ct (fun () -> release claim) :> Task

        member _.Subscribe(listener) =
            lock listeners (fun () -> listeners.Add listener)

            { new IDisposable with
                member _.Dispose() =
                    lock listeners (fun () -> listeners.Remove listener |> ignore)
            }
