namespace Sourced

open System
open System.Collections.Generic
open System.Threading
open System.Threading.Tasks

/// Store operations straight on the memory state, for code that already holds the store's lock
/// (transactions and completions); the caller commits or rolls back the state's journal.
type internal MemoryTransaction(state: MemoryState, clock: TimeProvider, ct: CancellationToken) =
    let appended = ResizeArray<Message>()

    let validateNew (messages: Message list) =
        let seen = HashSet<Guid>()

        for message in messages do
            if String.IsNullOrWhiteSpace message.StreamId then
                invalidArg (nameof messages) $"A '{message.Type}' message has no stream id."

            if String.IsNullOrWhiteSpace message.Type then
                invalidArg (nameof messages) $"A message for stream '{message.StreamId}' has no type."

            if state.Contains message.Id || not (seen.Add message.Id) then
                invalidArg
                    (nameof messages)
                    $"Message {message.Id} ('{message.Type}', stream '{message.StreamId}') is already stored."

    let add (message: Message) =
        let stored = state.Add message
        appended.Add stored
        stored

    /// What this transaction stored, in order (for notifications once it commits).
    member _.Appended: Message list = List.ofSeq appended

    member _.Append(streamId: string, expectedSeq: int64, messages: Message list) : AppendResult =
        Store.checkSequence streamId expectedSeq messages
        validateNew messages
        let actual = state.LastSeq streamId

        if actual <> expectedSeq then
            AppendResult.Conflict actual
        else
            AppendResult.Appended(messages |> List.map add)

    member _.AppendNext(messages: Message list) : Message list =
        validateNew messages

        messages
        |> List.map (fun message ->
            add
                { message with
                    Seq = state.LastSeq message.StreamId + 1L
                })

    member _.Schedule(at: DateTimeOffset, messages: Message list) =
        validateNew messages

        for message in messages do
            state.Schedule(at, message, clock.GetUtcNow())

    member _.Promote() : Message list =
        let promoted = state.PromoteDue(clock.GetUtcNow())
        appended.AddRange promoted
        promoted

    interface IStoreTransaction with
        member _.SyncContext =
            {
                Transaction = None
                CancellationToken = ct
            }

        member transaction.AppendAsync(streamId, expectedSeq, messages, _) =
            Task.FromResult(transaction.Append(streamId, expectedSeq, messages))

        member transaction.AppendNextAsync(messages, _) =
            Task.FromResult(transaction.AppendNext messages)

        member _.ReadStreamAsync(streamId, after, upTo, _) =
            state.Stream streamId
            |> Seq.filter (fun message ->
                message.Seq > after && upTo |> Option.forall (fun upTo -> message.Seq <= upTo))
            |> List.ofSeq
            |> Task.FromResult

        member transaction.ScheduleAsync(at, messages, _) =
            transaction.Schedule(at, messages)
            Task.CompletedTask

        member _.PendingAsync(groupId, streamId, upTo, _) =
            let group = state.Group groupId

            if group.Claims.ContainsKey streamId then
                raise (StreamBusyException(groupId, streamId))

            Task.FromResult(state.PendingIn(group, streamId, Int32.MaxValue, upTo))

        member _.AcknowledgeAsync(groupId, streamId, seq, _) =
            let group = state.Group groupId

            if group.Offsets.ContainsKey streamId then
                state.Advance(group, streamId, seq, true)
                state.Refresh(group, streamId)

            Task.CompletedTask
