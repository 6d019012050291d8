namespace Sourced

open System
open System.Buffers
open System.Text
open System.Text.Json

/// JSON helpers shared by codecs, messages and stores: naming conventions and element construction.
[<RequireQualifiedAccess>]
module Json =

    /// `ItemAdded` → `item_added`, `HTTPResponse` → `http_response`, `Carts.V2` → `carts.v2`.
    let snakeCase (name: string) : string =
        let builder = StringBuilder(name.Length + 8)

        for index in 0 .. name.Length - 1 do
            let current = name[index]

            if Char.IsUpper current then
                let previous = if index > 0 then name[index - 1] else ' '
                let next = if index + 1 < name.Length then name[index + 1] else ' '

                let startsWord =
                    index > 0
                    && (Char.IsLower previous
                        || Char.IsDigit previous
                        || (Char.IsUpper previous && Char.IsLower next))

                if startsWord then
                    builder.Append '_' |> ignore

                builder.Append(Char.ToLowerInvariant current) |> ignore
            elif current = '-' then
                builder.Append '_' |> ignore
            else
                builder.Append current |> ignore

        builder.ToString()

    /// `ProductId` → `productId`; names that already start in lower case are kept.
    let camelCase (name: string) : string =
        if String.IsNullOrEmpty name || Char.IsLower name[0] then
            name
        else
            string (Char.ToLowerInvariant name[0]) + name.Substring 1

    /// Structural equality of two JSON values (object property order does not matter).
    let deepEquals (left: JsonElement) (right: JsonElement) : bool = JsonElement.DeepEquals(left, right)

    /// Builds a standalone JSON value by writing it.
    let write (writeValue: Utf8JsonWriter -> unit) : JsonElement =
        let buffer = ArrayBufferWriter<byte>(256)

        do
            use writer = new Utf8JsonWriter(buffer)
            writeValue writer

        let mutable reader = Utf8JsonReader(buffer.WrittenSpan)
        JsonElement.ParseValue(&reader)

    /// Parses JSON text into a standalone value.
    let parse (text: string) : JsonElement =
        use document = JsonDocument.Parse(text)
        document.RootElement.Clone()

    /// A JSON string value.
    let ofString (value: string) : JsonElement =
        write (fun writer -> writer.WriteStringValue value)

    /// The empty JSON object `{}`.
    let emptyObject: JsonElement = parse "{}"

    /// Compact JSON text of a value.
    let toText (value: JsonElement) : string =
        if value.ValueKind = JsonValueKind.Undefined then
            "null"
        else
            value.GetRawText()

    /// A short human-readable rendering of a value, for traces and error messages.
    let describe (value: JsonElement) : string =
        match value.ValueKind with
        | JsonValueKind.Undefined -> "nothing"
        | JsonValueKind.String -> "\"" + value.GetString() + "\""
        | _ ->
            let text = value.GetRawText()

            if text.Length > 60 then
                text.Substring(0, 57) + "..."
            else
                text
