/// The store contract: reading.
module Sourced.Tests.StoreContract.Reading

open System
open System.Threading.Tasks
open Expecto
open Sourced
open Sourced.Tests.Support
open Sourced.Tests.StoreContract.Kit

let tests (create: TimeProvider -> Task<IMessageStore>) =
    let contract = contract create

    testList
        "reading"
        [
            contract "read stream gives the messages after a seq and up to a seq, in seq order"
            <| fun _ store ->
                task {
                    let! stored =
                        appendTo store "s-1" 0L [ for number in 1..5 -> message "s-1" happened number ]

                    let! _ = appendTo store "s-2" 0L [ message "s-2" happened 6 ]

                    let read after upTo =
                        task {
                            let! messages = store.ReadStreamAsync("s-1", after, upTo, ct)
                            return seqs messages
                        }

                    let! all = store.ReadStreamAsync("s-1", 0L, None, ct)
                    Expect.equal (ids all) (ids stored) "whole stream, only s-1"
                    let! middle = read 1L (Some 3L)
                    Expect.equal middle [ 2L; 3L ] "after 1 up to 3"
                    let! tail = read 3L None
                    Expect.equal tail [ 4L; 5L ] "after 3"
                    let! head = read 0L (Some 2L)
                    Expect.equal head [ 1L; 2L ] "up to 2"
                    let! beyond = read 5L None
                    Expect.isEmpty beyond "after the last seq"
                }

            contract "reading an unknown stream gives an empty list"
            <| fun _ store ->
                task {
                    let! messages = readStream store "nowhere"
                    Expect.isEmpty messages "empty"
                }

            contract "read correlation gives a whole command, event and reaction chain in log order"
            <| fun _ store ->
                task {
                    let placed = message "order-1" command 1
                    let accepted = message "order-1" happened 2 |> Message.causedBy placed
                    let unrelated = message "order-2" command 3
                    let mailed = message "mail-1" command 4 |> Message.causedBy accepted
                    let! _ = appendTo store "order-1" 0L [ placed; accepted ]
                    let! _ = appendTo store "order-2" 0L [ unrelated ]
                    let! _ = appendTo store "mail-1" 0L [ mailed ]

                    let! chain = store.ReadCorrelationAsync(placed.CorrelationId, ct)
                    Expect.equal (ids chain) [ placed.Id; accepted.Id; mailed.Id ] "the chain"

                    Expect.equal
                        (chain |> List.map (fun message -> message.CausationId))
                        [ placed.Id; placed.Id; accepted.Id ]
                        "causation ids"

                    let! alone = store.ReadCorrelationAsync(unrelated.CorrelationId, ct)
                    Expect.equal (ids alone) [ unrelated.Id ] "an uncorrelated message"
                    let! unknown = store.ReadCorrelationAsync(Guid.NewGuid(), ct)
                    Expect.isEmpty unknown "unknown correlation id"
                }

            contract "read log pages through the positions after a position, up to a limit"
            <| fun _ store ->
                task {
                    let! _ =
                        appendTo store "s-1" 0L [ message "s-1" happened 1; message "s-1" happened 2 ]

                    let! _ =
                        appendTo store "s-2" 0L [ message "s-2" happened 3; message "s-2" happened 4 ]

                    let! _ = appendTo store "s-1" 2L [ message "s-1" happened 5 ]

                    let page after limit =
                        task {
                            let! messages = store.ReadLogAsync(after, limit, ct)
                            return messages |> List.map (fun message -> message.Position)
                        }

                    let! first = page 0L 2
                    Expect.equal first [ 1L; 2L ] "first page"
                    let! second = page 2L 2
                    Expect.equal second [ 3L; 4L ] "second page"
                    let! last = page 4L 10
                    Expect.equal last [ 5L ] "last page"
                    let! beyond = page 5L 10
                    Expect.isEmpty beyond "after the end"
                    let! log = store.ReadLogAsync(0L, 10, ct)

                    Expect.equal
                        (log |> List.map (fun message -> message.StreamId, message.Seq))
                        [ "s-1", 1L; "s-1", 2L; "s-2", 1L; "s-2", 2L; "s-1", 3L ]
                        "log order"
                }

            contract "read log refuses a limit below 1"
            <| fun _ store ->
                task {
                    let! _ = raises<ArgumentException>(fun () -> store.ReadLogAsync(0L, 0, ct))
                    let! _ = raises<ArgumentException>(fun () -> store.ReadLogAsync(0L, -1, ct))
                    ()
                }
        ]
