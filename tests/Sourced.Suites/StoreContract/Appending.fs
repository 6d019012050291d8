/// The store contract: appending.
module Sourced.Tests.StoreContract.Appending

open System
open System.Threading.Tasks
open Expecto
open Sourced
open Sourced.Tests.Support
open Sourced.Tests.StoreContract.Kit

let tests (create: TimeProvider -> Task<IMessageStore>) =
    let contract = contract create

    testList
        "appending"
        [
            contract "append stores messages at the next seqs with increasing global positions from 1"
            <| fun _ store ->
                task {
                    let given =
                        following
                            0L
                            [
                                message "s-1" command 1 |> Message.withMetadataString "request_id" "r-1"
                                message "s-1" happened 2
                            ]

                    match! store.AppendAsync("s-1", 0L, given, ct) with
                    | AppendResult.Conflict actual -> failtestf "conflict at seq %d" actual
                    | AppendResult.Appended stored ->
                        Expect.equal
                            (stored |> List.map (fun message -> message.Id, message.Seq, message.Position))
                            [ given[0].Id, 1L, 1L; given[1].Id, 2L, 2L ]
                            "ids, seqs and positions"

                    let! second = appendTo store "s-2" 0L [ message "s-2" command 3 ]
                    Expect.equal (second |> List.map (fun message -> message.Seq, message.Position)) [ 1L, 3L ] "s-2"
                    let! more = appendTo store "s-1" 2L [ message "s-1" happened 4 ]
                    Expect.equal (more |> List.map (fun message -> message.Seq, message.Position)) [ 3L, 4L ] "s-1"

                    let! read = readStream store "s-1"
                    Expect.equal (seqs read) [ 1L; 2L; 3L ] "read back in seq order"
                    expectAllKept given (List.truncate 2 read)
                }

            contract "append with a stale seq is a conflict and stores nothing"
            <| fun _ store ->
                task {
                    let! _ =
                        appendTo store "s-1" 0L [ message "s-1" command 1; message "s-1" happened 2 ]

                    let! before = snapshot store

                    let! stale =
                        store.AppendAsync("s-1", 1L, following 1L [ message "s-1" happened 3 ], ct)

                    let! ahead =
                        store.AppendAsync("s-1", 5L, following 5L [ message "s-1" happened 4 ], ct)

                    let! unknown =
                        store.AppendAsync("s-9", 1L, following 1L [ message "s-9" happened 5 ], ct)

                    for result, expected in [ stale, 2L; ahead, 2L; unknown, 0L ] do
                        match result with
                        | AppendResult.Conflict actual -> Expect.equal actual expected "the stream's actual seq"
                        | AppendResult.Appended stored -> failtestf "appended %A" stored

                    let! after = snapshot store
                    Expect.equal after before "nothing stored"
                }

            contract "Store.appendAsync raises ConcurrencyConflictException with the stream and both seqs"
            <| fun _ store ->
                task {
                    let! _ = appendTo store "s-1" 0L [ message "s-1" command 1 ]

                    let! conflict =
                        raises<ConcurrencyConflictException>(fun () ->
                            appendTo store "s-1" 0L [ message "s-1" happened 2 ])

                    Expect.equal conflict.StreamId "s-1" "stream"
                    Expect.equal conflict.ExpectedSeq 0L "expected seq"
                    Expect.equal conflict.ActualSeq 1L "actual seq"
                }

            contract "append of an empty list appends nothing and is not an error"
            <| fun _ store ->
                task {
                    let! _ = appendTo store "s-1" 0L [ message "s-1" command 1 ]
                    let! before = snapshot store

                    for streamId, expectedSeq in [ "s-1", 1L; "s-new", 0L ] do
                        match! store.AppendAsync(streamId, expectedSeq, [], ct) with
                        | AppendResult.Appended stored -> Expect.isEmpty stored "nothing returned"
                        | AppendResult.Conflict actual -> failtestf "conflict at seq %d" actual

                    let! after = snapshot store
                    Expect.equal after before "nothing stored"
                }

            contract "append refuses messages whose seqs do not follow the expected seq, naming stream and seq"
            <| fun _ store ->
                task {
                    let! _ = appendTo store "s-1" 0L [ message "s-1" command 1 ]
                    let! before = snapshot store

                    let gap =
                        [
                            { message "s-1" happened 2 with
                                Seq = 2L
                            }
                            { message "s-1" happened 3 with
                                Seq = 4L
                            }
                        ]

                    let! error =
                        raises<ArgumentException>(fun () -> store.AppendAsync("s-1", 1L, gap, ct))

                    Expect.stringContains error.Message "s-1" "names the stream"
                    Expect.stringContains error.Message "4" "names the seq"

                    let unnumbered = [ message "s-1" happened 4 ]

                    let! error =
                        raises<ArgumentException>(fun () -> store.AppendAsync("s-1", 1L, unnumbered, ct))

                    Expect.stringContains error.Message "s-1" "names the stream"

                    let! after = snapshot store
                    Expect.equal after before "nothing stored"
                }

            contract "append refuses a message for another stream and stores none of the batch"
            <| fun _ store ->
                task {
                    let mixed = following 0L [ message "s-1" happened 1; message "s-2" happened 2 ]

                    let! error =
                        raises<ArgumentException>(fun () -> store.AppendAsync("s-1", 0L, mixed, ct))

                    Expect.stringContains error.Message "s-2" "names the other stream"
                    let! after = snapshot store
                    Expect.isEmpty after "nothing stored"
                }

            contract "append refuses a message id that is already stored and stores none of the batch"
            <| fun _ store ->
                task {
                    let first = message "s-1" command 1
                    let! _ = appendTo store "s-1" 0L [ first ]
                    let! before = snapshot store

                    let again = [ message "s-2" happened 2; { first with StreamId = "s-2" } ]

                    let! _ = raises<ArgumentException>(fun () -> appendTo store "s-2" 0L again)

                    let twice = message "s-3" happened 3

                    let! _ =
                        raises<ArgumentException>(fun () -> appendTo store "s-3" 0L [ twice; twice ])

                    let! _ =
                        raises<ArgumentException>(fun () ->
                            store.AppendNextAsync([ message "s-4" happened 4; first ], ct))

                    let! after = snapshot store
                    Expect.equal after before "nothing stored"
                }

            contract "append next puts each message at the end of its own stream, keeping their order"
            <| fun _ store ->
                task {
                    let! _ = appendTo store "a" 0L [ message "a" command 1 ]

                    let given =
                        [
                            message "a" happened 2
                            message "b" happened 3
                            { message "a" happened 4 with
                                Seq = 99L
                            }
                            message "c" happened 5
                            message "b" happened 6
                        ]

                    let! stored = store.AppendNextAsync(given, ct)

                    Expect.equal
                        (stored |> List.map (fun message -> message.Id, message.StreamId, message.Seq))
                        [
                            given[0].Id, "a", 2L
                            given[1].Id, "b", 1L
                            given[2].Id, "a", 3L
                            given[3].Id, "c", 1L
                            given[4].Id, "b", 2L
                        ]
                        "seqs assigned by the store, in the given order"

                    Expect.equal
                        (stored |> List.map (fun message -> message.Position))
                        [ 2L; 3L; 4L; 5L; 6L ]
                        "positions"

                    let! a = readStream store "a"
                    Expect.equal (seqs a) [ 1L; 2L; 3L ] "stream a"
                    Expect.equal (ids a |> List.tail) [ given[0].Id; given[2].Id ] "stream a ids"
                    expectAllKept given stored
                }

            contract "append next of an empty list stores nothing"
            <| fun _ store ->
                task {
                    let! stored = store.AppendNextAsync([], ct)
                    Expect.isEmpty stored "nothing returned"
                    let! after = snapshot store
                    Expect.isEmpty after "nothing stored"
                }
        ]
