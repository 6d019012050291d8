/// The memory store against a pure model of consumer groups, and under concurrent workers.
module Sourced.Tests.StoreModelTests

open System
open System.Collections.Concurrent
open System.Threading
open System.Threading.Tasks
open Expecto
open FsCheck
open FsCheck.FSharp
open Sourced
open Sourced.Tests.Support
open Sourced.Tests.StoreContract.Kit

/// One step of a random script. Numbers pick streams, types, groups and held claims modulo their count,
/// so every value (shrunk ones included) is a valid step.
type Operation =
    /// Appends at the end of the streams: (stream, type) pairs.
    | Append of messages: (int * int) list
    | Claim of group: int * batchSize: int
    /// Completes a held claim, handling a prefix of its messages; an entry of the prefix may ask for a retry.
    | Complete of claim: int * prefix: int * retry: int option
    | Release of claim: int
    | Reset of group: int
    | Stop of group: int
    | Start of group: int

/// Messages stored before the groups register, then the operations.
type Script =
    {
        Preload: (int * int) list
        Operations: Operation list
    }

let streamNames = [| "s-0"; "s-1"; "s-2" |]
let typeNames = [| "model.zero"; "model.one"; "model.two" |]

/// The first group starts from the beginning, the second from its registration (after the preload).
let groupInfos =
    [|
        {
            Id = "from-beginning"
            Types = [ typeNames[0]; typeNames[1] ]
            StartFrom = StartFrom.Beginning
        }
        {
            Id = "from-now"
            Types = [ typeNames[1]; typeNames[2] ]
            StartFrom = StartFrom.Now
        }
    |]

let pick (number: int) (count: int) = ((number % count) + count) % count

type Generators =
    static member Script() : Arbitrary<Script> =
        let message = Gen.zip (Gen.choose (0, 2)) (Gen.choose (0, 2))

        let messages =
            Gen.choose (1, 4) |> Gen.bind (fun count -> Gen.listOfLength count message)

        let operation =
            Gen.frequency
                [
                    3, messages |> Gen.map Append
                    5, Gen.map2 (fun group batchSize -> Claim(group, batchSize)) (Gen.choose (0, 1)) (Gen.choose (1, 5))
                    4,
                    Gen.map3
                        (fun claim prefix retry -> Complete(claim, prefix, retry))
                        (Gen.choose (0, 3))
                        (Gen.choose (0, 5))
                        (Gen.optionOf (Gen.choose (0, 4)))
                    1, Gen.choose (0, 3) |> Gen.map Release
                    1, Gen.choose (0, 1) |> Gen.map Reset
                    1, Gen.choose (0, 1) |> Gen.map Stop
                    1, Gen.choose (0, 1) |> Gen.map Start
                ]

        let generate =
            Gen.map2
                (fun preload operations ->
                    {
                        Preload = preload
                        Operations = operations
                    })
                (Gen.choose (0, 6) |> Gen.bind (fun count -> Gen.listOfLength count message))
                (Gen.listOf operation)

        let shrinkOperations =
            (ArbMap.defaults |> ArbMap.arbitrary<Operation list>).Shrinker

        let shrinkPreload = (ArbMap.defaults |> ArbMap.arbitrary<(int * int) list>).Shrinker

        let shrink (script: Script) =
            Seq.append
                (shrinkOperations script.Operations
                 |> Seq.map (fun operations -> { script with Operations = operations }))
                (shrinkPreload script.Preload
                 |> Seq.map (fun preload -> { script with Preload = preload }))

        Arb.fromGenShrink (generate, shrink)

/// The model: plain immutable values and the intended semantics of the contract.
module Model =

    type Stored =
        {
            Id: Guid
            Stream: string
            Seq: int64
            Type: string
            Position: int64
        }

    type Group =
        {
            Types: Set<string>
            /// Where the group starts in each stream (the stream's seq at registration, for a group from now).
            Origins: Map<string, int64>
            Acked: Map<string, int64>
            /// The highest seq ever acknowledged per stream: replay detection.
            High: Map<string, int64>
            Stopped: bool
            Held: Set<string>
            /// Bumped by resets.
            Epoch: int
        }

    type Held =
        {
            Group: string
            Stream: string
            Seqs: int64 list
            Epoch: int
        }

    type State =
        {
            Log: Stored list
            Groups: Map<string, Group>
            /// Held claims, in the order they were taken (as the test keeps the store's).
            Claims: Held list
        }

    let empty =
        {
            Log = []
            Groups = Map.empty
            Claims = []
        }

    let stream (state: State) (streamId: string) =
        state.Log |> List.filter (fun message -> message.Stream = streamId)

    let lastSeq state streamId =
        stream state streamId |> List.length |> int64

    let append (state: State) (streamId: string) (messageType: string) (id: Guid) =
        let stored =
            {
                Id = id
                Stream = streamId
                Seq = lastSeq state streamId + 1L
                Type = messageType
                Position = int64 state.Log.Length + 1L
            }

        { state with
            Log = state.Log @ [ stored ]
        },
        stored

    let register (state: State) (info: GroupInfo) =
        let origins =
            match info.StartFrom with
            | StartFrom.Beginning -> Map.empty
            | StartFrom.Now ->
                state.Log
                |> List.map (fun message -> message.Stream)
                |> List.distinct
                |> List.map (fun streamId -> streamId, lastSeq state streamId)
                |> Map.ofList

        let group =
            {
                Types = Set.ofList info.Types
                Origins = origins
                Acked = Map.empty
                High = Map.empty
                Stopped = false
                Held = Set.empty
                Epoch = 0
            }

        { state with
            Groups = Map.add info.Id group state.Groups
        }

    let origin (group: Group) streamId =
        Map.tryFind streamId group.Origins |> Option.defaultValue 0L

    let acked (group: Group) streamId =
        Map.tryFind streamId group.Acked
        |> Option.defaultWith (fun () -> origin group streamId)

    let high (group: Group) streamId =
        Map.tryFind streamId group.High |> Option.defaultValue 0L

    let pending (state: State) (group: Group) streamId =
        stream state streamId
        |> List.filter (fun message -> message.Seq > acked group streamId && group.Types.Contains message.Type)

    let streams (state: State) =
        state.Log |> List.map (fun message -> message.Stream) |> List.distinct

    /// The claimed stream and its (id, replaying) pairs, if anything is claimable.
    let claim (state: State) (groupId: string) (batchSize: int) =
        let group = state.Groups[groupId]

        let candidates =
            if group.Stopped then
                []
            else
                streams state
                |> List.filter (fun streamId -> not (group.Held.Contains streamId))
                |> List.choose (fun streamId ->
                    match pending state group streamId with
                    | [] -> None
                    | first :: _ as messages -> Some(first.Position, streamId, messages))

        match candidates with
        | [] -> state, None
        | _ ->
            let _, streamId, messages = List.minBy (fun (position, _, _) -> position) candidates
            let batch = List.truncate batchSize messages

            let held =
                {
                    Group = groupId
                    Stream = streamId
                    Seqs = batch |> List.map (fun message -> message.Seq)
                    Epoch = group.Epoch
                }

            let state =
                { state with
                    Groups =
                        Map.add
                            groupId
                            { group with
                                Held = group.Held.Add streamId
                            }
                            state.Groups
                    Claims = state.Claims @ [ held ]
                }

            state,
            Some(
                streamId,
                batch
                |> List.map (fun message -> message.Id, message.Seq <= high group streamId)
            )

    let private unhold (state: State) (index: int) =
        let held = state.Claims[index]
        let group = state.Groups[held.Group]

        held,
        { state with
            Groups =
                Map.add
                    held.Group
                    { group with
                        Held = group.Held.Remove held.Stream
                    }
                    state.Groups
            Claims = List.removeAt index state.Claims
        }

    /// Completes the held claim at `index`, acknowledging its first `count` messages. A claim taken before a
    /// reset does not move the offset, but what it processed counts for replay detection.
    let complete (state: State) (index: int) (count: int) =
        let held, state = unhold state index

        if count = 0 then
            state
        else
            let group = state.Groups[held.Group]
            let seq = held.Seqs[count - 1]

            let acked =
                if held.Epoch = group.Epoch then
                    Map.add held.Stream (max seq (acked group held.Stream)) group.Acked
                else
                    group.Acked

            let group =
                { group with
                    Acked = acked
                    High = Map.add held.Stream (max seq (high group held.Stream)) group.High
                }

            { state with
                Groups = Map.add held.Group group state.Groups
            }

    let release (state: State) (index: int) = unhold state index |> snd

    let updateGroup (state: State) (groupId: string) (update: Group -> Group) =
        { state with
            Groups = Map.add groupId (update state.Groups[groupId]) state.Groups
        }

    let reset (group: Group) =
        { group with
            Acked = Map.empty
            Epoch = group.Epoch + 1
        }

    /// Streams with an offset, pending streams and lag.
    let stats (state: State) (groupId: string) =
        let group = state.Groups[groupId]

        let tracked =
            streams state
            |> List.filter (fun streamId ->
                stream state streamId
                |> List.exists (fun message ->
                    message.Seq > origin group streamId && group.Types.Contains message.Type))

        let lags =
            tracked
            |> List.map (fun streamId -> pending state group streamId |> List.length)

        int64 tracked.Length, int64 (lags |> List.filter (fun lag -> lag > 0) |> List.length), int64 (List.sum lags)

let config =
    { FsCheckConfig.defaultConfig with
        arbitrary = [ typeof<Generators> ]
        maxTest = 300
    }

let wait (work: Task<'T>) = work.GetAwaiter().GetResult()

let finish (work: Task) = work.GetAwaiter().GetResult()

/// Runs a script against a fresh memory store and the model, comparing every observable result.
let agrees (script: Script) =
    let store = MemoryStore() :> IMessageStore
    let mutable model = Model.empty
    let claims = ResizeArray<Claim>()

    let appendAll (messages: (int * int) list) (step: string) =
        let given =
            messages
            |> List.map (fun (streamNumber, typeNumber) ->
                message streamNames[pick streamNumber streamNames.Length] typeNames[pick typeNumber typeNames.Length] 0)

        let stored = wait (store.AppendNextAsync(given, ct))

        let expected =
            given
            |> List.map (fun message ->
                let state, stored = Model.append model message.StreamId message.Type message.Id
                model <- state
                stored.Id, stored.Stream, stored.Seq, stored.Position)

        Expect.equal
            (stored
             |> List.map (fun message -> message.Id, message.StreamId, message.Seq, message.Position))
            expected
            $"{step}: appended"

    appendAll script.Preload "preload"

    for info in groupInfos do
        finish (store.RegisterGroupAsync(info, ct))
        model <- Model.register model info

    script.Operations
    |> List.iteri (fun index operation ->
        let step = $"step {index + 1} ({operation})"

        match operation with
        | Append messages -> appendAll messages step
        | Claim(groupNumber, batchSize) ->
            let group = groupInfos[pick groupNumber groupInfos.Length].Id
            let batchSize = 1 + pick (batchSize - 1) 5
            let claimed = wait (store.ClaimAsync(request group batchSize false, ct))
            let state, expected = Model.claim model group batchSize
            model <- state

            Expect.equal (claimed |> Option.map (fun claim -> claim.StreamId, pending claim)) expected $"{step}: claim"

            claimed |> Option.iter claims.Add
        | Complete(claimNumber, prefix, retry) when claims.Count > 0 ->
            let index = pick claimNumber claims.Count
            let claim = claims[index]
            let prefix = pick prefix (claim.Messages.Length + 1)

            let retry =
                retry
                |> Option.filter (fun _ -> prefix > 0)
                |> Option.map (fun retry -> pick retry prefix)

            let handled =
                claim.Messages
                |> List.truncate prefix
                |> List.mapi (fun position pending ->
                    let actions =
                        if retry = Some position then [ Action.Retry ]
                        elif position % 2 = 0 then [ Action.Ack ]
                        else []

                    handle actions pending)

            let result = wait (store.CompleteAsync(claim, handled, ct))
            Expect.equal result CompleteResult.Completed $"{step}: completed"
            claims.RemoveAt index
            model <- Model.complete model index (defaultArg retry prefix)
        | Release claimNumber when claims.Count > 0 ->
            let index = pick claimNumber claims.Count
            finish (store.ReleaseAsync(claims[index], ct))
            claims.RemoveAt index
            model <- Model.release model index
        | Complete _
        | Release _ -> ()
        | Reset groupNumber ->
            let group = groupInfos[pick groupNumber groupInfos.Length].Id
            finish (store.ResetGroupAsync(group, ct))
            model <- Model.updateGroup model group Model.reset
        | Stop groupNumber ->
            let group = groupInfos[pick groupNumber groupInfos.Length].Id
            finish (store.StopGroupAsync(group, "stopped by the script", None, ct) :> Task)
            model <- Model.updateGroup model group (fun group -> { group with Stopped = true })
        | Start groupNumber ->
            let group = groupInfos[pick groupNumber groupInfos.Length].Id
            finish (store.StartGroupAsync(group, ct))
            model <- Model.updateGroup model group (fun group -> { group with Stopped = false })

        for stats in wait (store.GroupStatsAsync ct) do
            Expect.equal
                (stats.Streams, stats.PendingStreams, stats.Lag)
                (Model.stats model stats.Id)
                $"{step}: stats of {stats.Id} (streams, pending streams, lag)"

            Expect.equal
                (stats.Status = GroupStatus.Stopped)
                model.Groups[stats.Id].Stopped
                $"{step}: status of {stats.Id}")

    for streamId in streamNames do
        let stored = wait (readStream store streamId)

        Expect.equal
            (stored |> List.map (fun message -> message.Id, message.Seq))
            (Model.stream model streamId |> List.map (fun message -> message.Id, message.Seq))
            $"final contents of {streamId}"

    true

let model =
    testList
        "model"
        [
            testPropertyWithConfig config "the memory store agrees with the model after every operation" agrees
        ]

/// The type of the message at a seq: every third one is of the second type.
let typeAt (seq: int64) =
    if seq % 3L = 0L then typeNames[1] else typeNames[0]

/// Appends with optimistic concurrency, re-reading the stream after every conflict; gives the stored seqs.
let appendOptimistically (store: IMessageStore) (streamId: string) (count: int) =
    task {
        let written = ResizeArray<Guid * int64>()

        for number in 1..count do
            let mutable stored = false

            while not stored do
                let! messages = readStream store streamId
                let last = int64 messages.Length

                let next =
                    { message streamId typeNames[0] number with
                        Seq = last + 1L
                    }

                match! store.AppendAsync(streamId, last, [ next ], ct) with
                | AppendResult.Appended [ appended ] ->
                    written.Add(appended.Id, appended.Seq)
                    stored <- true
                | AppendResult.Appended other -> failtestf "appended %A" other
                | AppendResult.Conflict actual ->
                    Expect.isGreaterThan actual last "a conflict means the stream moved on"

        return List.ofSeq written
    }

let concurrency =
    testList
        "concurrency"
        [
            testCaseTask
                "concurrent claimers never share a group's stream and process every message once per group, in order"
            <| fun () ->
                task {
                    let store = MemoryStore() :> IMessageStore
                    let streams = [ for number in 1..50 -> $"stream-{number}" ]
                    let perStream = 20L
                    let initially = 10L

                    let groups =
                        [ "everything", [ typeNames[0]; typeNames[1] ]; "thirds", [ typeNames[1] ] ]

                    for group, types in groups do
                        do! register store group types StartFrom.Beginning

                    let numbered streamId seq =
                        { message streamId (typeAt seq) (int seq) with
                            Seq = seq
                        }

                    for streamId in streams do
                        let! _ =
                            store.AppendAsync(streamId, 0L, [ for seq in 1L .. initially -> numbered streamId seq ], ct)

                        ()

                    let held = ConcurrentDictionary<struct (string * string), string>()
                    let violations = ConcurrentQueue<string>()

                    let processed =
                        ConcurrentDictionary<struct (string * string), ConcurrentQueue<int64>>()

                    let record (group: string) (streamId: string) (seq: int64) (_: SyncContext) =
                        task { processed.GetOrAdd(struct (group, streamId), fun _ -> ConcurrentQueue()).Enqueue seq }

                    let writing =
                        Task.Run<unit>(
                            Func<Task<unit>>(fun () ->
                                task {
                                    for seq in initially + 1L .. perStream do
                                        for streamId in streams do
                                            match!
                                                store.AppendAsync(streamId, seq - 1L, [ numbered streamId seq ], ct)
                                            with
                                            | AppendResult.Appended _ -> ()
                                            | AppendResult.Conflict actual ->
                                                violations.Enqueue $"the writer conflicted on {streamId} at {actual}"

                                        do! Task.Yield()
                                })
                        )

                    let work (group: string) (types: string list) (worker: int) =
                        task {
                            let random = Random(worker)
                            let name = $"{group}-{worker}"

                            let request =
                                {
                                    Group = group
                                    Worker = name
                                    BatchSize = (if worker % 2 = 0 then 1 else 5)
                                    WithHistory = false
                                }

                            let mutable running = true

                            while running do
                                let writerDone = writing.IsCompleted

                                match! store.ClaimAsync(request, ct) with
                                | None when writerDone -> running <- false
                                | None -> do! Task.Yield()
                                | Some claim ->
                                    let key = struct (claim.Group, claim.StreamId)

                                    if not (held.TryAdd(key, name)) then
                                        violations.Enqueue $"{name} claimed {claim.StreamId}, held by {held[key]}"

                                    for pending in claim.Messages do
                                        if not (List.contains pending.Message.Type types) then
                                            violations.Enqueue $"{name} got a {pending.Message.Type}"

                                        if pending.Replaying then
                                            violations.Enqueue $"{name} got a replay of {pending.Message}"

                                    let roll = random.Next 100
                                    held.TryRemove key |> ignore

                                    if roll < 5 then
                                        do! store.ReleaseAsync(claim, ct)
                                    else
                                        let prefix =
                                            if roll < 80 then
                                                claim.Messages.Length
                                            else
                                                random.Next(claim.Messages.Length + 1)

                                        let retry =
                                            if roll >= 90 && prefix > 0 then
                                                Some(random.Next prefix)
                                            else
                                                None

                                        let handled =
                                            claim.Messages
                                            |> List.truncate prefix
                                            |> List.mapi (fun position pending ->
                                                if retry = Some position then
                                                    handle [ Action.Retry ] pending
                                                else
                                                    handle
                                                        [
                                                            Action.Sync(
                                                                record group claim.StreamId pending.Message.Seq
                                                            )
                                                        ]
                                                        pending)

                                        let! result = store.CompleteAsync(claim, handled, ct)

                                        if result <> CompleteResult.Completed then
                                            violations.Enqueue $"{name} could not complete: {result}"
                        }

                    let workers =
                        [
                            for group, types in groups do
                                for worker in 1..4 ->
                                    Task.Run<unit>(Func<Task<unit>>(fun () -> work group types worker))
                        ]

                    let! _ = Task.WhenAll(writing :: workers)

                    for group, _ in groups do
                        do! expectNoClaim store group "a whole pass after the workers finds nothing"

                    Expect.isEmpty violations "no violations"

                    for group, types in groups do
                        for streamId in streams do
                            let expected =
                                [ 1L .. perStream ] |> List.filter (fun seq -> List.contains (typeAt seq) types)

                            let actual =
                                match processed.TryGetValue(struct (group, streamId)) with
                                | true, seqs -> List.ofSeq seqs
                                | _ -> []

                            Expect.equal actual expected $"{group} processed {streamId} once, in order"

                        let! stats = statsOf store group
                        Expect.equal (counts stats) {| PendingStreams = 0L; Lag = 0L |} $"{group} has no lag"

                    for streamId in streams do
                        let! stored = readStream store streamId
                        Expect.equal (seqs stored) [ 1L .. perStream ] $"{streamId} is complete"
                }

            testCaseTask "optimistic appenders racing on a few streams never lose or duplicate a seq"
            <| fun () ->
                task {
                    let store = MemoryStore() :> IMessageStore
                    let streams = [| "race-1"; "race-2"; "race-3" |]

                    let! written =
                        inParallel 8 (fun writer -> appendOptimistically store streams[writer % streams.Length] 25)

                    for streamIndex, streamId in Array.indexed streams do
                        let accepted =
                            written
                            |> Array.indexed
                            |> Array.filter (fun (writer, _) -> (writer + 1) % streams.Length = streamIndex)
                            |> Array.collect (snd >> Array.ofList)

                        let! stored = readStream store streamId

                        Expect.equal (seqs stored) [ 1L .. int64 accepted.Length ] $"{streamId}: seqs without gaps"

                        Expect.equal
                            (stored |> List.map (fun message -> message.Id, message.Seq) |> List.sort)
                            (accepted |> List.ofArray |> List.sort)
                            $"{streamId}: exactly the accepted messages"
                }

            testCaseTask "concurrent append-next writers get gapless seqs per stream and unique positions"
            <| fun () ->
                task {
                    let store = MemoryStore() :> IMessageStore
                    let streams = [| "next-1"; "next-2"; "next-3" |]

                    let! written =
                        inParallel 8 (fun writer ->
                            task {
                                let stored = ResizeArray<Message>()

                                for number in 1..40 do
                                    let! batch =
                                        store.AppendNextAsync(
                                            [
                                                message streams[number % streams.Length] typeNames[0] writer
                                                message streams[(number + writer) % streams.Length] typeNames[0] writer
                                            ],
                                            ct
                                        )

                                    stored.AddRange batch

                                return List.ofSeq stored
                            })

                    let! log = store.ReadLogAsync(0L, Int32.MaxValue, ct)
                    Expect.equal (log |> List.map (fun message -> message.Position)) [ 1L .. 640L ] "positions"

                    for streamId in streams do
                        let! stored = readStream store streamId
                        Expect.equal (seqs stored) [ 1L .. int64 stored.Length ] $"{streamId}: seqs without gaps"

                    for messages in written do
                        for streamId in streams do
                            let mine = messages |> List.filter (fun message -> message.StreamId = streamId)

                            Expect.equal
                                (seqs mine)
                                (seqs mine |> List.sort |> List.distinct)
                                $"a writer's messages keep their order in {streamId}"

                    Expect.equal
                        (written
                         |> Seq.concat
                         |> Seq.map (fun message -> message.Id)
                         |> Set.ofSeq
                         |> Set.count)
                        640
                        "every message stored once"
                }
        ]

let tests: Test = testList "store model" [ model; concurrency ]
