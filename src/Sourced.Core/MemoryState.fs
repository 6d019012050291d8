namespace Sourced

open System
open System.Collections.Generic

/// The memory store's handle on a claim: a token, and the group's reset epoch when it was taken.
type internal MemoryClaim = { Token: Guid; Epoch: int64 }

/// Who holds a claim on a stream, and since when.
type internal Holder =
    {
        Token: Guid
        Worker: string
        Since: DateTimeOffset
    }

/// Where one consumer group is in one stream: `Acked` is the last acknowledged seq, `High` the highest
/// ever acknowledged (replay detection survives resets), `Origin` where the group started in this stream.
type internal Offset =
    {
        mutable Acked: int64
        mutable High: int64
        Origin: int64
    }

/// The in-memory state of one consumer group.
[<AllowNullLiteral>]
type internal GroupData(info: GroupInfo) =
    member val Info = info with get, set
    member val Types = HashSet<string>(info.Types) with get, set
    member val Status = GroupStatus.Active with get, set
    member val Reason: string option = None with get, set
    member val Error: GroupError option = None with get, set
    member val RetryAt: DateTimeOffset option = None with get, set
    member val RetryCount = 0 with get, set
    /// Bumped by every reset, so a batch claimed before a reset does not move offsets after it.
    member val Epoch = 0L with get, set
    member val Offsets = Dictionary<string, Offset>()
    /// Streams with pending messages, ordered by the position of their first pending message.
    member val Pending = SortedSet<struct (int64 * string)>()
    member val PendingAt = Dictionary<string, int64>()
    member val Claims = Dictionary<string, Holder>()

/// The in-memory log, its indexes, groups and scheduled messages. Not thread-safe: `MemoryStore` serialises
/// access. While `Journal` is set (a transaction), every change records how to undo itself.
type internal MemoryState() =
    let log = ResizeArray<Message>()
    let streams = Dictionary<string, ResizeArray<Message>>()
    let ids = HashSet<Guid>()
    let correlations = Dictionary<Guid, ResizeArray<Message>>()
    let groups = Dictionary<string, GroupData>()
    let groupsByType = Dictionary<string, ResizeArray<GroupData>>()
    let scheduled = SortedDictionary<struct (DateTimeOffset * int64), Message>()
    let scheduledIds = HashSet<Guid>()
    let mutable scheduledCount = 0L
    let heartbeats = Dictionary<string, DateTimeOffset>()

    member val Journal: ResizeArray<unit -> unit> = null with get, set

    member private state.Undo(step: unit -> unit) =
        if not (isNull state.Journal) then
            state.Journal.Add step

    /// Undoes the journal's changes, newest first, and stops journaling.
    member state.Rollback() =
        for index in state.Journal.Count - 1 .. -1 .. 0 do
            state.Journal[index]()

        state.Journal <- null

    member _.Log = log
    member _.Groups = groups

    member _.Stream(streamId: string) : IReadOnlyList<Message> =
        match streams.TryGetValue streamId with
        | true, messages -> messages
        | _ -> [||]

    member state.LastSeq(streamId: string) : int64 = int64 (state.Stream streamId).Count

    /// Whether the id is taken, by a stored or a scheduled message.
    member _.Contains(id: Guid) =
        ids.Contains id || scheduledIds.Contains id

    member _.Correlation(correlationId: Guid) : IReadOnlyList<Message> =
        match correlations.TryGetValue correlationId with
        | true, messages -> messages
        | _ -> [||]

    member _.Group(groupId: string) : GroupData =
        match groups.TryGetValue groupId with
        | true, group -> group
        | _ -> invalidArg (nameof groupId) $"No consumer group '{groupId}' is registered."

    member private state.SetPending(group: GroupData, streamId: string, position: int64) =
        group.Pending.Add(struct (position, streamId)) |> ignore
        group.PendingAt[streamId] <- position

        state.Undo(fun () ->
            group.Pending.Remove(struct (position, streamId)) |> ignore
            group.PendingAt.Remove streamId |> ignore)

    member private state.ClearPending(group: GroupData, streamId: string) =
        match group.PendingAt.TryGetValue streamId with
        | true, position ->
            group.Pending.Remove(struct (position, streamId)) |> ignore
            group.PendingAt.Remove streamId |> ignore

            state.Undo(fun () ->
                group.Pending.Add(struct (position, streamId)) |> ignore
                group.PendingAt[streamId] <- position)
        | _ -> ()

    /// Recomputes whether a group has pending messages in a stream, and from which position.
    member state.Refresh(group: GroupData, streamId: string) =
        state.ClearPending(group, streamId)

        match group.Offsets.TryGetValue streamId with
        | true, offset ->
            let messages = state.Stream streamId
            let mutable index = int offset.Acked

            while index < messages.Count && not (group.Types.Contains messages[index].Type) do
                index <- index + 1

            if index < messages.Count then
                state.SetPending(group, streamId, messages[index].Position)
        | _ -> ()

    /// Moves a group's offset in a stream forward (never back); `High` remembers what was processed.
    member state.Advance(group: GroupData, streamId: string, seq: int64, moveAcked: bool) =
        let offset = group.Offsets[streamId]
        let acked, high = offset.Acked, offset.High

        if moveAcked then
            offset.Acked <- max offset.Acked seq

        offset.High <- max offset.High seq

        state.Undo(fun () ->
            offset.Acked <- acked
            offset.High <- high)

    member private state.Track(group: GroupData, message: Message) =
        if not (group.Offsets.ContainsKey message.StreamId) then
            let origin =
                match group.Info.StartFrom with
                | StartFrom.Beginning -> 0L
                | StartFrom.Now -> message.Seq - 1L

            group.Offsets[message.StreamId] <-
                {
                    Acked = origin
                    High = origin
                    Origin = origin
                }

            state.Undo(fun () -> group.Offsets.Remove message.StreamId |> ignore)

        if not (group.PendingAt.ContainsKey message.StreamId) then
            state.SetPending(group, message.StreamId, message.Position)

    /// Stores one message whose seq is already the stream's next; returns it with its position.
    member state.Add(message: Message) : Message =
        let stored =
            { message with
                Position = int64 log.Count + 1L
            }

        log.Add stored
        ids.Add stored.Id |> ignore

        state.Undo(fun () ->
            log.RemoveAt(log.Count - 1)
            ids.Remove stored.Id |> ignore)

        let append (index: Dictionary<'Key, ResizeArray<Message>>) (key: 'Key) =
            match index.TryGetValue key with
            | true, messages ->
                messages.Add stored
                state.Undo(fun () -> messages.RemoveAt(messages.Count - 1))
            | _ ->
                index[key] <- ResizeArray [ stored ]
                state.Undo(fun () -> index.Remove key |> ignore)

        append streams stored.StreamId
        append correlations stored.CorrelationId

        match groupsByType.TryGetValue stored.Type with
        | true, interested ->
            for group in interested do
                state.Track(group, stored)
        | _ -> ()

        stored

    /// Keeps a message aside until `at`, noting when it was scheduled.
    member state.Schedule(at: DateTimeOffset, message: Message, now: DateTimeOffset) =
        scheduledCount <- scheduledCount + 1L
        let key = struct (at, scheduledCount)

        scheduled[key] <-
            message
            |> Message.withMetadata MetadataKeys.ScheduledAt (Json.write (fun writer -> writer.WriteStringValue now))

        scheduledIds.Add message.Id |> ignore

        state.Undo(fun () ->
            scheduled.Remove key |> ignore
            scheduledIds.Remove message.Id |> ignore)

    /// Appends the scheduled messages due at `now`, in due-time then scheduling order.
    member state.PromoteDue(now: DateTimeOffset) : Message list =
        let due =
            scheduled
            |> Seq.takeWhile (fun entry ->
                let struct (at, _) = entry.Key
                at <= now)
            |> List.ofSeq

        [
            for entry in due do
                scheduled.Remove entry.Key |> ignore
                scheduledIds.Remove entry.Value.Id |> ignore

                state.Add
                    { entry.Value with
                        Seq = state.LastSeq entry.Value.StreamId + 1L
                        CreatedAt = now
                    }
        ]

    member _.Heartbeat(worker: string, now: DateTimeOffset) = heartbeats[worker] <- now

    /// Frees claims whose worker has been silent since before `cutoff`.
    member _.Reclaim(cutoff: DateTimeOffset) : int =
        let stale =
            [
                for group in groups.Values do
                    for pair in group.Claims do
                        let seen =
                            match heartbeats.TryGetValue pair.Value.Worker with
                            | true, at -> max at pair.Value.Since
                            | _ -> pair.Value.Since

                        if seen < cutoff then
                            group, pair.Key
            ]

        for group, streamId in stale do
            group.Claims.Remove streamId |> ignore

        stale.Length

    member private _.Index() =
        groupsByType.Clear()

        for group in groups.Values do
            for messageType in group.Types do
                match groupsByType.TryGetValue messageType with
                | true, interested -> interested.Add group
                | _ -> groupsByType[messageType] <- ResizeArray [ group ]

    /// Creates a group, tracking every stored message of its types when it starts from the beginning;
    /// registering an existing group again updates its types (its start stays as first registered).
    member state.Register(info: GroupInfo) =
        match groups.TryGetValue info.Id with
        | true, group ->
            let added = info.Types |> List.filter (group.Types.Contains >> not) |> HashSet

            group.Info <-
                { info with
                    StartFrom = group.Info.StartFrom
                }

            group.Types <- HashSet<string>(info.Types)
            state.Index()

            // NOTE: new types count from the stream's offset on; a group from the beginning also picks up
            // the streams it had no offset in yet. Refreshing drops streams whose only pending types went.
            if group.Info.StartFrom = StartFrom.Beginning && added.Count > 0 then
                for message in log do
                    if added.Contains message.Type && not (group.Offsets.ContainsKey message.StreamId) then
                        state.Track(group, message)

            for streamId in List.ofSeq group.Offsets.Keys do
                state.Refresh(group, streamId)
        | _ ->
            let group = GroupData info
            groups[info.Id] <- group
            state.Index()

            if info.StartFrom = StartFrom.Beginning then
                for message in log do
                    if group.Types.Contains message.Type then
                        state.Track(group, message)

    /// The pending messages of a group's stream after its offset, of its types, up to `limit` and `upTo`.
    member state.PendingIn(group: GroupData, streamId: string, limit: int, upTo: int64) : Pending list =
        match group.Offsets.TryGetValue streamId with
        | true, offset ->
            state.Stream streamId
            |> Seq.skip (int offset.Acked)
            |> Seq.takeWhile (fun message -> message.Seq <= upTo)
            |> Seq.filter (fun message -> group.Types.Contains message.Type)
            |> Seq.truncate limit
            |> Seq.map (fun message ->
                {
                    Message = message
                    Replaying = message.Seq <= offset.High
                })
            |> List.ofSeq
        | _ -> []

    member state.Stats(group: GroupData) : GroupStats =
        let lag =
            group.PendingAt.Keys
            |> Seq.sumBy (fun streamId ->
                state.PendingIn(group, streamId, Int32.MaxValue, Int64.MaxValue).Length |> int64)

        {
            Id = group.Info.Id
            Status = group.Status
            Reason = group.Reason
            Error = group.Error
            RetryAt = group.RetryAt
            RetryCount = group.RetryCount
            Streams = int64 group.Offsets.Count
            PendingStreams = int64 group.PendingAt.Count
            Lag = lag
        }

    /// The next claimable stream of a group: the one whose first pending message is oldest.
    member state.Claim(request: ClaimRequest, now: DateTimeOffset) : Claim option =
        let group = state.Group request.Group
        let paused = group.RetryAt |> Option.exists (fun at -> at > now)

        if group.Status = GroupStatus.Stopped || paused then
            None
        else
            let candidate =
                group.Pending
                |> Seq.tryPick (fun (struct (_, streamId)) ->
                    if group.Claims.ContainsKey streamId then
                        None
                    else
                        match state.PendingIn(group, streamId, max 1 request.BatchSize, Int64.MaxValue) with
                        | [] -> None
                        | batch -> Some(streamId, batch))

            match candidate with
            | None -> None
            | Some(streamId, batch) ->
                let token = Guid.NewGuid()

                group.Claims[streamId] <-
                    {
                        Token = token
                        Worker = request.Worker
                        Since = now
                    }

                Some
                    {
                        Group = request.Group
                        StreamId = streamId
                        Messages = batch
                        History =
                            if request.WithHistory then
                                List.ofSeq (state.Stream streamId)
                            else
                                []
                        Token = { Token = token; Epoch = group.Epoch }
                    }
