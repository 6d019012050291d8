namespace Sourced

open System
open System.Collections.Generic

/// The memory store's handle on a claim: a token, and the group's reset epoch when it was taken.
type internal MemoryClaim = { Token: Guid; Epoch: int64 }

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
    /// Claimed streams and their claim tokens.
    member val Claims = Dictionary<string, Guid>()

/// The in-memory log and its indexes. Not thread-safe: `MemoryStore` serialises access.
type internal MemoryState() =
    let log = ResizeArray<Message>()
    let streams = Dictionary<string, ResizeArray<Message>>()
    let ids = HashSet<Guid>()
    let correlations = Dictionary<Guid, ResizeArray<Message>>()
    let groups = Dictionary<string, GroupData>()
    let groupsByType = Dictionary<string, ResizeArray<GroupData>>()

    member _.Log = log
    member _.Groups = groups

    member _.Stream(streamId: string) : IReadOnlyList<Message> =
        match streams.TryGetValue streamId with
        | true, messages -> messages
        | _ -> [||]

    member state.LastSeq(streamId: string) : int64 = int64 (state.Stream streamId).Count

    member _.Contains(id: Guid) = ids.Contains id

    member _.Correlation(correlationId: Guid) : IReadOnlyList<Message> =
        match correlations.TryGetValue correlationId with
        | true, messages -> messages
        | _ -> [||]

    member _.Group(groupId: string) : GroupData =
        match groups.TryGetValue groupId with
        | true, group -> group
        | _ -> invalidArg (nameof groupId) $"No consumer group '{groupId}' is registered."

    /// Recomputes whether a group has pending messages in a stream, and from which position.
    member state.Refresh(group: GroupData, streamId: string) =
        match group.PendingAt.TryGetValue streamId with
        | true, position ->
            group.Pending.Remove(struct (position, streamId)) |> ignore
            group.PendingAt.Remove streamId |> ignore
        | _ -> ()

        match group.Offsets.TryGetValue streamId with
        | true, offset ->
            let messages = state.Stream streamId
            let mutable index = int offset.Acked

            while index < messages.Count && not (group.Types.Contains messages[index].Type) do
                index <- index + 1

            if index < messages.Count then
                group.Pending.Add(struct (messages[index].Position, streamId)) |> ignore
                group.PendingAt[streamId] <- messages[index].Position
        | _ -> ()

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

        if not (group.PendingAt.ContainsKey message.StreamId) then
            group.Pending.Add(struct (message.Position, message.StreamId)) |> ignore
            group.PendingAt[message.StreamId] <- message.Position

    /// Stores one message whose seq is already the stream's next; returns it with its position.
    member state.Add(message: Message) : Message =
        let stored =
            { message with
                Position = int64 log.Count + 1L
            }

        log.Add stored
        ids.Add stored.Id |> ignore

        match streams.TryGetValue stored.StreamId with
        | true, messages -> messages.Add stored
        | _ -> streams[stored.StreamId] <- ResizeArray [ stored ]

        match correlations.TryGetValue stored.CorrelationId with
        | true, messages -> messages.Add stored
        | _ -> correlations[stored.CorrelationId] <- ResizeArray [ stored ]

        match groupsByType.TryGetValue stored.Type with
        | true, interested ->
            for group in interested do
                state.Track(group, stored)
        | _ -> ()

        stored

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

    member state.Stats(group: GroupData) : GroupStats =
        let lag =
            group.PendingAt.Keys
            |> Seq.sumBy (fun streamId ->
                let acked = group.Offsets[streamId].Acked

                state.Stream streamId
                |> Seq.filter (fun message -> message.Seq > acked && group.Types.Contains message.Type)
                |> Seq.length
                |> int64)

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
                        let offset = group.Offsets[streamId]

                        let batch =
                            state.Stream streamId
                            |> Seq.skip (int offset.Acked)
                            |> Seq.filter (fun message -> group.Types.Contains message.Type)
                            |> Seq.truncate (max 1 request.BatchSize)
                            |> Seq.map (fun message ->
                                {
                                    Message = message
                                    Replaying = message.Seq <= offset.High
                                })
                            |> List.ofSeq

                        if batch.IsEmpty then None else Some(streamId, batch))

            match candidate with
            | None -> None
            | Some(streamId, batch) ->
                let token = Guid.NewGuid()
                group.Claims[streamId] <- token

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
