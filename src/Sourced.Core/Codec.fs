namespace Sourced

open System
open System.Collections.Generic
open System.Text.Json
open Microsoft.FSharp.Reflection

/// Names the stored type of a message class, instead of `<prefix>.<snake_case class name>`; keep it when you
/// rename the class: `[<MessageType "carts.item_added">]`, `[MessageType("carts.item_added")]` in C#.
[<AttributeUsage(AttributeTargets.Class ||| AttributeTargets.Struct, AllowMultiple = false)>]
type MessageTypeAttribute(messageType: string) =
    inherit Attribute()
    /// The stored type name the class is given.
    member _.MessageType = messageType

/// One case of a codec: the union case name and the stable type string it is stored as.
type CodecCase =
    {
        /// The union case name (the class name, for `Codec.ofTypes`).
        Name: string
        /// The message type it is stored as, e.g. `carts.item_added`.
        Type: string
    }

/// Maps values of `'T` (usually the cases of an F# union) to message types and JSON payloads and back.
/// Explicit per actor: `Codec.union<Command> "carts"` names `AddItem` `carts.add_item`.
[<NoEquality; NoComparison>]
type Codec<'T> =
    {
        /// Its cases, each with the message type it is stored as.
        Cases: CodecCase list
        /// The message type and payload of a value.
        Encode: 'T -> string * JsonElement
        /// Reads a payload of a known type (see `Handles`).
        Decode: Decoding -> string -> JsonElement -> Result<'T, FieldError list>
        /// Whether it reads messages of a type (see `Codec.handles`).
        Handles: string -> bool
        /// Business validation run on commands before they are stored or decided.
        Validate: 'T -> FieldError list
    }

/// Making, narrowing and using codecs: `Codec.union`, `Codec.ofTypes`, `Codec.only`, `Codec.message`, ...
[<RequireQualifiedAccess>]
module Codec =

    let private typeName (prefix: string) (name: string) =
        if String.IsNullOrEmpty prefix then
            Json.snakeCase name
        else
            prefix + "." + Json.snakeCase name

    let private noDuplicates (what: string) (typeNames: string seq) =
        match typeNames |> Seq.countBy id |> Seq.tryFind (fun (_, count) -> count > 1) with
        | Some(name, _) -> invalidArg what $"Two message classes share the name '{name}'."
        | None -> ()

    /// The message types this codec reads and writes.
    let types (codec: Codec<'T>) : string list =
        codec.Cases |> List.map (fun case -> case.Type)

    /// A codec for every case of the F# union `'T`: case `ItemAdded` ↔ type `<prefix>.item_added`,
    /// fields ↔ camelCase payload properties (a case holding one record stores that record's fields).
    let union<'T> (prefix: string) : Codec<'T> =
        let unionType = typeof<'T>

        if not (FSharpType.IsUnion(unionType, true)) then
            invalidArg (nameof prefix) $"Codec.union needs an F# union type; {unionType.FullName} is not one."

        let cases = FSharpType.GetUnionCases(unionType, true)

        let typeNames = cases |> Array.map (fun case -> typeName prefix case.Name)

        match typeNames |> Array.countBy id |> Array.tryFind (fun (_, count) -> count > 1) with
        | Some(name, _) -> invalidArg (nameof prefix) $"Two cases of {unionType.Name} map to the type '{name}'."
        | None -> ()

        let tagOf = FSharpValue.PreComputeUnionTagReader(unionType, true)

        let encoders =
            cases
            |> Array.map (fun case ->
                let write, _ = Shapes.caseFields case
                FSharpValue.PreComputeUnionReader(case, true), write)

        let decoders =
            cases
            |> Array.mapi (fun index case ->
                let _, read = Shapes.caseFields case
                let construct = FSharpValue.PreComputeUnionConstructor(case, true)
                typeNames[index], (fun decoding json -> read decoding json |> Result.map (construct >> unbox<'T>)))
            |> dict

        {
            Cases =
                cases
                |> Array.mapi (fun index case ->
                    {
                        Name = case.Name
                        Type = typeNames[index]
                    })
                |> List.ofArray
            Encode =
                fun value ->
                    let tag = tagOf (box value)
                    let readFields, write = encoders[tag]
                    typeNames[tag], Json.write (fun writer -> write writer (readFields (box value)))
            Decode = fun decoding messageType json -> decoders[messageType] decoding json
            Handles = decoders.ContainsKey
            Validate = fun _ -> []
        }

    /// A codec for message classes (C# records, plain classes): class `ItemAdded` ↔ type `<prefix>.item_added`
    /// unless `[MessageType]` names it, public properties ↔ camelCase payload properties. Values are boxed;
    /// encoding a class that is not in `types` is an argument error naming the known ones.
    let ofTypes (prefix: string) (types: Type list) : Codec<obj> =
        let types = List.distinct types

        let typeOf (t: Type) =
            match t.GetCustomAttributes(typeof<MessageTypeAttribute>, false) with
            | [| :? MessageTypeAttribute as named |] -> named.MessageType
            | _ -> typeName prefix t.Name

        let entries =
            types
            |> List.map (fun t ->
                if t.IsAbstract || t.IsInterface then
                    invalidArg (nameof types) $"{t.Name} is abstract; messages are concrete classes."

                if t.IsGenericType && typeOf t = typeName prefix t.Name then
                    invalidArg (nameof types) $"{t.Name} is generic: name its stored type with [MessageType(\"...\")]."

                t, typeOf t, Shapes.shapeOf t)

        entries |> List.map (fun (_, name, _) -> name) |> noDuplicates (nameof types)
        types |> List.map (fun t -> t.Name) |> noDuplicates (nameof types)
        let byClass = entries |> List.map (fun (t, name, shape) -> t, (name, shape)) |> dict
        let byName = entries |> List.map (fun (_, name, shape) -> name, shape) |> dict

        let known () =
            types |> List.map (fun t -> t.Name) |> String.concat ", "

        {
            Cases = entries |> List.map (fun (t, name, _) -> { Name = t.Name; Type = name })
            Encode =
                fun value ->
                    match byClass.TryGetValue(value.GetType()) with
                    | true, (name, shape) -> name, Json.write (fun writer -> shape.Write writer value)
                    | _ ->
                        invalidArg
                            (nameof value)
                            $"{value.GetType().Name} is not one of the message classes of '{prefix}' ({known ()})."
            Decode = fun decoding messageType json -> byName[messageType].Read decoding "" json
            Handles = byName.ContainsKey
            Validate = fun _ -> []
        }

    /// The type string of a case, by case name (use `nameof`); an unknown name is an argument error.
    let caseType (caseName: string) (codec: Codec<'T>) : string =
        match codec.Cases |> List.tryFind (fun case -> case.Name = caseName) with
        | Some case -> case.Type
        | None ->
            let names = codec.Cases |> List.map (fun case -> case.Name) |> String.concat ", "
            invalidArg (nameof caseName) $"No case named '{caseName}' (cases: {names})."

    /// Keeps the stored type string of a case stable when the case is renamed: `rename (nameof Added) "carts.item_added"`.
    let rename (caseName: string) (messageType: string) (codec: Codec<'T>) : Codec<'T> =
        let original = caseType caseName codec

        let toStored name =
            if name = original then messageType else name

        let toOriginal name =
            if name = messageType then original else name

        { codec with
            Cases =
                codec.Cases
                |> List.map (fun case ->
                    if case.Name = caseName then
                        { case with Type = messageType }
                    else
                        case)
            Encode = fun value -> codec.Encode value |> fun (name, payload) -> toStored name, payload
            Decode = fun decoding name json -> codec.Decode decoding (toOriginal name) json
            Handles = fun name -> name <> original && codec.Handles(toOriginal name)
        }

    /// Only the named cases (use `nameof`): what a reaction or handler consumes.
    let only (caseNames: string list) (codec: Codec<'T>) : Codec<'T> =
        if List.isEmpty caseNames then
            invalidArg (nameof caseNames) "Codec.only needs at least one case name."

        let kept = caseNames |> List.map (fun name -> caseType name codec) |> HashSet

        { codec with
            Cases = codec.Cases |> List.filter (fun case -> kept.Contains case.Type)
            Handles = fun name -> kept.Contains name && codec.Handles name
        }

    /// Adds business validation (commands): `Codec.validate (function AddItem i when i.Quantity < 1 -> [ ... ] | _ -> [])`.
    let validate (rules: 'T -> FieldError list) (codec: Codec<'T>) : Codec<'T> =
        { codec with
            Validate = fun value -> codec.Validate value @ rules value
        }

    /// Whether this codec reads messages of this type.
    let handles (messageType: string) (codec: Codec<'T>) : bool = codec.Handles messageType

    /// Reads a payload; unknown types and invalid payloads are errors naming the type and the fields.
    let tryDecode (decoding: Decoding) (codec: Codec<'T>) (messageType: string) (payload: JsonElement) =
        if codec.Handles messageType then
            codec.Decode decoding messageType payload
        else
            Error [ FieldError.create "" $"unknown message type '{messageType}'" ]

    let private failUnknown (codec: Codec<'T>) (message: Message) : 'a =
        raise (UnknownMessageTypeException(message.Type, message.StreamId, types codec))

    /// Decodes an event strictly; raises `InvalidMessageException` or `UnknownMessageTypeException`.
    let decode (codec: Codec<'T>) (message: Message) : 'T =
        if not (codec.Handles message.Type) then
            failUnknown codec message

        match codec.Decode Strict message.Type message.Payload with
        | Ok value -> value
        | Error errors -> raise (InvalidMessageException(message.Type, message.StreamId, errors))

    /// Decodes a command leniently and validates it; raises `InvalidMessageException` naming every bad field.
    let decodeCommand (codec: Codec<'T>) (message: Message) : 'T =
        if not (codec.Handles message.Type) then
            failUnknown codec message

        match codec.Decode Lax message.Type message.Payload with
        | Ok value ->
            match codec.Validate value with
            | [] -> value
            | errors -> raise (InvalidMessageException(message.Type, message.StreamId, errors))
        | Error errors -> raise (InvalidMessageException(message.Type, message.StreamId, errors))

    /// A new message for a value, validated first (`InvalidMessageException` when the rules fail).
    let message (codec: Codec<'T>) (streamId: string) (value: 'T) : Message =
        let messageType, payload = codec.Encode value

        match codec.Validate value with
        | [] -> Message.create streamId messageType payload
        | errors -> raise (InvalidMessageException(messageType, streamId, errors))

    /// A command message from outside (HTTP form, JSON body): read leniently, validated, or an error per field.
    let parse
        (codec: Codec<'T>)
        (streamId: string)
        (messageType: string)
        (json: string)
        : Result<Message, InvalidMessageException> =
        let payload =
            try
                Ok(Json.parse json)
            with :? JsonException as error ->
                Error [ FieldError.create "" $"not valid JSON: {error.Message}" ]

        let value =
            payload
            |> Result.bind (tryDecode Lax codec messageType)
            |> Result.bind (fun value ->
                match codec.Validate value with
                | [] -> Ok value
                | errors -> Error errors)

        match value with
        | Ok value -> Ok(message codec streamId value)
        | Error errors -> Error(InvalidMessageException(messageType, streamId, errors))
