module Sourced.Tests.CodecTests

open System
open Expecto
open FsCheck
open Sourced
open Sourced.Tests.Domain

type Tree =
    | Leaf of value: int
    | Node of children: Tree list

type Forest = Planted of tree: Tree

let config =
    { FsCheckConfig.defaultConfig with
        arbitrary = [ typeof<Generators> ]
        maxTest = 300
    }

let roundTrip (decoding: Decoding) (value: Everything) =
    let messageType, payload = everything.Encode value
    everything.Decode decoding messageType payload

/// F# equality, except that raw JSON values compare structurally.
let same (expected: Everything) (actual: Result<Everything, FieldError list>) =
    match expected, actual with
    | Raw(Some expected), Ok(Raw(Some actual)) -> Json.deepEquals expected actual
    | _ -> actual = Ok expected

/// Lax decoding reads a blank optional string as None, by design (empty form fields).
let hasEmptyOptionalText (value: Everything) =
    match value with
    | WithRecord { Zip = Some zip }
    | Nested(_, _, _, Some { Zip = Some zip }, _) -> String.IsNullOrWhiteSpace zip
    | _ -> false

let decodeErrors (messageType: string) (json: string) (decoding: Decoding) =
    match Codec.tryDecode decoding everything messageType (Json.parse json) with
    | Ok value -> failtestf "expected errors, decoded %A" value
    | Error errors -> errors |> List.map string

let naming =
    testList
        "naming"
        [
            testCase "case names become snake_case type strings under the prefix"
            <| fun _ ->
                Expect.equal
                    (Codec.types everything)
                    [
                        "tests.empty"
                        "tests.named"
                        "tests.with_record"
                        "tests.numbers"
                        "tests.times"
                        "tests.collections"
                        "tests.nested"
                        "tests.raw"
                    ]
                    "types"

            testCase "snake_case splits words, acronyms and digits"
            <| fun _ ->
                Expect.equal (Json.snakeCase "HTTPResponse") "http_response" "acronym"
                Expect.equal (Json.snakeCase "ItemAdded") "item_added" "words"
                Expect.equal (Json.snakeCase "Version2Added") "version2_added" "digits"
                Expect.equal (Json.snakeCase "add-item") "add_item" "dash"

            testCase "fields become camelCase properties; a single record is stored flat"
            <| fun _ ->
                let _, named = everything.Encode(Named("widget", 3))
                Expect.equal (Json.toText named) """{"name":"widget","count":3}""" "named fields"
                let _, record = everything.Encode(WithRecord { Street = "Main"; Zip = None })
                Expect.equal (Json.toText record) """{"street":"Main","zip":null}""" "flat record"

            testCase "a prefix-less codec uses the bare case name"
            <| fun _ -> Expect.equal (Codec.types (Codec.union<Color> "")) [ "red"; "green"; "blue" ] "types"

            testCase "Codec.union refuses a type that is not a union"
            <| fun _ -> Expect.throwsT<ArgumentException> (fun () -> Codec.union<Address> "x" |> ignore) "record"

            testCase "rename keeps a stored type stable across a case rename"
            <| fun _ ->
                let codec = everything |> Codec.rename (nameof Named) "legacy.named"
                let messageType, payload = codec.Encode(Named("a", 1))
                Expect.equal messageType "legacy.named" "encoded type"
                Expect.isTrue (Codec.handles "legacy.named" codec) "new name handled"
                Expect.isFalse (Codec.handles "tests.named" codec) "old name no longer handled"
                Expect.equal (codec.Decode Strict messageType payload) (Ok(Named("a", 1))) "decoded"

            testCase "only narrows the handled types and names unknown cases"
            <| fun _ ->
                let codec = everything |> Codec.only [ nameof Empty; nameof Raw ]
                Expect.equal (Codec.types codec) [ "tests.empty"; "tests.raw" ] "types"
                Expect.isFalse (Codec.handles "tests.named" codec) "not handled"

                let error = Expect.throwsC (fun () -> Codec.only [ "Nope" ] everything |> ignore) id

                Expect.stringContains error.Message "No case named 'Nope'" "names the case"
        ]

let roundTrips =
    testList
        "round trips"
        [
            testPropertyWithConfig config "every case decodes strictly to what was encoded"
            <| fun (value: Everything) -> same value (roundTrip Strict value)

            testPropertyWithConfig config "lax decoding reads everything strict decoding reads"
            <| fun (value: Everything) -> hasEmptyOptionalText value || same value (roundTrip Lax value)

            testCase "recursive types round-trip, even when first used from many threads at once"
            <| fun _ ->
                let tree = Planted(Node [ Leaf 1; Node [ Leaf 2; Node [] ] ])

                let decoded =
                    Array.Parallel.init 16 (fun _ ->
                        let codec = Codec.union<Forest> "forest"
                        let messageType, payload = codec.Encode tree
                        codec.Decode Strict messageType payload)

                Expect.allEqual decoded (Ok tree) "every thread"

            testPropertyWithConfig config "payloads survive a trip through JSON text"
            <| fun (value: Everything) ->
                let messageType, payload = everything.Encode value
                same value (everything.Decode Strict messageType (Json.parse (Json.toText payload)))
        ]

let strictAndLax =
    testList
        "strict and lax"
        [
            testCase "strict decoding refuses a number written as a string, naming type and field"
            <| fun _ ->
                Expect.equal
                    (decodeErrors "tests.named" """{"name":"w","count":"12"}""" Strict)
                    [ "count: expected an integer, got \"12\"" ]
                    "errors"

            testCase "lax decoding reads numbers, booleans and empty options from strings"
            <| fun _ ->
                let decoded =
                    Codec.tryDecode
                        Lax
                        everything
                        "tests.numbers"
                        (Json.parse
                            """{"small":"7","big":" 12 ","money":"1.50","ratio":"0.25","single":"2","flag":"on","tiny":"255"}""")

                Expect.equal decoded (Ok(Numbers(7s, 12L, 1.50m, 0.25, 2.0f, true, 255uy))) "decoded"

                let withRecord =
                    Codec.tryDecode Lax everything "tests.with_record" (Json.parse """{"street":12,"zip":""}""")

                Expect.equal withRecord (Ok(WithRecord { Street = "12"; Zip = None })) "number to string, empty to None"

            testCase "every bad field is reported, with paths into nested values"
            <| fun _ ->
                let errors =
                    decodeErrors
                        "tests.collections"
                        """{"tags":["a",1],"scores":[1,"x"],"unique":[],"lookup":{"k":"v"}}"""
                        Strict

                Expect.equal
                    errors
                    [
                        "tags[1]: expected a string, got 1"
                        "scores[1]: expected an integer, got \"x\""
                        "lookup.k: expected an integer, got \"v\""
                    ]
                    "errors"

            testCase "a missing required field is named; a missing option is None"
            <| fun _ ->
                Expect.equal (decodeErrors "tests.named" """{"name":"w"}""" Strict) [ "count: is required" ] "missing"

                Expect.equal
                    (Codec.tryDecode Strict everything "tests.with_record" (Json.parse """{"street":"s"}"""))
                    (Ok(WithRecord { Street = "s"; Zip = None }))
                    "option"

            testCase "integers out of range and wrong kinds are refused"
            <| fun _ ->
                Expect.equal
                    (decodeErrors "tests.named" """{"name":null,"count":3000000000}""" Lax)
                    [
                        "name: expected a string, got null"
                        "count: expected an integer, got 3000000000"
                    ]
                    "errors"

            testCase "nested unions, tuples and enums are checked"
            <| fun _ ->
                Expect.equal
                    (decodeErrors
                        "tests.nested"
                        """{"color":"Purple","figure":{"case":"Rect","width":1},"pair":["a"],"maybe":null,"level":"Mid"}"""
                        Strict)
                    [
                        "color: expected one of Red, Green, Blue, got \"Purple\""
                        "figure.height: is required"
                        "pair: expected an array of 2 items, got an array"
                        "level: expected one of Low, High, got \"Mid\""
                    ]
                    "errors"

            testCase "an unknown type is an error naming it"
            <| fun _ ->
                Expect.equal (decodeErrors "tests.nope" "{}" Strict) [ "unknown message type 'tests.nope'" ] "errors"

            testCase "decoding a stored message raises errors naming stream, type and field"
            <| fun _ ->
                let message =
                    Message.create "s-1" "tests.named" (Json.parse """{"name":"w","count":"x"}""")

                let error = Expect.throwsC (fun () -> Codec.decode everything message |> ignore) id

                match box error with
                | :? InvalidMessageException as invalid ->
                    Expect.equal invalid.MessageType "tests.named" "type"
                    Expect.equal invalid.StreamId "s-1" "stream"
                    Expect.equal (invalid.Errors |> List.map (fun error -> error.Field)) [ "count" ] "field"

                    Expect.equal
                        invalid.Message
                        "Invalid 'tests.named' message for stream 's-1': count: expected an integer, got \"x\""
                        "message"
                | other -> failtestf "expected InvalidMessageException, got %O" other

            testCase "decoding a message of an unknown type raises UnknownMessageTypeException"
            <| fun _ ->
                let message = Message.create "s-1" "tests.nope" Json.emptyObject

                let error = Expect.throwsC (fun () -> Codec.decode everything message |> ignore) id

                Expect.isTrue (error :? UnknownMessageTypeException) "type"
                Expect.stringContains error.Message "'tests.nope' in stream 's-1'" "names type and stream"
        ]

let validation =
    let commands = Codec.union<Cart.Command> "carts" |> Codec.validate Cart.validate

    testList
        "validation"
        [
            testCase "a valid form is parsed leniently into a command message"
            <| fun _ ->
                match
                    Codec.parse commands "cart-1" "carts.add_item" """{"productId":"p","price":"10","quantity":"2"}"""
                with
                | Ok message ->
                    Expect.equal message.StreamId "cart-1" "stream"
                    Expect.equal (Json.toText message.Payload) """{"productId":"p","price":10,"quantity":2}""" "payload"
                | Error error -> failtestf "refused: %s" error.Message

            testCase "a form failing validation is refused with the field and the rule"
            <| fun _ ->
                match
                    Codec.parse commands "cart-1" "carts.add_item" """{"productId":"p","price":"10","quantity":"0"}"""
                with
                | Ok _ -> failtest "accepted"
                | Error error ->
                    Expect.equal error.Errors [ FieldError.create "quantity" "must be at least 1" ] "errors"
                    Expect.equal error.StreamId "cart-1" "stream"

            testCase "malformed JSON is refused, not thrown"
            <| fun _ ->
                match Codec.parse commands "cart-1" "carts.add_item" "{nope" with
                | Ok _ -> failtest "accepted"
                | Error error -> Expect.stringContains error.Message "not valid JSON" "message"

            testCase "building an invalid command message raises before anything is stored"
            <| fun _ ->
                Expect.throwsT<InvalidMessageException>
                    (fun () ->
                        Codec.message
                            commands
                            "cart-1"
                            (Cart.AddItem
                                {
                                    ProductId = "p"
                                    Price = -1
                                    Quantity = 1
                                })
                        |> ignore)
                    "invalid"
        ]

/// A message class as C# writes one: a constructor whose parameters name its properties.
type Parcel(id: string, weight: int, insured: Nullable<decimal>, labels: Collections.Generic.IReadOnlyList<string>) =
    member _.Id = id
    member _.Weight = weight
    member _.Insured = insured
    member _.Labels = labels
    /// Computed: not stored.
    member _.Heavy = weight > 10

[<MessageType "parcels.shipped.v2">]
type Shipped(id: string) =
    member _.Id = id

let parcels = Codec.ofTypes "parcels" [ typeof<Parcel>; typeof<Shipped> ]

let classes =
    testList
        "message classes"
        [
            testCase "classes are named after the prefix and the class, unless an attribute names them"
            <| fun _ -> Expect.equal (Codec.types parcels) [ "parcels.parcel"; "parcels.shipped.v2" ] "types"

            testPropertyWithConfig config "every class decodes strictly to what was encoded"
            <| fun (NonNull id) weight (insured: decimal option) (labels: NonNull<string> list) ->
                let parcel =
                    Parcel(
                        id,
                        weight,
                        Option.toNullable insured,
                        labels |> List.map (fun (NonNull label) -> label) |> ResizeArray
                    )

                let messageType, payload = parcels.Encode parcel

                match parcels.Decode Strict messageType payload with
                | Ok(:? Parcel as decoded) ->
                    decoded.Id = id
                    && decoded.Weight = weight
                    && decoded.Insured = parcel.Insured
                    && List.ofSeq decoded.Labels = List.ofSeq parcel.Labels
                    && not (payload.TryGetProperty "heavy" |> fst)
                | other -> failtestf "decoded %A" other

            testCase "an absent Nullable is null and every other absent or mistyped property is named"
            <| fun _ ->
                match parcels.Decode Strict "parcels.parcel" (Json.parse """{"weight":"3","labels":[1]}""") with
                | Ok value -> failtestf "decoded %A" value
                | Error errors ->
                    Expect.equal
                        (errors |> List.map string)
                        [
                            "id: is required"
                            "weight: expected an integer, got \"3\""
                            "labels[0]: expected a string, got 1"
                        ]
                        "errors"

            testCase "encoding a class the codec does not know names the known ones"
            <| fun _ ->
                Expect.throwsC (fun () -> parcels.Encode(box "text") |> ignore) (fun error ->
                    Expect.stringContains error.Message "(Parcel, Shipped)" "message")
        ]

let tests =
    testList "codecs" [ naming; roundTrips; strictAndLax; validation; classes ]
