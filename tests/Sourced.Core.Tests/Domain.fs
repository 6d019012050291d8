/// Test domain: a payload type that exercises every supported field type, and its FsCheck generators.
module Sourced.Tests.Domain

open System
open FsCheck
open FsCheck.FSharp
open Sourced

type Color =
    | Red
    | Green
    | Blue

type Figure =
    | Circle of radius: float
    | Rect of width: int * height: int

type Address = { Street: string; Zip: string option }

type Level =
    | Low = 1
    | High = 2

/// One case per family of field types the union codec supports.
type Everything =
    | Empty
    | Named of name: string * count: int
    | WithRecord of Address
    | Numbers of small: int16 * big: int64 * money: decimal * ratio: float * single: float32 * flag: bool * tiny: byte
    | Times of at: DateTimeOffset * day: DateOnly * span: TimeSpan * id: Guid
    | Collections of tags: string list * scores: int array * unique: Set<string> * lookup: Map<string, int>
    | Nested of color: Color * figure: Figure * pair: (string * int) * maybe: Address option * level: Level
    | Raw of json: Text.Json.JsonElement option

let everything = Codec.union<Everything> "tests"

/// Values that JSON can carry exactly: finite floats, valid text, whole-minute offsets.
type Generators =
    static member String() : Arbitrary<string> =
        Gen.elements [ "a"; "b"; "Zed"; " "; "é"; "漢字"; "\""; "\\"; "\n"; "😀"; "12"; "" ]
        |> Gen.listOf
        |> Gen.map (String.concat "")
        |> Arb.fromGen

    static member Float() : Arbitrary<float> =
        ArbMap.defaults
        |> ArbMap.generate<float>
        |> Gen.filter Double.IsFinite
        |> Arb.fromGen

    static member Float32() : Arbitrary<float32> =
        ArbMap.defaults
        |> ArbMap.generate<float32>
        |> Gen.filter Single.IsFinite
        |> Arb.fromGen

    static member DateOnly() : Arbitrary<DateOnly> =
        Gen.choose (0, 3_000_000) |> Gen.map DateOnly.FromDayNumber |> Arb.fromGen

    static member DateTimeOffset() : Arbitrary<DateTimeOffset> =
        let day = TimeSpan.TicksPerDay
        let span = DateTimeOffset.MaxValue.Ticks - 2L * day

        Gen.map3
            (fun (high: int) (low: int) (minutes: int) ->
                let ticks = day + (int64 high * 2_147_483_648L + int64 low) % span
                DateTimeOffset(ticks, TimeSpan.FromMinutes(float minutes)))
            (Gen.choose (0, Int32.MaxValue))
            (Gen.choose (0, Int32.MaxValue))
            (Gen.choose (-840, 840))
        |> Arb.fromGen

    static member Json() : Arbitrary<Text.Json.JsonElement> =
        Gen.elements [ """{"a":1}"""; "[1,2]"; "\"x\""; "true"; "3.5" ]
        |> Gen.map Json.parse
        |> Arb.fromGen

    static member Level() : Arbitrary<Level> =
        Gen.elements [ Level.Low; Level.High ] |> Arb.fromGen
