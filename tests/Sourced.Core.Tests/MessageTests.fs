module Sourced.Tests.MessageTests

open System
open Expecto
open Sourced

let tests =
    testList
        "messages"
        [
            testCase "a new message is its own cause and correlation"
            <| fun _ ->
                let message = Message.create "cart-1" "carts.item_added" Json.emptyObject
                Expect.notEqual message.Id Guid.Empty "id"
                Expect.equal message.CausationId message.Id "causation"
                Expect.equal message.CorrelationId message.Id "correlation"
                Expect.equal message.Seq 0L "not in a stream yet"
                Expect.equal message.Position 0L "not stored yet"
                Expect.equal message.CreatedAt.Offset TimeSpan.Zero "UTC"

            testCase "a message needs a stream and a type"
            <| fun _ ->
                Expect.throwsT<ArgumentException> (fun () -> Message.create "" "t" Json.emptyObject |> ignore) "stream"
                Expect.throwsT<ArgumentException> (fun () -> Message.create "s" " " Json.emptyObject |> ignore) "type"

            testCase "a caused message takes the parent's id as causation and its correlation and metadata"
            <| fun _ ->
                let root =
                    Message.create "s" "a" Json.emptyObject
                    |> Message.withMetadataString "request_id" "r-1"
                    |> Message.withMetadataString "user_id" "u-1"

                let parent = Message.create "s" "b" Json.emptyObject |> Message.causedBy root

                let child =
                    Message.create "t" "c" Json.emptyObject
                    |> Message.withMetadataString "user_id" "u-2"
                    |> Message.causedBy parent

                Expect.equal child.CausationId parent.Id "causation"
                Expect.equal child.CorrelationId root.Id "correlation"
                Expect.equal (Metadata.tryString "request_id" child.Metadata) (Some "r-1") "inherited"
                Expect.equal (Metadata.tryString "user_id" child.Metadata) (Some "u-2") "own metadata wins"

            testCase "messages are equal when every field is, payloads compared structurally"
            <| fun _ ->
                let message = Message.create "s" "t" (Json.parse """{"a":1,"b":[1,2]}""")

                let same =
                    { message with
                        Payload = Json.parse """{ "b": [1, 2], "a": 1 }"""
                    }

                let other =
                    { message with
                        Payload = Json.parse """{"a":2,"b":[1,2]}"""
                    }

                Expect.equal message same "same content"
                Expect.notEqual message other "different payload"

                Expect.isTrue
                    (Message.sameContent message { same with Id = Guid.NewGuid() })
                    "same type, stream, payload"

            testCase "a new stream id is unique and may carry a prefix"
            <| fun _ ->
                let first = StreamId.create (Some "cart")
                Expect.stringStarts first "cart-" "prefix"
                Expect.notEqual first (StreamId.create (Some "cart")) "unique"
                Expect.isTrue (Guid.TryParse(StreamId.create None) |> fst) "bare uuid"

            testCase "metadata helpers read and merge string values"
            <| fun _ ->
                let merged =
                    Metadata.merge (Metadata.ofStrings [ "a", "1"; "b", "2" ]) (Metadata.ofStrings [ "b", "3" ])

                Expect.equal (Metadata.tryString "a" merged) (Some "1") "kept"
                Expect.equal (Metadata.tryString "b" merged) (Some "3") "overridden"
                Expect.equal (Metadata.tryString "c" merged) None "absent"
        ]
