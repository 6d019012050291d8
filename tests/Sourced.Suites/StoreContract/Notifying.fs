/// The store contract: notifying.
module Sourced.Tests.StoreContract.Notifying

open System
open System.Collections.Concurrent
open System.Threading.Tasks
open Expecto
open Sourced
open Sourced.Tests.Support
open Sourced.Tests.StoreContract.Kit

let tests (create: TimeProvider -> Task<IMessageStore>) =
    let contract = contract create

    testList
        "notifications"
        [
            contract "subscribers hear the distinct types of appended messages until they dispose"
            <| fun _ store ->
                task {
                    let heardByLeaver = ConcurrentQueue<StoreNotification>()
                    let leaver = store.Subscribe heardByLeaver.Enqueue
                    let subscription, appended = listen store (appendedType happened)
                    use _ = subscription

                    let! _ =
                        appendTo store "s" 0L [ message "s" command 1; message "s" happened 2; message "s" happened 3 ]

                    match! appended with
                    | StoreNotification.MessagesAppended types ->
                        Expect.equal (List.sort types) [ command; happened ] "distinct types"
                    | notification -> failtestf "unexpected %A" notification

                    leaver.Dispose()
                    let laterSubscription, later = listen store (appendedType other)
                    use _ = laterSubscription
                    let! _ = store.AppendNextAsync([ message "t" other 4 ], ct)
                    let! _ = later

                    Expect.isFalse (heardByLeaver |> Seq.exists (appendedType other)) "nothing heard after disposing"

                    Expect.isTrue (heardByLeaver |> Seq.exists (appendedType happened)) "heard before disposing"
                }

            contract "completions and promotions notify subscribers of what they appended"
            <| fun clock store ->
                task {
                    do! register store "g" [ happened ] StartFrom.Beginning
                    let! _ = appendTo store "s" 0L [ message "s" happened 1 ]
                    let! claim = claimSome store "g" 1
                    let reacted = "tests.reacted"
                    let reminded = "tests.reminded"
                    let completedSubscription, completed = listen store (appendedType reacted)
                    use _ = completedSubscription
                    let promotedSubscription, promoted = listen store (appendedType reminded)
                    use _ = promotedSubscription

                    do!
                        complete
                            store
                            claim
                            [
                                handle
                                    [
                                        Action.AppendNext [ message "out" reacted 2 ]
                                        Action.Schedule(clock.GetUtcNow().AddSeconds 1.0, [ message "out" reminded 3 ])
                                    ]
                                    claim.Messages[0]
                            ]

                    let! _ = completed
                    clock.Advance(TimeSpan.FromSeconds 1.0)
                    let! count = store.PromoteDueAsync ct
                    Expect.equal count 1 "promoted"
                    let! notification = promoted
                    Expect.equal notification (StoreNotification.MessagesAppended [ reminded ]) "promotion"
                }
        ]
