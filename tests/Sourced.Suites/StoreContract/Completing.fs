/// The store contract: completing.
module Sourced.Tests.StoreContract.Completing

open System
open System.Threading
open System.Threading.Tasks
open Expecto
open Sourced
open Sourced.Tests.Support
open Sourced.Tests.StoreContract.Kit

let tests (create: TimeProvider -> Task<IMessageStore>) =
    let contract = contract create

    testList
        "completing"
        [
            contract "completing acknowledges the handled messages, with Ack or with no action at all"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! _ = appendTo store "s" 0L [ message "s" happened 1; message "s" happened 2 ]
                    let! claim = claimSome store "g" 10

                    do! complete store claim [ handle [ Action.Ack ] claim.Messages[0]; handle [] claim.Messages[1] ]

                    do! expectNoClaim store "g" "both acknowledged"
                    let! stats = statsOf store "g"
                    Expect.equal (counts stats) {| PendingStreams = 0L; Lag = 0L |} "no lag"
                }

            contract "completing a prefix acknowledges only that prefix"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning

                    let! stored =
                        appendTo store "s" 0L [ for number in 1..3 -> message "s" happened number ]

                    let! claim = claimSome store "g" 3
                    do! complete store claim [ handle [ Action.Ack ] claim.Messages[0] ]
                    let! again = claimSome store "g" 10
                    Expect.equal (pending again) (fresh (List.tail stored)) "the rest"
                }

            contract "completing refuses handled messages that are not a prefix of the claim and changes nothing"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning

                    let! stored =
                        appendTo store "s" 0L [ message "s" happened 1; message "s" happened 2 ]

                    let! before = snapshot store
                    let sideEffect = Action.AppendNext [ message "side" command 9 ]

                    let wrong =
                        [
                            fun (claim: Claim) -> [ handle [ sideEffect ] claim.Messages[1] ]
                            fun claim -> [ handle [ sideEffect ] claim.Messages[0]; handle [] claim.Messages[0] ]
                            fun _ ->
                                [
                                    {
                                        Message = message "s" happened 3
                                        Actions = [ sideEffect ]
                                    }
                                ]
                        ]

                    for handled in wrong do
                        let! claim = claimSome store "g" 2

                        let! _ =
                            raises<ArgumentException>(fun () -> store.CompleteAsync(claim, handled claim, ct))

                        do! store.ReleaseAsync(claim, ct)

                    do! expectUntouched store "g" before stored
                }

            contract
                "a completion that only appends stores every append in order and acknowledges, or on a conflict nothing"
            <| fun clock store ->
                task {
                    do! register store "g" [ command ] StartFrom.Beginning

                    let! commands =
                        appendTo store "o-1" 0L [ message "o-1" command 1; message "o-1" command 2 ]

                    let! _ = appendTo store "taken" 0L [ message "taken" happened 3 ]
                    let! claim = claimSome store "g" 2
                    let accepted = following 2L [ message "o-1" happened 4; message "o-1" happened 5 ]
                    let notice = message "mail" other 6
                    let stale = following 0L [ message "taken" happened 7 ]
                    let! before = snapshot store

                    let! conflicted =
                        store.CompleteAsync(
                            claim,
                            [
                                handle [ Action.AppendAfter("o-1", 2L, accepted) ] claim.Messages[0]
                                handle
                                    [ Action.AppendNext [ notice ]; Action.AppendAfter("taken", 0L, stale) ]
                                    claim.Messages[1]
                            ],
                            ct
                        )

                    Expect.equal conflicted (CompleteResult.Conflict("taken", 0L, 1L)) "the second append conflicts"
                    do! expectNothingChanged clock store before
                    let! again = claimSome store "g" 2
                    Expect.equal (pending again) (fresh commands) "released, nothing acknowledged"

                    do!
                        complete
                            store
                            again
                            [
                                handle [ Action.AppendAfter("o-1", 2L, accepted) ] again.Messages[0]
                                handle [ Action.AppendNext [ notice ] ] again.Messages[1]
                            ]

                    let! stream = readStream store "o-1"
                    Expect.equal (ids stream) (ids (commands @ accepted)) "the optimistic append, after the commands"
                    Expect.equal (seqs stream) [ 1L; 2L; 3L; 4L ] "in seq order"
                    let! mail = readStream store "mail"
                    Expect.equal (ids mail) [ notice.Id ] "the append to the next seq"
                    Expect.isTrue (mail[0].Position > stream[3].Position) "in the order of the actions"
                    do! expectNoClaim store "g" "both acknowledged"
                }

            contract "completing executes AppendAfter, AppendNext and Schedule actions in order, then acknowledges"
            <| fun clock store ->
                task {
                    do! register store "g" [ command ] StartFrom.Beginning

                    let! commands =
                        appendTo store "o-1" 0L [ message "o-1" command 1; message "o-1" command 2 ]

                    let! claim = claimSome store "g" 2
                    let first = commands[0]
                    let second = commands[1]
                    let accepted = message "o-1" happened 10 |> Message.causedBy first
                    let noted = message "o-1" happened 11 |> Message.causedBy first
                    let shipped = message "o-1" happened 12 |> Message.causedBy second
                    let reminder = message "mail" command 13 |> Message.causedBy second

                    do!
                        complete
                            store
                            claim
                            [
                                handle
                                    [
                                        Action.AppendAfter("o-1", 2L, following 2L [ accepted ])
                                        Action.AppendNext [ noted ]
                                    ]
                                    claim.Messages[0]
                                handle
                                    [
                                        Action.Schedule(clock.GetUtcNow().AddMinutes 1.0, [ reminder ])
                                        Action.AppendAfter("o-1", 4L, following 4L [ shipped ])
                                        Action.Ack
                                    ]
                                    claim.Messages[1]
                            ]

                    let! stream = readStream store "o-1"

                    Expect.equal
                        (stream |> List.map (fun message -> message.Id, message.Seq))
                        [ first.Id, 1L; second.Id, 2L; accepted.Id, 3L; noted.Id, 4L; shipped.Id, 5L ]
                        "appended in order"

                    expectAllKept [ accepted; noted; shipped ] (List.skip 2 stream)
                    let! mail = readStream store "mail"
                    Expect.isEmpty mail "scheduled, not yet appended"
                    do! expectNoClaim store "g" "both commands acknowledged"

                    clock.Advance(TimeSpan.FromMinutes 2.0)
                    let! promoted = store.PromoteDueAsync ct
                    Expect.equal promoted 1 "the reminder"
                    let! mail = readStream store "mail"
                    Expect.equal (ids mail) [ reminder.Id ] "promoted"
                    Expect.equal mail[0].CausationId second.Id "caused by the second command"
                }

            contract "a Sync action runs once when its batch is completed"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! _ = appendTo store "s" 0L [ message "s" happened 1 ]
                    let! claim = claimSome store "g" 1
                    let runs = ref 0

                    let sync _ =
                        task { Interlocked.Increment(&runs.contents) |> ignore }

                    do! complete store claim [ handle [ Action.Sync sync ] claim.Messages[0] ]
                    Expect.equal runs.Value 1 "ran once"
                    do! expectNoClaim store "g" "acknowledged"
                }

            contract
                "processing stops at the first entry with Retry: it and later ones are not executed nor acknowledged"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning

                    let! stored =
                        appendTo store "s" 0L [ for number in 1..3 -> message "s" happened number ]

                    let! claim = claimSome store "g" 3
                    let outputs = [ for number in 1..3 -> message "out" command number ]

                    do!
                        complete
                            store
                            claim
                            [
                                handle [ Action.AppendNext [ outputs[0] ] ] claim.Messages[0]
                                handle [ Action.AppendNext [ outputs[1] ]; Action.Retry ] claim.Messages[1]
                                handle [ Action.AppendNext [ outputs[2] ] ] claim.Messages[2]
                            ]

                    let! out = readStream store "out"
                    Expect.equal (ids out) [ outputs[0].Id ] "only the first entry executed"
                    let! again = claimSome store "g" 10
                    Expect.equal (pending again) (fresh (List.tail stored)) "retried from the second"
                }

            contract "a Retry on the first entry acknowledges nothing and releases the claim"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning

                    let! stored =
                        appendTo store "s" 0L [ for number in 1..3 -> message "s" happened number ]

                    let! claim = claimSome store "g" 3
                    do! complete store claim (claim.Messages |> List.map (handle [ Action.Retry ]))
                    let! again = claimSome store "g" 10
                    Expect.equal (pending again) (fresh stored) "the whole batch again"
                }

            contract
                "an AppendAfter on a stream that moved is a conflict: nothing executed or acknowledged, claim released"
            <| fun clock store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! _ = appendTo store "out" 0L [ message "out" command 1 ]

                    let! stored =
                        appendTo store "s" 0L [ message "s" happened 2; message "s" happened 3 ]

                    let! before = snapshot store
                    let! claim = claimSome store "g" 2
                    let synced = ref false

                    let sync _ = task { synced.Value <- true }

                    let! result =
                        store.CompleteAsync(
                            claim,
                            [
                                handle
                                    [
                                        Action.AppendNext [ message "side" command 4 ]
                                        Action.Schedule(clock.GetUtcNow().AddSeconds 1.0, [ message "later" command 5 ])
                                        Action.Sync sync
                                    ]
                                    claim.Messages[0]
                                handle
                                    [ Action.AppendAfter("out", 0L, following 0L [ message "out" command 6 ]) ]
                                    claim.Messages[1]
                            ],
                            ct
                        )

                    Expect.equal result (CompleteResult.Conflict("out", 0L, 1L)) "conflict"
                    Expect.isFalse synced.Value "sync not run"
                    do! expectNothingChanged clock store before
                    let! again = claimSome store "g" 10
                    Expect.equal (pending again) (fresh stored) "released, nothing acknowledged"
                }

            contract "a Sync that throws propagates: nothing appended, scheduled or acknowledged, claim released"
            <| fun clock store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning

                    let! stored =
                        appendTo store "s" 0L [ message "s" happened 1; message "s" happened 2 ]

                    let! before = snapshot store
                    let! claim = claimSome store "g" 2

                    let failing _ : Task<unit> =
                        task { return failwith "projection database is down" }

                    let handled =
                        [
                            handle
                                [
                                    Action.AppendNext [ message "side" command 3 ]
                                    Action.Schedule(clock.GetUtcNow().AddSeconds 1.0, [ message "later" command 4 ])
                                ]
                                claim.Messages[0]
                            handle [ Action.Sync failing ] claim.Messages[1]
                        ]

                    let! error = raises<Exception>(fun () -> store.CompleteAsync(claim, handled, ct))
                    Expect.stringContains error.Message "projection database is down" "the sync's exception"
                    do! expectNothingChanged clock store before
                    let! again = claimSome store "g" 10
                    Expect.equal (pending again) (fresh stored) "released, nothing acknowledged"
                }

            contract "a completion that would store a bad message is refused and changes nothing"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! stored = appendTo store "s" 0L [ message "s" happened 1 ]
                    let! before = snapshot store

                    let bad =
                        [
                            Action.AppendNext [ message "out" command 2; stored[0] ]
                            Action.AppendAfter(
                                "out",
                                0L,
                                [
                                    { message "out" command 3 with
                                        Seq = 5L
                                    }
                                ]
                            )
                        ]

                    for action in bad do
                        let! claim = claimSome store "g" 1

                        let! _ =
                            raises<ArgumentException>(fun () ->
                                store.CompleteAsync(claim, [ handle [ action ] claim.Messages[0] ], ct))

                        do! store.ReleaseAsync(claim, ct)

                    do! expectUntouched store "g" before stored
                }

            contract
                "completing a claim that is no longer held reports it lost and changes nothing; releasing it does nothing"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! _ = appendTo store "s" 0L [ message "s" happened 1 ]
                    let! finished = claimSome store "g" 1
                    do! completeAll store finished
                    let! again = store.CompleteAsync(finished, acknowledged finished, ct)
                    Expect.equal again CompleteResult.Lost "completed already"
                    do! store.ReleaseAsync(finished, ct)

                    let! stored = appendTo store "s" 1L [ message "s" happened 2 ]
                    let! stale = claimSome store "g" 1
                    do! store.ReleaseAsync(stale, ct)
                    let! current = claimSome store "g" 1
                    do! store.ReleaseAsync(stale, ct)
                    do! expectNoClaim store "g" "releasing a stale claim leaves the current one held"

                    let! late = store.CompleteAsync(stale, acknowledged stale, ct)
                    Expect.equal late CompleteResult.Lost "released already"
                    do! expectNoClaim store "g" "completing a stale claim leaves the current one held"
                    Expect.equal (pending current) (fresh stored) "current claim"
                    do! completeAll store current
                    do! expectNoClaim store "g" "acknowledged by the current claim"
                }

            contract "completing with nothing handled acknowledges nothing and releases the claim"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! stored = appendTo store "s" 0L [ message "s" happened 1 ]
                    let! claim = claimSome store "g" 1
                    do! complete store claim []
                    let! again = claimSome store "g" 1
                    Expect.equal (pending again) (fresh stored) "claimable again"
                }

            contract "a claim taken before a reset and completed after it does not hide the reset"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning

                    let! processed =
                        appendTo store "s" 0L [ message "s" happened 1; message "s" happened 2 ]

                    do! processAll store "g"
                    let! later = appendTo store "s" 2L [ message "s" happened 3 ]
                    let! claim = claimSome store "g" 10
                    do! store.ResetGroupAsync("g", ct)
                    do! completeAll store claim
                    let! again = claimSome store "g" 10

                    Expect.equal
                        (again.Messages |> List.map (fun pending -> pending.Message.Id))
                        (ids (processed @ later))
                        "replayed from the start"
                }

            contract "messages completed by a claim taken before a reset come back flagged as replays"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! stored = appendTo store "s" 0L [ message "s" happened 1 ]
                    let! claim = claimSome store "g" 10
                    do! store.ResetGroupAsync("g", ct)
                    do! completeAll store claim
                    let! again = claimSome store "g" 10
                    Expect.equal (pending again) [ stored[0].Id, true ] "processed once, so a replay"
                }
        ]
