/// The store contract: groups.
module Sourced.Tests.StoreContract.Groups

open System
open System.Threading.Tasks
open Expecto
open Sourced
open Sourced.Tests.Support
open Sourced.Tests.StoreContract.Kit

let tests (create: TimeProvider -> Task<IMessageStore>) =
    let contract = contract create

    testList
        "consumer groups"
        [
            contract "registering a group twice is idempotent and keeps its progress"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! _ = appendTo store "s" 0L [ message "s" happened 1; message "s" happened 2 ]
                    do! processAll store "g"
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! stats = store.GroupStatsAsync ct
                    Expect.equal (stats |> List.map (fun stats -> stats.Id)) [ "g" ] "one group"
                    do! expectNoClaim store "g" "progress is kept"
                }

            contract "registering one group from several callers at once registers it once"
            <| fun _ store ->
                task {
                    let! _ =
                        inParallel 4 (fun _ -> task { do! register store "g" [ happened ] StartFrom.Beginning })

                    let! _ = appendTo store "s" 0L [ message "s" happened 1 ]
                    let! stats = store.GroupStatsAsync ct
                    Expect.equal (stats |> List.map (fun stats -> stats.Id)) [ "g" ] "one group"
                    let! claimed = claimSome store "g" 10
                    Expect.equal (pending claimed).Length 1 "it works"
                }

            contract "the retry count is the failures recorded since the last success"
            <| fun clock store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! healthy = store.RetryCountAsync("g", ct)
                    Expect.equal healthy 0 "healthy"

                    let error =
                        ErrorStrategy.record
                            {
                                Group = "g"
                                Message = message "s" happened 1
                                Error = exn "boom"
                                Attempt = 1
                                At = clock.GetUtcNow()
                            }

                    let! _ =
                        store.RecordFailureAsync("g", 1, Recovery.RetryAt(clock.GetUtcNow()), error, ct)

                    let! once = store.RetryCountAsync("g", ct)
                    Expect.equal once 1 "one failure"
                    let! _ = appendTo store "s" 0L [ message "s" happened 1 ]
                    do! processAll store "g"
                    let! again = store.RetryCountAsync("g", ct)
                    Expect.equal again 0 "a success clears it"

                    let! _ =
                        raises<ArgumentException>(fun () -> store.RetryCountAsync("nobody", ct) :> Task)

                    ()
                }

            contract "claiming for an unregistered group is an argument error"
            <| fun _ store ->
                task {
                    let! _ = appendTo store "s" 0L [ message "s" happened 1 ]
                    let! _ = raises<ArgumentException>(fun () -> claim store "nobody" 1)
                    ()
                }

            contract "a later registration with more types makes stored messages of the new types claimable"
            <| fun _ store ->
                task {
                    do! register store "g" [ command ] StartFrom.Beginning
                    let placed = message "s" command 1
                    let accepted = message "s" happened 2
                    let elsewhere = message "t" happened 3
                    let! _ = appendTo store "s" 0L [ placed; accepted ]
                    let! _ = appendTo store "t" 0L [ elsewhere ]
                    do! processAll store "g"

                    do! register store "g" [ command; happened ] StartFrom.Beginning
                    let! first = claimSome store "g" 10
                    Expect.equal (first.StreamId, pending first) ("s", fresh [ accepted ]) "s first (oldest)"
                    let! second = claimSome store "g" 10
                    Expect.equal (second.StreamId, pending second) ("t", fresh [ elsewhere ]) "then t"
                }

            contract "a later registration without a type no longer claims or counts it"
            <| fun _ store ->
                task {
                    do! register store "g" [ command; happened ] StartFrom.Beginning
                    let! _ = appendTo store "s" 0L [ message "s" happened 1 ]
                    do! register store "g" [ command ] StartFrom.Beginning
                    do! expectNoClaim store "g" "happened is no longer consumed"
                    let! stats = statsOf store "g"
                    Expect.equal (counts stats) {| PendingStreams = 0L; Lag = 0L |} "nothing pending"
                }

            contract "a stopped group claims nothing, and its stats show it stopped with the reason and error"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    do! register store "other" [ happened ] StartFrom.Beginning
                    let! _ = appendTo store "s" 0L [ message "s" happened 1 ]
                    let! stopped = store.StopGroupAsync("g", "poison message", Some(failure "boom"), ct)
                    Expect.isTrue stopped "it was active"
                    let! again = store.StopGroupAsync("g", "again", None, ct)
                    Expect.isFalse again "already stopped: the first reason stays"

                    do! expectNoClaim store "g" "stopped"
                    let! stats = statsOf store "g"
                    Expect.equal stats.Status GroupStatus.Stopped "status"
                    Expect.equal stats.Reason (Some "poison message") "reason"
                    Expect.equal (stats.Error |> Option.map (fun error -> error.Error)) (Some "boom") "error"
                    let! others = claim store "other" 1
                    Expect.isSome others "other groups go on"
                }

            contract "hazard: a group stopped and started again claims again, with its error and retry cleared"
            <| fun clock store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! stored = appendTo store "s" 0L [ message "s" happened 1 ]

                    let! _ =
                        store.RecordFailureAsync(
                            "g",
                            1,
                            Recovery.RetryAt(clock.GetUtcNow().AddHours 1.0),
                            failure "flaky",
                            ct
                        )

                    let! _ = store.StopGroupAsync("g", "too many retries", Some(failure "boom"), ct)
                    do! expectNoClaim store "g" "stopped"
                    do! store.StartGroupAsync("g", ct)

                    let! stats = statsOf store "g"
                    Expect.equal stats.Status GroupStatus.Active "status"
                    Expect.isNone stats.Reason "reason cleared"
                    Expect.isNone stats.Error "error cleared"
                    Expect.isNone stats.RetryAt "retry time cleared"
                    Expect.equal stats.RetryCount 0 "retry count cleared"
                    let! claim = claimSome store "g" 1
                    Expect.equal (pending claim) (fresh stored) "claims again"
                }

            contract "starting a group notifies subscribers that it started"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! _ = store.StopGroupAsync("g", "paused", None, ct)

                    let subscription, started =
                        listen store (fun notification -> notification = StoreNotification.GroupStarted "g")

                    use _ = subscription
                    do! store.StartGroupAsync("g", ct)
                    let! notification = started
                    Expect.equal notification (StoreNotification.GroupStarted "g") "group started"
                }

            contract "a group retried at a time claims nothing until the clock reaches it, and its stats show the retry"
            <| fun clock store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! _ = appendTo store "s" 0L [ message "s" happened 1 ]
                    let at = clock.GetUtcNow().AddSeconds 30.0

                    let! first =
                        store.RecordFailureAsync("g", 1, Recovery.RetryAt(clock.GetUtcNow()), failure "first", ct)

                    let! second =
                        store.RecordFailureAsync("g", 2, Recovery.RetryAt(at), failure "timeout", ct)

                    Expect.isTrue (first && second) "attempts 1 then 2 apply (the first pause ended at once)"

                    do! expectNoClaim store "g" "before the retry time"
                    let! stats = statsOf store "g"
                    Expect.equal stats.Status GroupStatus.Active "still active"
                    Expect.equal stats.RetryAt (Some at) "retry at"
                    Expect.equal stats.RetryCount 2 "retry count"
                    Expect.equal (stats.Error |> Option.map (fun error -> error.Error)) (Some "timeout") "error"

                    clock.Advance(TimeSpan.FromSeconds 29.0)
                    do! expectNoClaim store "g" "a second before the retry time"
                    clock.Advance(TimeSpan.FromSeconds 1.0)
                    let! claim = claim store "g" 1
                    Expect.isSome claim "claims once the clock reaches the retry time"
                }

            contract "a retry applies only at the attempt the group is at, and never to a stopped group"
            <| fun clock store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let later = clock.GetUtcNow().AddSeconds 5.0

                    let! first =
                        store.RecordFailureAsync("g", 1, Recovery.RetryAt(later), failure "a", ct)

                    let! concurrent =
                        store.RecordFailureAsync("g", 1, Recovery.RetryAt(later.AddSeconds 1.0), failure "b", ct)

                    let! skipping =
                        store.RecordFailureAsync("g", 3, Recovery.RetryAt(later), failure "c", ct)

                    let! whilePaused =
                        store.RecordFailureAsync("g", 2, Recovery.RetryAt(later.AddSeconds 9.0), failure "d", ct)

                    Expect.equal
                        [ first; concurrent; skipping; whilePaused ]
                        [ true; false; false; false ]
                        "only attempt 1, once"

                    let! stats = statsOf store "g"
                    Expect.equal (stats.RetryCount, stats.RetryAt) (1, Some later) "the first one"
                    clock.Advance(TimeSpan.FromSeconds 5.0)

                    let! next =
                        store.RecordFailureAsync("g", 2, Recovery.RetryAt(later.AddSeconds 10.0), failure "e", ct)

                    Expect.isTrue next "once the pause is over, the next attempt applies"
                    let! _ = store.StopGroupAsync("g", "stop", None, ct)

                    let! afterStop =
                        store.RecordFailureAsync("g", 2, Recovery.RetryAt(later), failure "d", ct)

                    Expect.isFalse afterStop "a stopped group stays stopped"
                }

            contract
                "a failure recorded as a stop stops the group with its error as the reason, but not inside a retry window"
            <| fun clock store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let later = clock.GetUtcNow().AddSeconds 5.0

                    let! retried =
                        store.RecordFailureAsync("g", 1, Recovery.RetryAt later, failure "first", ct)

                    let! early = store.RecordFailureAsync("g", 2, Recovery.Stop, failure "too soon", ct)
                    Expect.equal (retried, early) (true, false) "no stop while waiting for the retry"
                    clock.Advance(TimeSpan.FromSeconds 5.0)
                    let! stopped = store.RecordFailureAsync("g", 2, Recovery.Stop, failure "final", ct)
                    Expect.isTrue stopped "stopped once the retry came"
                    let! stats = statsOf store "g"
                    Expect.equal stats.Status GroupStatus.Stopped "status"
                    Expect.equal stats.Reason (Some "System.Exception: final") "reason"
                    Expect.equal (stats.Error |> Option.map (fun error -> error.Error)) (Some "final") "error"
                }

            contract "a group retried at a past time claims at once"
            <| fun clock store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! _ = appendTo store "s" 0L [ message "s" happened 1 ]

                    let! _ =
                        store.RecordFailureAsync(
                            "g",
                            1,
                            Recovery.RetryAt(clock.GetUtcNow().AddSeconds(-1.0)),
                            failure "timeout",
                            ct
                        )

                    let! claim = claim store "g" 1
                    Expect.isSome claim "claims"
                }

            contract "resetting a group replays what it processed as replays, and what it never processed as new"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    do! register store "other" [ happened ] StartFrom.Beginning

                    let! processed =
                        appendTo store "s" 0L [ message "s" happened 1; message "s" happened 2 ]

                    do! processAll store "g"
                    do! processAll store "other"
                    let! later = appendTo store "s" 2L [ message "s" happened 3 ]
                    do! store.ResetGroupAsync("g", ct)

                    let! claim = claimSome store "g" 10

                    Expect.equal
                        (pending claim)
                        [ processed[0].Id, true; processed[1].Id, true; later[0].Id, false ]
                        "replay flags"

                    let! others = claimSome store "other" 10
                    Expect.equal (pending others) (fresh later) "other groups are not reset"
                }

            contract "after a reset only the acknowledged part of a batch is flagged as a replay"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning

                    let! stored =
                        appendTo store "s" 0L [ for number in 1..3 -> message "s" happened number ]

                    let! claim = claimSome store "g" 3
                    do! complete store claim (claim.Messages |> List.truncate 1 |> List.map (handle [ Action.Ack ]))
                    do! store.ResetGroupAsync("g", ct)
                    let! again = claimSome store "g" 10

                    Expect.equal
                        (pending again)
                        [ stored[0].Id, true; stored[1].Id, false; stored[2].Id, false ]
                        "flags"
                }

            contract "hazard: replay detection is exact per group and stream, not a high-water mark across streams"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! b = appendTo store "B" 0L [ message "B" happened 1 ]
                    let! a = appendTo store "A" 0L [ message "A" happened 2 ]
                    let! claimB = claimSome store "g" 1
                    Expect.equal claimB.StreamId "B" "B first: its message is oldest"
                    let! claimA = claimSome store "g" 1
                    Expect.equal (pending claimA) (fresh a) "A"
                    do! completeAll store claimA
                    do! store.ReleaseAsync(claimB, ct)
                    let! again = claimSome store "g" 1
                    Expect.equal (again.StreamId, pending again) ("B", fresh b) "B's message was never processed"
                }

            contract "group stats count streams, pending streams and lag per group"
            <| fun _ store ->
                task {
                    do! register store "all" [ command; happened ] StartFrom.Beginning
                    do! register store "events" [ happened ] StartFrom.Beginning
                    do! register store "quiet" [ other ] StartFrom.Beginning

                    let! _ =
                        appendTo
                            store
                            "s-1"
                            0L
                            [ message "s-1" command 1; message "s-1" happened 2; message "s-1" happened 3 ]

                    let! _ = appendTo store "s-2" 0L [ message "s-2" command 4 ]

                    let! _ =
                        appendTo store "s-3" 0L [ message "s-3" happened 5; message "s-3" happened 6 ]

                    let expectCounts group pendingStreams lag =
                        task {
                            let! stats = statsOf store group

                            Expect.equal
                                (counts stats)
                                {|
                                    PendingStreams = pendingStreams
                                    Lag = lag
                                |}
                                group
                        }

                    do! expectCounts "all" 3L 6L
                    do! expectCounts "events" 2L 4L
                    do! expectCounts "quiet" 0L 0L

                    let! all = claimSome store "all" 10
                    Expect.equal all.StreamId "s-1" "all: s-1"
                    do! completeAll store all
                    let! events = claimSome store "events" 1
                    Expect.equal events.StreamId "s-1" "events: s-1"
                    do! completeAll store events
                    do! expectCounts "all" 2L 3L
                    do! expectCounts "events" 2L 3L

                    do! processAll store "all"
                    do! processAll store "events"
                    let! _ = appendTo store "s-4" 0L [ message "s-4" other 7 ]
                    do! expectCounts "quiet" 1L 1L
                    do! processAll store "quiet"

                    let! stats = store.GroupStatsAsync ct

                    Expect.equal
                        (stats
                         |> List.map (fun stats -> stats.Id, stats.Streams, stats.PendingStreams, stats.Lag)
                         |> List.sort)
                        [ "all", 3L, 0L, 0L; "events", 2L, 0L, 0L; "quiet", 1L, 0L, 0L ]
                        "streams with an offset, once everything is processed"
                }

            contract "a group from the beginning sees messages stored before it registered"
            <| fun _ store ->
                task {
                    let! stored = appendTo store "s" 0L [ message "s" happened 1 ]
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! claim = claimSome store "g" 10
                    Expect.equal (pending claim) (fresh stored) "claimed"
                }

            contract "a group from now sees only messages appended after it registered, in every stream"
            <| fun _ store ->
                task {
                    let! _ =
                        appendTo store "s-1" 0L [ message "s-1" happened 1; message "s-1" happened 2 ]

                    let! _ = appendTo store "s-2" 0L [ message "s-2" happened 3 ]
                    do! register store "g" [ happened ] StartFrom.Now
                    do! expectNoClaim store "g" "nothing new yet"
                    let! stats = statsOf store "g"
                    Expect.equal (counts stats) {| PendingStreams = 0L; Lag = 0L |} "nothing pending"

                    let! newer = appendTo store "s-1" 2L [ message "s-1" happened 4 ]
                    let! _ = appendTo store "s-2" 1L [ message "s-2" command 5 ]
                    let! fresher = appendTo store "s-3" 0L [ message "s-3" happened 6 ]
                    let! stats = statsOf store "g"
                    Expect.equal (counts stats) {| PendingStreams = 2L; Lag = 2L |} "the new ones pending"

                    let! first = claimSome store "g" 10
                    Expect.equal (first.StreamId, pending first) ("s-1", fresh newer) "s-1"
                    do! completeAll store first
                    let! second = claimSome store "g" 10
                    Expect.equal (second.StreamId, pending second) ("s-3", fresh fresher) "s-3"
                    do! completeAll store second
                    do! expectNoClaim store "g" "all processed"
                }

            contract "hazard: a group from now is not a time window: late claims and old creation times still count"
            <| fun clock store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Now

                    let old =
                        { message "s" happened 1 with
                            CreatedAt = start.AddDays(-30.0)
                        }

                    let! stored = appendTo store "s" 0L [ old ]
                    clock.Advance(TimeSpan.FromHours 1.0)
                    let! claim = claimSome store "g" 10
                    Expect.equal (pending claim) (fresh stored) "claimed an hour later"
                }

            contract "resetting a group from now replays only from where it started"
            <| fun _ store ->
                task {
                    let! _ = appendTo store "s" 0L [ message "s" happened 1 ]
                    do! register store "g" [ happened ] StartFrom.Now
                    let! newer = appendTo store "s" 1L [ message "s" happened 2 ]
                    do! processAll store "g"
                    do! store.ResetGroupAsync("g", ct)
                    let! claim = claimSome store "g" 10
                    Expect.equal (pending claim) [ newer[0].Id, true ] "only the message after registration"
                }
        ]
