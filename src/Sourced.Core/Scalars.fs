namespace Sourced

open System
open System.Collections.Generic
open System.Globalization
open System.Text.Json

/// How strictly a payload is read: events are read `Strict`ly (exact JSON types);
/// commands from forms and JSON APIs can be read `Lax`ly ("12" → 12, "true" → true, "" → None).
type Decoding =
    /// Exact JSON types only: how events are read.
    | Strict
    /// Also numbers and booleans written as strings, and empty strings for absent options: commands from forms.
    | Lax

/// How one .NET type is written to and read from JSON, built once per type by reflection.
[<NoEquality; NoComparison>]
type internal Shape =
    {
        Write: Utf8JsonWriter -> obj -> unit
        Read: Decoding -> string -> JsonElement -> Result<obj, FieldError list>
        /// The value to use when the property is absent (None for options); None when absence is an error.
        WhenMissing: obj option
    }

[<RequireQualifiedAccess>]
module internal Scalars =

    let fail (path: string) (problem: string) : Result<obj, FieldError list> =
        Error [ FieldError.create path problem ]

    let got (json: JsonElement) =
        match json.ValueKind with
        | JsonValueKind.Null -> "null"
        | JsonValueKind.Object -> "an object"
        | JsonValueKind.Array -> "an array"
        | _ -> Json.describe json

    let expected (path: string) (what: string) (json: JsonElement) =
        fail path $"expected {what}, got {got json}"

    let child (path: string) (name: string) =
        if String.IsNullOrEmpty path then
            name
        else
            path + "." + name

    /// A shape for a value that JSON keeps as a string or number, read through `tryJson` (strict)
    /// or from a string with `tryParse` (lax, and strict for types JSON has no literal for).
    let private scalar<'T>
        (what: string)
        (write: Utf8JsonWriter -> 'T -> unit)
        (tryJson: JsonElement -> 'T option)
        (tryParse: string -> 'T option)
        (parseStringsWhenStrict: bool)
        : Shape =
        {
            Write = fun writer value -> write writer (unbox<'T> value)
            Read =
                fun decoding path json ->
                    match tryJson json with
                    | Some value -> Ok(box value)
                    | None ->
                        match json.ValueKind with
                        | JsonValueKind.String when decoding = Lax || parseStringsWhenStrict ->
                            match tryParse (json.GetString().Trim()) with
                            | Some value -> Ok(box value)
                            | None -> expected path what json
                        | _ -> expected path what json
            WhenMissing = None
        }

    let private tryNumber (read: JsonElement -> bool * 'T) (json: JsonElement) =
        if json.ValueKind = JsonValueKind.Number then
            match read json with
            | true, value -> Some value
            | _ -> None
        else
            None

    let private tryParseWith (parse: string -> bool * 'T) (text: string) =
        match parse text with
        | true, value -> Some value
        | _ -> None

    let private invariant = CultureInfo.InvariantCulture

    let private stringShape: Shape =
        {
            Write = fun writer value -> writer.WriteStringValue(unbox<string> value)
            Read =
                fun decoding path json ->
                    match json.ValueKind with
                    | JsonValueKind.String -> Ok(box (json.GetString()))
                    | JsonValueKind.Number
                    | JsonValueKind.True
                    | JsonValueKind.False when decoding = Lax -> Ok(box (json.GetRawText()))
                    | _ -> expected path "a string" json
            WhenMissing = None
        }

    let private boolShape: Shape =
        let tryJson (json: JsonElement) =
            match json.ValueKind with
            | JsonValueKind.True -> Some true
            | JsonValueKind.False -> Some false
            | _ -> None

        let tryParse (text: string) =
            match text.ToLowerInvariant() with
            | "true"
            | "1"
            | "on"
            | "yes" -> Some true
            | "false"
            | "0"
            | "off"
            | "no" -> Some false
            | _ -> None

        scalar "true or false" (fun writer value -> writer.WriteBooleanValue value) tryJson tryParse false

    let private integer<'T> what (write: Utf8JsonWriter -> 'T -> unit) (read: JsonElement -> bool * 'T) parse =
        scalar<'T> what write (tryNumber read) (tryParseWith parse) false

    /// Shapes of the types JSON writes as one value: strings, numbers, booleans, dates, ids.
    let primitives: IDictionary<Type, Shape> =
        dict
            [
                typeof<string>, stringShape
                typeof<bool>, boolShape
                typeof<int>,
                integer "an integer" (fun w v -> w.WriteNumberValue(v: int)) (fun j -> j.TryGetInt32()) (fun s ->
                    Int32.TryParse(s, NumberStyles.Integer, invariant))
                typeof<int64>,
                integer "an integer" (fun w v -> w.WriteNumberValue(v: int64)) (fun j -> j.TryGetInt64()) (fun s ->
                    Int64.TryParse(s, NumberStyles.Integer, invariant))
                typeof<int16>,
                integer "an integer" (fun w v -> w.WriteNumberValue(int v: int)) (fun j -> j.TryGetInt16()) (fun s ->
                    Int16.TryParse(s, NumberStyles.Integer, invariant))
                typeof<byte>,
                integer "a byte" (fun w v -> w.WriteNumberValue(int v: int)) (fun j -> j.TryGetByte()) (fun s ->
                    Byte.TryParse(s, NumberStyles.Integer, invariant))
                typeof<decimal>,
                integer "a number" (fun w v -> w.WriteNumberValue(v: decimal)) (fun j -> j.TryGetDecimal()) (fun s ->
                    Decimal.TryParse(s, NumberStyles.Number, invariant))
                typeof<float>,
                integer "a number" (fun w v -> w.WriteNumberValue(v: float)) (fun j -> j.TryGetDouble()) (fun s ->
                    Double.TryParse(s, NumberStyles.Float, invariant))
                typeof<float32>,
                integer "a number" (fun w v -> w.WriteNumberValue(v: float32)) (fun j -> j.TryGetSingle()) (fun s ->
                    Single.TryParse(s, NumberStyles.Float, invariant))
                typeof<Guid>,
                scalar
                    "a uuid"
                    (fun w v -> w.WriteStringValue(v: Guid))
                    (fun _ -> None)
                    (tryParseWith Guid.TryParse)
                    true
                typeof<DateTimeOffset>,
                scalar
                    "a date and time (ISO 8601)"
                    (fun w v -> w.WriteStringValue(v: DateTimeOffset))
                    (fun _ -> None)
                    (tryParseWith (fun s -> DateTimeOffset.TryParse(s, invariant, DateTimeStyles.RoundtripKind)))
                    true
                typeof<DateTime>,
                scalar
                    "a date and time (ISO 8601)"
                    (fun w v -> w.WriteStringValue(v: DateTime))
                    (fun _ -> None)
                    (tryParseWith (fun s -> DateTime.TryParse(s, invariant, DateTimeStyles.RoundtripKind)))
                    true
                typeof<DateOnly>,
                scalar
                    "a date (yyyy-mm-dd)"
                    (fun w v -> w.WriteStringValue((v: DateOnly).ToString("yyyy-MM-dd", invariant)))
                    (fun _ -> None)
                    (tryParseWith (fun s -> DateOnly.TryParseExact(s, "yyyy-MM-dd", invariant, DateTimeStyles.None)))
                    true
                typeof<TimeSpan>,
                scalar
                    "a duration (d.hh:mm:ss)"
                    (fun w v -> w.WriteStringValue((v: TimeSpan).ToString("c", invariant)))
                    (fun _ -> None)
                    (tryParseWith (fun s -> TimeSpan.TryParse(s, invariant)))
                    true
                typeof<JsonElement>,
                {
                    Write = fun writer value -> (unbox<JsonElement> value).WriteTo writer
                    Read = fun _ _ json -> Ok(box (json.Clone()))
                    WhenMissing = None
                }
            ]

    /// Reads every item, collecting all field errors rather than stopping at the first.
    let readAll (reads: (unit -> Result<obj, FieldError list>) seq) : Result<obj[], FieldError list> =
        let values = ResizeArray()
        let errors = ResizeArray()

        for read in reads do
            match read () with
            | Ok value -> values.Add value
            | Error problems -> errors.AddRange problems

        if errors.Count = 0 then
            Ok(values.ToArray())
        else
            Error(List.ofSeq errors)
