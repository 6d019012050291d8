/// The store contract: transactions (what a Unit runs in), worker heartbeats and reclaiming claims.
module Sourced.Tests.StoreContract.Transactions

open System
open System.Threading.Tasks
open Expecto
open Sourced
open Sourced.Tests.Support
open Sourced.Tests.StoreContract.Kit

let transact (store: IMessageStore) (work: IStoreTransaction -> Task<'T>) = store.TransactAsync(work, ct)

let tests (create: TimeProvider -> Task<IMessageStore>) =
    let contract = contract create

    testList
        "transactions and workers"
        [
            contract "a transaction's appends, schedules and acknowledgements commit together, seeing each other"
            <| fun clock store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning

                    let! stored =
                        appendTo store "s" 0L [ message "s" happened 1; message "s" happened 2 ]

                    let! seen =
                        transact store (fun transaction ->
                            task {
                                let! pending = transaction.PendingAsync("g", "s", 1L, ct)

                                Expect.equal
                                    (pending |> List.map (fun item -> item.Message.Id))
                                    [ stored[0].Id ]
                                    "up to seq 1"

                                do! transaction.AcknowledgeAsync("g", "s", 1L, ct)
                                let! _ = transaction.AppendNextAsync([ message "s" command 3 ], ct)

                                do!
                                    transaction.ScheduleAsync(
                                        clock.GetUtcNow().AddSeconds 1.0,
                                        [ message "later" command 4 ],
                                        ct
                                    )

                                let! inside = transaction.ReadStreamAsync("s", 0L, None, ct)
                                return seqs inside
                            })

                    Expect.equal seen [ 1L; 2L; 3L ] "reads its own writes"
                    let! stream = readStream store "s"
                    Expect.equal (seqs stream) [ 1L; 2L; 3L ] "committed"
                    let! claim = claimSome store "g" 10
                    Expect.equal (pending claim) (fresh [ stored[1] ]) "seq 1 acknowledged"
                    clock.Advance(TimeSpan.FromSeconds 2.0)
                    let! promoted = store.PromoteDueAsync ct
                    Expect.equal promoted 1 "schedule committed"
                }

            contract "a transaction that raises stores, schedules and acknowledges nothing"
            <| fun clock store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! stored = appendTo store "s" 0L [ message "s" happened 1 ]
                    let! before = snapshot store

                    let! error =
                        raises<TimeoutException>(fun () ->
                            transact store (fun transaction ->
                                task {
                                    do! transaction.AcknowledgeAsync("g", "s", 1L, ct)

                                    let! _ =
                                        transaction.AppendNextAsync(
                                            [ message "s" happened 2; message "t" command 3 ],
                                            ct
                                        )

                                    do!
                                        transaction.ScheduleAsync(
                                            clock.GetUtcNow().AddSeconds 1.0,
                                            [ message "later" command 4 ],
                                            ct
                                        )

                                    return raise (TimeoutException "downstream timed out")
                                })
                            :> Task)

                    Expect.equal error.Message "downstream timed out" "the work's exception"
                    do! expectNothingChanged clock store before
                    let! claim = claimSome store "g" 10
                    Expect.equal (pending claim) (fresh stored) "nothing acknowledged"
                }

            contract "a transaction's optimistic append reports a conflict as a result"
            <| fun _ store ->
                task {
                    let! _ = appendTo store "s" 0L [ message "s" happened 1 ]

                    let! result =
                        transact store (fun transaction ->
                            transaction.AppendAsync("s", 0L, following 0L [ message "s" happened 2 ], ct))

                    Expect.equal result (AppendResult.Conflict 1L) "conflict"
                }

            contract "acknowledging in a transaction never moves an offset backwards"
            <| fun _ store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning

                    let! _ =
                        appendTo store "s" 0L [ message "s" happened 1; message "s" happened 2; message "s" happened 3 ]

                    do!
                        transact store (fun transaction ->
                            task {
                                do! transaction.AcknowledgeAsync("g", "s", 2L, ct)
                                do! transaction.AcknowledgeAsync("g", "s", 1L, ct)
                            })

                    let! claim = claimSome store "g" 10
                    Expect.equal (claim.Messages |> List.map (fun item -> item.Message.Seq)) [ 3L ] "still after seq 2"
                }

            contract "heartbeats keep a worker's claims; silence past the limit frees them"
            <| fun clock store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! _ = appendTo store "a" 0L [ message "a" happened 1 ]
                    let! _ = appendTo store "b" 0L [ message "b" happened 2 ]

                    let! quiet =
                        store.ClaimAsync(
                            { request "g" 1 false with
                                Worker = "quiet"
                            },
                            ct
                        )

                    let! lively =
                        store.ClaimAsync(
                            { request "g" 1 false with
                                Worker = "lively"
                            },
                            ct
                        )

                    clock.Advance(TimeSpan.FromSeconds 8.0)
                    do! store.HeartbeatAsync([ "lively" ], ct)
                    clock.Advance(TimeSpan.FromSeconds 4.0)
                    let! reclaimed = store.ReclaimAsync(TimeSpan.FromSeconds 10.0, ct)
                    Expect.equal reclaimed 1 "the quiet worker's claim"
                    let! again = claimSome store "g" 1
                    Expect.equal again.StreamId quiet.Value.StreamId "its stream is claimable"

                    let! late = store.CompleteAsync(quiet.Value, acknowledged quiet.Value, ct)
                    Expect.equal late CompleteResult.Lost "a freed claim cannot complete"
                    do! completeAll store lively.Value
                }

            contract "acknowledging anything makes a retrying group healthy again"
            <| fun clock store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! _ = appendTo store "s" 0L [ message "s" happened 1 ]

                    let! _ =
                        store.RecordFailureAsync("g", 1, Recovery.RetryAt(clock.GetUtcNow()), failure "flaky", ct)

                    let! claim = claimSome store "g" 1
                    do! completeAll store claim
                    let! stats = statsOf store "g"
                    Expect.equal stats.RetryCount 0 "retry count reset"
                    Expect.isNone stats.RetryAt "no retry time"
                    Expect.isNone stats.Error "no error"
                    Expect.equal stats.Status GroupStatus.Active "active"
                }
        ]
