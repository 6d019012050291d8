/// Helpers for the store contract suite: builders, claim/complete shortcuts and the per-test store setup.
module Sourced.Tests.StoreContract.Kit

open System
open System.Threading
open System.Threading.Tasks
open Expecto
open Sourced
open Sourced.Tests.Support

/// Every test clock starts here: a whole second, so any store can keep it exactly.
let start = DateTimeOffset(2030, 1, 1, 9, 0, 0, TimeSpan.Zero)

let ct = CancellationToken.None

let command = "tests.command"
let happened = "tests.happened"
let other = "tests.other"

let payload (number: int) = Json.parse $"""{{"number":{number}}}"""

let message (streamId: string) (messageType: string) (number: int) =
    Message.create streamId messageType (payload number)

/// The messages numbered to follow `expectedSeq` in their stream.
let following (expectedSeq: int64) (messages: Message list) =
    messages
    |> List.mapi (fun index message ->
        { message with
            Seq = expectedSeq + int64 index + 1L
        })

let ids (messages: Message list) =
    messages |> List.map (fun message -> message.Id)

let seqs (messages: Message list) =
    messages |> List.map (fun message -> message.Seq)

/// What a claim hands out: message ids and replay flags.
let pending (claim: Claim) =
    claim.Messages
    |> List.map (fun pending -> pending.Message.Id, pending.Replaying)

let fresh (messages: Message list) =
    messages |> List.map (fun message -> message.Id, false)

let appendTo (store: IMessageStore) (streamId: string) (expectedSeq: int64) (messages: Message list) =
    Store.appendAsync store streamId expectedSeq (following expectedSeq messages) ct

let readStream (store: IMessageStore) (streamId: string) =
    store.ReadStreamAsync(streamId, 0L, None, ct)

/// The whole store content that tests compare before and after a failing operation.
let snapshot (store: IMessageStore) =
    task {
        let! log = store.ReadLogAsync(0L, Int32.MaxValue, ct)

        return
            log
            |> List.map (fun message -> message.Id, message.StreamId, message.Seq, message.Position)
    }

/// After a failed operation: the log is as it was, and nothing was scheduled (the clock moves past any due time).
let expectNothingChanged (clock: ManualClock) (store: IMessageStore) before =
    task {
        let! after = snapshot store
        Expect.equal after before "nothing stored"
        clock.Advance(TimeSpan.FromSeconds 2.0)
        let! promoted = store.PromoteDueAsync ct
        Expect.equal promoted 0 "nothing scheduled"
    }

/// After a refused completion: the log is as it was, and the group gets all of `stored` again, unacknowledged.
let expectUntouched (store: IMessageStore) (group: string) before (stored: Message list) =
    task {
        let! after = snapshot store
        Expect.equal after before "nothing stored"

        match!
            store.ClaimAsync(
                {
                    Group = group
                    Worker = "worker-1"
                    BatchSize = 10
                    WithHistory = false
                },
                ct
            )
        with
        | Some again -> Expect.equal (pending again) (fresh stored) "nothing acknowledged"
        | None -> failtestf "group '%s' expected a claim, got none" group
    }

let register (store: IMessageStore) (group: string) (types: string list) (startFrom: StartFrom) =
    store.RegisterGroupAsync(
        {
            Id = group
            Types = types
            StartFrom = startFrom
        },
        ct
    )

let request (group: string) (batchSize: int) (withHistory: bool) : ClaimRequest =
    {
        Group = group
        Worker = "worker-1"
        BatchSize = batchSize
        WithHistory = withHistory
    }

let claim (store: IMessageStore) (group: string) (batchSize: int) =
    store.ClaimAsync(request group batchSize false, ct)

let claimSome (store: IMessageStore) (group: string) (batchSize: int) : Task<Claim> =
    task {
        match! claim store group batchSize with
        | Some claim -> return claim
        | None -> return failtestf "group '%s' expected a claim, got none" group
    }

let expectNoClaim (store: IMessageStore) (group: string) (because: string) =
    task {
        match! claim store group 100 with
        | None -> ()
        | Some claim ->
            failtestf
                "%s: group '%s' claimed stream '%s' (%A)"
                because
                group
                claim.StreamId
                (claim.Messages |> List.map (fun pending -> pending.Message))
    }

let handle (actions: Action list) (pending: Pending) : Handled =
    {
        Message = pending.Message
        Actions = actions
    }

let acknowledged (claim: Claim) =
    claim.Messages |> List.map (handle [ Action.Ack ])

let complete (store: IMessageStore) (claim: Claim) (handled: Handled list) =
    task {
        let! result = store.CompleteAsync(claim, handled, ct)
        Expect.equal result CompleteResult.Completed "completed"
    }

let completeAll (store: IMessageStore) (claim: Claim) =
    complete store claim (acknowledged claim)

/// Claims every batch of the group and acknowledges it, until nothing is left.
let processAll (store: IMessageStore) (group: string) =
    task {
        let mutable busy = true

        while busy do
            match! claim store group 100 with
            | Some claim -> do! completeAll store claim
            | None -> busy <- false
    }

let statsOf (store: IMessageStore) (group: string) =
    task {
        let! stats = store.GroupStatsAsync ct

        match stats |> List.filter (fun stats -> stats.Id = group) with
        | [ stats ] -> return stats
        | found -> return failtestf "expected one stats row for group '%s', got %d" group found.Length
    }

let counts (stats: GroupStats) =
    {|
        PendingStreams = stats.PendingStreams
        Lag = stats.Lag
    |}

let failure (text: string) : GroupError =
    {
        Error = text
        ExceptionType = "System.Exception"
        Detail = "at somewhere"
        Message = None
        At = start
    }

/// Subscribes, and gives the first notification that `wanted` accepts.
let listen (store: IMessageStore) (wanted: StoreNotification -> bool) =
    let heard =
        TaskCompletionSource<StoreNotification>(TaskCreationOptions.RunContinuationsAsynchronously)

    let subscription =
        store.Subscribe(fun notification ->
            if wanted notification then
                heard.TrySetResult notification |> ignore)

    subscription, heard.Task.WaitAsync(TimeSpan.FromSeconds 10.0)

let appendedType (messageType: string) (notification: StoreNotification) =
    match notification with
    | StoreNotification.MessagesAppended types -> List.contains messageType types
    | StoreNotification.GroupStarted _ -> false

/// Several calls at once on the thread pool.
let inParallel (count: int) (work: int -> Task<'T>) : Task<'T array> =
    Task.WhenAll [ for index in 1..count -> Task.Run<'T>(Func<Task<'T>>(fun () -> work index)) ]

/// One test of the suite: a fresh store on a fresh manual clock, disposed afterwards when it is disposable.
let contract
    (create: TimeProvider -> Task<IMessageStore>)
    (name: string)
    (body: ManualClock -> IMessageStore -> Task<unit>)
    =
    testCaseTask name (fun () ->
        let clock = ManualClock start
        withStore create clock (body clock))

/// The fields a store keeps as given (its clock may keep `CreatedAt` to the microsecond only).
let expectKept (given: Message) (stored: Message) =
    Expect.equal stored.Id given.Id "id"
    Expect.equal stored.StreamId given.StreamId "stream"
    Expect.equal stored.Type given.Type "type"
    Expect.equal stored.CausationId given.CausationId "causation id"
    Expect.equal stored.CorrelationId given.CorrelationId "correlation id"
    Expect.isTrue (Json.deepEquals stored.Payload given.Payload) "payload"
    Expect.equal (stored.Metadata |> Map.keys |> List.ofSeq) (given.Metadata |> Map.keys |> List.ofSeq) "metadata keys"

    Expect.isLessThan (abs (stored.CreatedAt - given.CreatedAt).TotalMilliseconds) 1.0 "created at"

/// `expectKept` for each message and its stored counterpart, in order; the lists have the same length.
/// NOTE: a function of its own, not `List.iter2` inside a `task`: in Release the compiler inlines `List.iter2`'s
/// recursive loop into the task, which then cannot be compiled as a state machine (FS3511).
let expectAllKept (given: Message list) (stored: Message list) =
    Expect.equal stored.Length given.Length "as many messages stored as given"
    List.iter2 expectKept given stored
