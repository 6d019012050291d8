/// The store contract: claiming several streams at once and completing them together.
module Sourced.Tests.StoreContract.ClaimingMany

open System
open System.Threading.Tasks
open Expecto
open Sourced
open Sourced.Tests.Support
open Sourced.Tests.StoreContract.Kit

let private claimMany (store: IMessageStore) (group: string) (batchSize: int) (streams: int) =
    store.ClaimManyAsync(request group batchSize false, streams, ct)

/// Claims of `streams` streams in all, claiming again while fewer came back: a claim only sees what discovery has
/// reached, and messages committed after a transaction still running (another test's) wait for it to end.
let private claimUpTo (store: IMessageStore) (group: string) (batchSize: int) (streams: int) =
    task {
        let claimed = ResizeArray<Claim>()
        let mutable trying = true

        while trying && claimed.Count < streams do
            let! more = claimMany store group batchSize (streams - claimed.Count)
            claimed.AddRange more
            trying <- not more.IsEmpty

        return List.ofSeq claimed
    }

let private streamsOf (claims: Claim list) =
    claims |> List.map (fun claim -> claim.StreamId)

let tests (create: TimeProvider -> Task<IMessageStore>) =
    let contract = contract create

    testList
        "claiming many"
        [
            contract "claims of many take the streams whose first pending message is oldest, each with its own batch"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! c1 = appendTo store "c" 0L [ message "c" other 1; message "c" happened 2 ]
                    let! a1 = appendTo store "a" 0L [ message "a" happened 3 ]
                    let! d1 = appendTo store "d" 0L [ message "d" happened 4 ]
                    let! b1 = appendTo store "b" 0L [ message "b" happened 5 ]
                    let! a2 = appendTo store "a" 1L [ message "a" happened 6; message "a" happened 7 ]
                    let! claims = claimUpTo store "g" 2 3
                    Expect.equal (streamsOf claims) [ "c"; "a"; "d" ] "the three oldest, oldest first"

                    Expect.equal
                        (claims |> List.map pending)
                        [ fresh [ c1[1] ]; fresh (a1 @ [ a2[0] ]); fresh d1 ]
                        "each its own batch of the group's types, in seq order"

                    let! rest = claimMany store "g" 2 3
                    Expect.equal (streamsOf rest) [ "b" ] "what nobody holds"
                    Expect.equal (rest |> List.map pending) [ fresh b1 ] "its batch"
                    let! none = claimMany store "g" 2 3
                    Expect.isEmpty none "everything is held"
                }

            contract "streams claimed together are held on their own: completing or releasing one leaves the others"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! _ = appendTo store "a" 0L [ message "a" happened 1 ]
                    let! b = appendTo store "b" 0L [ message "b" happened 2 ]
                    let! claims = claimUpTo store "g" 10 2
                    Expect.equal (streamsOf claims) [ "a"; "b" ] "both"
                    do! completeAll store claims[0]
                    do! store.ReleaseAsync(claims[1], ct)
                    let! again = claimMany store "g" 10 2
                    Expect.equal (streamsOf again) [ "b" ] "the released one only"
                    Expect.equal (again |> List.map pending) [ fresh b ] "unacknowledged"
                    let! late = store.CompleteAsync(claims[1], acknowledged claims[1], ct)
                    Expect.equal late CompleteResult.Lost "a released claim cannot complete"
                }

            contract "completing many gives each claim its own outcome: a conflict executes nothing of its claim only"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! _ = appendTo store "a" 0L [ message "a" happened 1 ]
                    let! b = appendTo store "b" 0L [ message "b" happened 2 ]
                    let! _ = appendTo store "c" 0L [ message "c" happened 3 ]
                    let! _ = appendTo store "x" 0L [ message "x" command 4 ]
                    let! claims = claimUpTo store "g" 10 3
                    Expect.equal (streamsOf claims) [ "a"; "b"; "c" ] "all three"
                    let synced = ResizeArray<string>()

                    let sync (name: string) =
                        Action.Sync(fun _ ->
                            task {
                                lock synced (fun () -> synced.Add name)
                                return ()
                            })

                    let fromA = message "side" command 5
                    let stale = following 0L [ message "x" command 6 ]

                    let! results =
                        store.CompleteManyAsync(
                            [
                                claims[0], [ handle [ Action.AppendNext [ fromA ]; sync "a" ] claims[0].Messages[0] ]
                                claims[1],
                                [
                                    handle [ Action.AppendAfter("x", 0L, stale); sync "b" ] claims[1].Messages[0]
                                ]
                                claims[2], [ handle [ sync "c" ] claims[2].Messages[0] ]
                            ],
                            ct
                        )

                    Expect.equal
                        results
                        [
                            Ok CompleteResult.Completed
                            Ok(CompleteResult.Conflict("x", 0L, 1L))
                            Ok CompleteResult.Completed
                        ]
                        "completed, conflicted, completed"

                    Expect.equal (List.ofSeq synced |> List.sort) [ "a"; "c" ] "each completed claim synced once"
                    let! side = readStream store "side"
                    Expect.equal (ids side) [ fromA.Id ] "the first claim's append is stored once"
                    let! x = readStream store "x"
                    Expect.equal x.Length 1 "the conflicting append is not"
                    let! again = claimMany store "g" 10 3
                    Expect.equal (streamsOf again) [ "b" ] "only the conflicting claim's stream is pending again"
                    Expect.equal (again |> List.map pending) [ fresh b ] "unacknowledged"
                }

            contract "completing many: a lost claim executes nothing, a failing Sync fails its claim only"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! a = appendTo store "a" 0L [ message "a" happened 1 ]
                    let! b = appendTo store "b" 0L [ message "b" happened 2 ]
                    let! _ = appendTo store "c" 0L [ message "c" happened 3 ]
                    let! claims = claimUpTo store "g" 10 3
                    do! store.ReleaseAsync(claims[0], ct)
                    let! taken = claimMany store "g" 10 1
                    Expect.equal (streamsOf taken) [ "a" ] "someone else holds the first stream now"

                    let failing _ : Task<unit> =
                        task { return failwith "projection database is down" }

                    let fromA = message "side-a" command 4
                    let fromB = message "side-b" command 5
                    let fromC = message "side-c" command 6

                    let! results =
                        store.CompleteManyAsync(
                            [
                                claims[0], [ handle [ Action.AppendNext [ fromA ] ] claims[0].Messages[0] ]
                                claims[1],
                                [
                                    handle [ Action.AppendNext [ fromB ]; Action.Sync failing ] claims[1].Messages[0]
                                ]
                                claims[2], [ handle [ Action.AppendNext [ fromC ] ] claims[2].Messages[0] ]
                            ],
                            ct
                        )

                    match results with
                    | [ Ok CompleteResult.Lost; Error error; Ok CompleteResult.Completed ] ->
                        Expect.stringContains error.Message "projection database is down" "the sync's exception"
                    | other -> failtestf "expected lost, the sync's error and completed, got %A" other

                    let! stored = store.ReadLogAsync(0L, Int32.MaxValue, ct)

                    Expect.equal
                        (stored
                         |> List.map (fun message -> message.StreamId)
                         |> List.filter (fun s -> s.StartsWith "side"))
                        [ "side-c" ]
                        "only the completed claim's append"

                    let! again = claimMany store "g" 10 3
                    Expect.equal (streamsOf again) [ "b" ] "the failed claim was released, unacknowledged"
                    Expect.equal (again |> List.map pending) [ fresh b ] "its message"
                    do! completeAll store taken[0]
                    Expect.equal (pending taken[0]) (fresh a) "the first stream went to its new holder"
                }
        ]
