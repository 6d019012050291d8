/// The store contract: claiming.
module Sourced.Tests.StoreContract.Claiming

open System
open System.Threading.Tasks
open Expecto
open Sourced
open Sourced.Tests.Support
open Sourced.Tests.StoreContract.Kit

let tests (create: TimeProvider -> Task<IMessageStore>) =
    let contract = contract create

    testList
        "claiming"
        [
            contract "a claim takes the stream whose first pending message is oldest in the log"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! _ = appendTo store "s-1" 0L [ message "s-1" command 1 ]
                    let! _ = appendTo store "s-2" 0L [ message "s-2" happened 2 ]
                    let! _ = appendTo store "s-1" 1L [ message "s-1" happened 3 ]
                    let! _ = appendTo store "s-3" 0L [ message "s-3" happened 4 ]

                    let! first = claimSome store "g" 10
                    let! second = claimSome store "g" 10
                    let! third = claimSome store "g" 10

                    Expect.equal
                        [ first.StreamId; second.StreamId; third.StreamId ]
                        [ "s-2"; "s-1"; "s-3" ]
                        "oldest first pending message first; s-1 starts with a type the group ignores"

                    do! expectNoClaim store "g" "all held"
                }

            contract "a claim holds at most the batch size of pending messages, of the group's types only, in seq order"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning

                    let! stored =
                        appendTo
                            store
                            "s"
                            0L
                            [
                                message "s" command 1
                                message "s" happened 2
                                message "s" happened 3
                                message "s" command 4
                                message "s" happened 5
                                message "s" happened 6
                            ]

                    let! first = claimSome store "g" 2
                    Expect.equal (pending first) (fresh [ stored[1]; stored[2] ]) "first batch"
                    do! completeAll store first
                    let! second = claimSome store "g" 10
                    Expect.equal (pending second) (fresh [ stored[4]; stored[5] ]) "second batch"
                    do! completeAll store second
                    do! expectNoClaim store "g" "all processed"
                }

            contract "a claim with history carries the whole stream with every type; without history, none"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning

                    let! stored =
                        appendTo store "s" 0L [ message "s" command 1; message "s" happened 2; message "s" happened 3 ]

                    let! _ = appendTo store "t" 0L [ message "t" happened 4 ]

                    match! store.ClaimAsync(request "g" 1 true, ct) with
                    | Some claim ->
                        Expect.equal (pending claim) (fresh [ stored[1] ]) "batch"
                        Expect.equal (ids claim.History) (ids stored) "history: the whole stream"
                        do! store.ReleaseAsync(claim, ct)
                    | None -> failtest "nothing claimed"

                    let! claim = claimSome store "g" 1
                    Expect.isEmpty claim.History "no history unless asked"
                }

            contract "a claimed stream is held until completed or released, while other streams stay claimable"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! s = appendTo store "s" 0L [ message "s" happened 1 ]
                    let! t = appendTo store "t" 0L [ message "t" happened 2 ]
                    let! first = claimSome store "g" 10
                    let! second = claimSome store "g" 10
                    Expect.equal [ first.StreamId; second.StreamId ] [ "s"; "t" ] "both streams"
                    do! expectNoClaim store "g" "both held"
                    do! store.ReleaseAsync(first, ct)
                    let! again = claimSome store "g" 10
                    Expect.equal (again.StreamId, pending again) ("s", fresh s) "released, not acknowledged"
                    do! completeAll store second
                    do! expectNoClaim store "g" "t completed"
                    do! completeAll store again
                    do! expectNoClaim store "g" "s completed"
                    Expect.equal (pending second) (fresh t) "t"
                }

            contract "two claims of one group at the same time never get the same stream"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! _ = appendTo store "s" 0L [ message "s" happened 1; message "s" happened 2 ]
                    let! _ = appendTo store "t" 0L [ message "t" happened 3 ]
                    let! claims = inParallel 4 (fun _ -> claim store "g" 1)
                    let streams = claims |> Array.choose id |> Array.map (fun claim -> claim.StreamId)
                    Expect.equal (Array.sort streams) [| "s"; "t" |] "each stream once"
                }

            contract "different groups claim the same stream independently"
            <| fun _ store ->
                task {
                    do! register store "one" [ happened ] StartFrom.Beginning
                    do! register store "two" [ happened ] StartFrom.Beginning
                    let! stored = appendTo store "s" 0L [ message "s" happened 1 ]
                    let! one = claimSome store "one" 10
                    let! two = claimSome store "two" 10
                    Expect.equal (pending one) (fresh stored) "group one"
                    Expect.equal (pending two) (fresh stored) "group two"
                    do! completeAll store one
                    do! expectNoClaim store "one" "one is done"
                    do! store.ReleaseAsync(two, ct)
                    let! again = claimSome store "two" 10
                    Expect.equal (pending again) (fresh stored) "two still has it"
                }

            contract "claiming gives nothing when nothing of the group's types is pending"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    do! expectNoClaim store "g" "empty store"
                    let! _ = appendTo store "s" 0L [ message "s" command 1 ]
                    do! expectNoClaim store "g" "only other types"
                }

            contract "messages appended while a stream is claimed are claimed after the claim completes"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! _ = appendTo store "s" 0L [ message "s" happened 1 ]
                    let! first = claimSome store "g" 10
                    let! later = appendTo store "s" 1L [ message "s" happened 2 ]
                    do! expectNoClaim store "g" "held"
                    do! completeAll store first
                    let! second = claimSome store "g" 10
                    Expect.equal (pending second) (fresh later) "the later message"
                }
        ]
