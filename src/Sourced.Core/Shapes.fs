namespace Sourced

open System
open System.Collections.Concurrent
open System.Collections.Generic
open System.Reflection
open System.Text.Json
open Microsoft.FSharp.Reflection

/// Shapes of structured types (options, collections, records, unions, tuples), built once per type.
[<RequireQualifiedAccess>]
module internal Shapes =

    /// Writes and reads named fields as the properties of a JSON object.
    type private Fields =
        {
            /// The type (or union case) the fields belong to, for errors.
            Owner: string
            Names: string[]
            Shapes: Shape[]
        }

        member fields.Write (writer: Utf8JsonWriter) (values: obj[]) =
            for index in 0 .. fields.Names.Length - 1 do
                writer.WritePropertyName fields.Names[index]

                match values[index] with
                | null when fields.Shapes[index].WhenMissing.IsSome -> writer.WriteNullValue()
                | null ->
                    // NOTE: refused here, or the stored message could never be read back.
                    invalidOp
                        $"{fields.Owner}.{fields.Names[index]} is null, but it is not optional: make it nullable (string?, int?) or an option, or give it a value."
                | value -> fields.Shapes[index].Write writer value

        member fields.Read (decoding: Decoding) (path: string) (json: JsonElement) : Result<obj[], FieldError list> =
            if json.ValueKind <> JsonValueKind.Object then
                Error [ FieldError.create path $"expected an object, got {Scalars.got json}" ]
            else
                Scalars.readAll (
                    Seq.init fields.Names.Length (fun index () ->
                        let name = fields.Names[index]
                        let shape = fields.Shapes[index]
                        let fieldPath = Scalars.child path name

                        match json.TryGetProperty name with
                        | true, value when value.ValueKind <> JsonValueKind.Null || shape.WhenMissing.IsNone ->
                            shape.Read decoding fieldPath value
                        | _ ->
                            match shape.WhenMissing with
                            | Some missing -> Ok missing
                            | None -> Scalars.fail fieldPath "is required")
                )

    /// Collection types of C# classes, read as a `List<T>`.
    let private listLike =
        HashSet
            [
                typedefof<List<_>>
                typedefof<IList<_>>
                typedefof<IReadOnlyList<_>>
                typedefof<ICollection<_>>
                typedefof<IReadOnlyCollection<_>>
                typedefof<IEnumerable<_>>
            ]

    /// Dictionary types of C# classes, read as a `Dictionary<string, T>`.
    let private dictionaryLike =
        HashSet
            [
                typedefof<Dictionary<_, _>>
                typedefof<IDictionary<_, _>>
                typedefof<IReadOnlyDictionary<_, _>>
            ]

    /// Classes and structs of our users (C# records, plain classes), as opposed to the framework's own types,
    /// which the serializer handles.
    let private isPlainClass (t: Type) =
        let framework =
            match t.Namespace with
            | null -> false
            | name -> name = "System" || name.StartsWith "System." || name.StartsWith "Microsoft."

        not framework
        && not t.IsPrimitive
        && not t.IsAbstract
        && not t.IsInterface
        && not t.IsGenericTypeDefinition
        && (t.GetProperties(BindingFlags.Public ||| BindingFlags.Instance).Length > 0
            || t.GetFields(BindingFlags.Public ||| BindingFlags.Instance).Length > 0)

    /// How a class is built and which of its properties are stored.
    type private ClassLayout =
        {
            /// The widest public constructor whose parameters all name properties of the same types.
            Constructor: ConstructorInfo option
            Parameters: ParameterInfo[]
            /// The properties its parameters set, in parameter order.
            ByConstructor: PropertyInfo[]
            /// The other publicly settable properties.
            Settable: PropertyInfo[]
        }

    /// Refuses classes whose data would silently not be stored: public fields, auto-properties that neither the
    /// constructor nor a public setter can set.
    let private layoutOf (t: Type) : ClassLayout =
        let refuse (why: string) : 'a =
            invalidArg (nameof t) $"{t.Name} can't be a message class: {why}"

        match t.GetFields(BindingFlags.Public ||| BindingFlags.Instance) with
        | [||] -> ()
        | fields -> refuse $"it has public fields ({fields[0].Name}); use properties."

        let properties =
            t.GetProperties(BindingFlags.Public ||| BindingFlags.Instance)
            |> Array.filter (fun property -> property.CanRead && property.GetIndexParameters().Length = 0)

        let property (parameter: ParameterInfo) =
            properties
            |> Array.tryFind (fun property ->
                String.Equals(property.Name, parameter.Name, StringComparison.OrdinalIgnoreCase)
                && property.PropertyType = parameter.ParameterType)

        let constructor =
            t.GetConstructors()
            |> Array.filter (fun constructor ->
                constructor.GetParameters()
                |> Array.forall (fun parameter -> (property parameter).IsSome))
            |> Array.sortByDescending (fun constructor -> constructor.GetParameters().Length)
            |> Array.tryHead

        if constructor.IsNone && not t.IsValueType then
            refuse "no public constructor has parameters that all name its properties (same names and types)."

        let parameters =
            constructor
            |> Option.map (fun constructor -> constructor.GetParameters())
            |> Option.defaultValue [||]

        let byConstructor =
            parameters |> Array.map (fun parameter -> (property parameter).Value)

        let publiclySettable (property: PropertyInfo) =
            not (isNull property.SetMethod) && property.SetMethod.IsPublic

        let autoProperty (property: PropertyInfo) =
            not (
                isNull (
                    t.GetField($"<{property.Name}>k__BackingField", BindingFlags.NonPublic ||| BindingFlags.Instance)
                )
            )

        let others =
            properties
            |> Array.filter (fun property -> not (Array.contains property byConstructor))

        match
            others
            |> Array.tryFind (fun property -> autoProperty property && not (publiclySettable property))
        with
        | Some hidden ->
            refuse $"{hidden.Name} has no public setter and no constructor parameter, so it would not be stored."
        | None -> ()

        {
            Constructor = constructor
            Parameters = parameters
            ByConstructor = byConstructor
            Settable = others |> Array.filter publiclySettable
        }

    let private cache = ConcurrentDictionary<Type, Shape>()

    /// Shapes finished while an outer type is still being built: published to `cache` together, once the
    /// outermost build succeeds (they may point at its forwarding shape), dropped if it fails.
    let private finished = Dictionary<Type, Shape>()
    let mutable private depth = 0

    /// Shapes being built, guarded by a lock: only finished shapes ever reach `cache`.
    let private building = Dictionary<Type, Shape>()

    let rec shapeOf (t: Type) : Shape =
        match cache.TryGetValue t with
        | true, shape -> shape
        | _ -> lock building (fun () -> buildOnce t)

    and private buildOnce (t: Type) : Shape =
        match cache.TryGetValue t with
        | true, shape -> shape
        | _ ->
            match finished.TryGetValue t with
            | true, shape -> shape
            | _ ->
                match building.TryGetValue t with
                | true, inProgress -> inProgress
                | _ -> buildNew t

    and private buildNew (t: Type) : Shape =
        // NOTE: recursive types meet themselves while being built; a forwarding shape breaks the cycle.
        let built = ref Unchecked.defaultof<Shape>

        building[t] <-
            {
                Write = fun writer value -> built.Value.Write writer value
                Read = fun decoding path json -> built.Value.Read decoding path json
                WhenMissing = None
            }

        depth <- depth + 1

        try
            try
                built.Value <- build t
                finished[t] <- built.Value

                if depth = 1 then
                    for pair in finished do
                        cache[pair.Key] <- pair.Value

                    finished.Clear()

                built.Value
            with _ ->
                if depth = 1 then
                    finished.Clear()

                reraise ()
        finally
            depth <- depth - 1
            building.Remove t |> ignore

    and private build (t: Type) : Shape =
        match Scalars.primitives.TryGetValue t with
        | true, shape -> shape
        | _ when t.IsGenericType && t.GetGenericTypeDefinition() = typedefof<option<_>> -> optionShape t
        | _ when t.IsGenericType && t.GetGenericTypeDefinition() = typedefof<list<_>> ->
            collection typedefof<ListCollection<_>> t.GenericTypeArguments[0]
        | _ when t.IsArray && t.GetArrayRank() = 1 -> collection typedefof<ArrayCollection<_>> (t.GetElementType())
        | _ when t.IsGenericType && t.GetGenericTypeDefinition() = typedefof<Set<_>> ->
            collection typedefof<SetCollection<_>> t.GenericTypeArguments[0]
        | _ when
            t.IsGenericType
            && t.GetGenericTypeDefinition() = typedefof<Map<_, _>>
            && t.GenericTypeArguments[0] = typeof<string>
            ->
            mapShape typedefof<MapCollection<_>> t
        | _ when t.IsGenericType && listLike.Contains(t.GetGenericTypeDefinition()) ->
            collection typedefof<MutableListCollection<_>> t.GenericTypeArguments[0]
        | _ when
            t.IsGenericType
            && dictionaryLike.Contains(t.GetGenericTypeDefinition())
            && t.GenericTypeArguments[0] = typeof<string>
            ->
            mapShape typedefof<DictionaryCollection<_>> t
        | _ when not (isNull (Nullable.GetUnderlyingType t)) -> nullableShape t
        | _ when t.IsEnum -> enumShape t
        | _ when FSharpType.IsRecord(t, true) -> recordShape t
        | _ when FSharpType.IsUnion(t, true) -> unionShape t
        | _ when FSharpType.IsTuple t -> tupleShape t
        | _ when isPlainClass t -> classShape t
        | _ -> serializerShape t

    /// `Nullable<T>`: absent or null is null; otherwise a T.
    and private nullableShape (t: Type) : Shape =
        let inner = shapeOf (Nullable.GetUnderlyingType t)

        {
            Write =
                fun writer value ->
                    match value with
                    | null -> writer.WriteNullValue()
                    | value -> inner.Write writer value
            Read =
                fun decoding path json ->
                    match json.ValueKind with
                    | JsonValueKind.Null -> Ok null
                    | JsonValueKind.String when decoding = Lax && String.IsNullOrWhiteSpace(json.GetString()) -> Ok null
                    | _ -> inner.Read decoding path json
            WhenMissing = Some null
        }

    and private optionShape (t: Type) : Shape =
        let inner = shapeOf t.GenericTypeArguments[0]

        let optional =
            Activator.CreateInstance(typedefof<OptionOf<_>>.MakeGenericType t.GenericTypeArguments) :?> IOptional

        {
            Write =
                fun writer value ->
                    match optional.TryValue value with
                    | Some value -> inner.Write writer value
                    | None -> writer.WriteNullValue()
            Read =
                fun decoding path json ->
                    match json.ValueKind with
                    | JsonValueKind.Null -> Ok null
                    | JsonValueKind.String when decoding = Lax && String.IsNullOrWhiteSpace(json.GetString()) -> Ok null
                    | _ -> inner.Read decoding path json |> Result.map optional.Some
            WhenMissing = Some null
        }

    and private collection (builder: Type) (itemType: Type) : Shape =
        let itemShape = shapeOf itemType

        let items =
            Activator.CreateInstance(builder.MakeGenericType itemType) :?> ICollection

        {
            Write =
                fun writer value ->
                    writer.WriteStartArray()

                    for item in items.Items value do
                        match item with
                        | null when itemShape.WhenMissing.IsSome -> writer.WriteNullValue()
                        | null ->
                            invalidOp
                                $"A collection of {itemType.Name} holds a null item; collections can't hold nulls."
                        | item -> itemShape.Write writer item

                    writer.WriteEndArray()
            Read =
                fun decoding path json ->
                    if json.ValueKind <> JsonValueKind.Array then
                        Scalars.expected path "an array" json
                    else
                        json.EnumerateArray()
                        |> Seq.mapi (fun index item () -> itemShape.Read decoding $"{path}[{index}]" item)
                        |> Scalars.readAll
                        |> Result.map items.Build
            WhenMissing = None
        }

    and private mapShape (builder: Type) (t: Type) : Shape =
        let valueType = t.GenericTypeArguments[1]
        let valueShape = shapeOf valueType

        let entries =
            Activator.CreateInstance(builder.MakeGenericType valueType) :?> ICollection

        {
            Write =
                fun writer value ->
                    writer.WriteStartObject()

                    for entry in entries.Items value do
                        let key, value = unbox<string * obj> entry
                        writer.WritePropertyName key
                        valueShape.Write writer value

                    writer.WriteEndObject()
            Read =
                fun decoding path json ->
                    if json.ValueKind <> JsonValueKind.Object then
                        Scalars.expected path "an object" json
                    else
                        json.EnumerateObject()
                        |> Seq.map (fun property () ->
                            valueShape.Read decoding (Scalars.child path property.Name) property.Value
                            |> Result.map (fun value -> box (property.Name, value)))
                        |> Scalars.readAll
                        |> Result.map entries.Build
            WhenMissing = None
        }

    /// Enums travel as their names; `[<Flags>]` combinations as "Read, Write". Numbers (and numeric strings)
    /// are read only leniently.
    and private enumShape (t: Type) : Shape =
        let names = Enum.GetNames t |> String.concat ", "
        let flags = t.IsDefined(typeof<FlagsAttribute>, false)

        /// Its name(s), or None for a value without one (the text would be a number).
        let nameOf (value: obj) =
            match Enum.GetName(t, value) with
            | null ->
                let text = value.ToString()

                if flags && not (Char.IsDigit text[0] || text[0] = '-') then
                    Some text
                else
                    None
            | name -> Some name

        {
            Write =
                fun writer value ->
                    match nameOf value with
                    | Some name -> writer.WriteStringValue name
                    | None -> invalidOp $"{value} is not a value of {t.Name} ({names}); it can't be stored."
            Read =
                fun decoding path json ->
                    match json.ValueKind with
                    | JsonValueKind.String ->
                        let text = json.GetString().Trim()

                        let numeric =
                            text.Length > 0 && (Char.IsDigit text[0] || text[0] = '-' || text[0] = '+')

                        match Enum.TryParse(t, text, true) with
                        | true, value when (not numeric || decoding = Lax) && (nameOf value).IsSome -> Ok value
                        | _ -> Scalars.expected path $"one of {names}" json
                    | JsonValueKind.Number when decoding = Lax ->
                        match json.TryGetInt32() with
                        | true, number when (nameOf (Enum.ToObject(t, number))).IsSome -> Ok(Enum.ToObject(t, number))
                        | _ -> Scalars.expected path $"one of {names}" json
                    | _ -> Scalars.expected path $"one of {names}" json
            WhenMissing = None
        }

    and private fieldsOf (owner: string) (properties: Reflection.PropertyInfo[]) : Fields =
        {
            Owner = owner
            Names = properties |> Array.map (fun property -> Json.camelCase property.Name)
            Shapes = properties |> Array.map (fun property -> shapeOf property.PropertyType)
        }

    and private recordShape (t: Type) : Shape =
        let fields = fieldsOf t.Name (FSharpType.GetRecordFields(t, true))
        let read = FSharpValue.PreComputeRecordReader(t, true)
        let construct = FSharpValue.PreComputeRecordConstructor(t, true)

        {
            Write =
                fun writer value ->
                    writer.WriteStartObject()
                    fields.Write writer (read value)
                    writer.WriteEndObject()
            Read = fun decoding path json -> fields.Read decoding path json |> Result.map construct
            WhenMissing = None
        }

    and private unionShape (t: Type) : Shape =
        let cases = FSharpType.GetUnionCases(t, true)
        let tagOf = FSharpValue.PreComputeUnionTagReader(t, true)
        let names = cases |> Array.map (fun case -> case.Name) |> String.concat ", "

        let caseFields =
            cases
            |> Array.map (fun case ->
                fieldsOf case.Name (case.GetFields()),
                FSharpValue.PreComputeUnionReader(case, true),
                FSharpValue.PreComputeUnionConstructor(case, true))

        let byName = cases |> Array.map (fun case -> case.Name, case.Tag) |> dict
        let enumLike = cases |> Array.forall (fun case -> case.GetFields().Length = 0)

        let caseOf decoding path (json: JsonElement) =
            let name =
                match json.ValueKind with
                | JsonValueKind.String when enumLike -> Some(json.GetString())
                | JsonValueKind.Object ->
                    match json.TryGetProperty "case" with
                    | true, case when case.ValueKind = JsonValueKind.String -> Some(case.GetString())
                    | _ -> None
                | _ -> None

            match name with
            | Some name when byName.ContainsKey name ->
                let fields, _, construct = caseFields[byName[name]]

                if fields.Names.Length = 0 then
                    Ok(construct [||])
                else
                    fields.Read decoding path json |> Result.map construct
            | _ -> Scalars.expected path $"one of {names}" json

        {
            Write =
                fun writer value ->
                    let tag = tagOf value
                    let fields, read, _ = caseFields[tag]

                    if enumLike then
                        writer.WriteStringValue cases[tag].Name
                    else
                        writer.WriteStartObject()
                        writer.WriteString("case", cases[tag].Name)
                        fields.Write writer (read value)
                        writer.WriteEndObject()
            Read = caseOf
            WhenMissing = None
        }

    and private tupleShape (t: Type) : Shape =
        let shapes = FSharpType.GetTupleElements t |> Array.map shapeOf
        let read = FSharpValue.PreComputeTupleReader t
        let construct = FSharpValue.PreComputeTupleConstructor t

        {
            Write =
                fun writer value ->
                    writer.WriteStartArray()
                    Array.iter2 (fun (shape: Shape) item -> shape.Write writer item) shapes (read value)
                    writer.WriteEndArray()
            Read =
                fun decoding path json ->
                    if json.ValueKind <> JsonValueKind.Array || json.GetArrayLength() <> shapes.Length then
                        Scalars.expected path $"an array of {shapes.Length} items" json
                    else
                        json.EnumerateArray()
                        |> Seq.mapi (fun index item () -> shapes[index].Read decoding $"{path}[{index}]" item)
                        |> Scalars.readAll
                        |> Result.map construct
            WhenMissing = None
        }

    /// A C# record or plain class: the parameters of its widest public constructor whose parameters all name
    /// properties (a positional record's), then its other settable properties, as camelCase fields. Properties
    /// annotated nullable (`string?`, `int?`) may be absent; computed properties are not stored.
    and private classShape (t: Type) : Shape =
        let layout = layoutOf t
        let byConstructor = layout.ByConstructor
        let settable = layout.Settable
        let constructor = layout.Constructor

        let stored = Array.append byConstructor settable
        let nullability = NullabilityInfoContext()

        let fieldShape (index: int) (property: PropertyInfo) =
            let shape = shapeOf property.PropertyType

            if index < layout.Parameters.Length && layout.Parameters[index].HasDefaultValue then
                let parameter = layout.Parameters[index]

                let fallback =
                    match parameter.DefaultValue with
                    | null when property.PropertyType.IsValueType -> Activator.CreateInstance property.PropertyType
                    | value -> value

                { shape with
                    WhenMissing = Some fallback
                }
            elif
                shape.WhenMissing.IsNone
                && not property.PropertyType.IsValueType
                && nullability.Create(property).ReadState = NullabilityState.Nullable
            then
                { shape with WhenMissing = Some null }
            else
                shape

        let fields =
            {
                Owner = t.Name
                Names = stored |> Array.map (fun property -> Json.camelCase property.Name)
                Shapes = stored |> Array.mapi fieldShape
            }

        let construct (values: obj[]) =
            let instance =
                match constructor with
                | Some constructor -> constructor.Invoke(Array.sub values 0 byConstructor.Length)
                | None -> Activator.CreateInstance t

            settable
            |> Array.iteri (fun index property -> property.SetValue(instance, values[byConstructor.Length + index]))

            instance

        {
            Write =
                fun writer value ->
                    writer.WriteStartObject()
                    fields.Write writer (stored |> Array.map (fun property -> property.GetValue value))
                    writer.WriteEndObject()
            Read = fun decoding path json -> fields.Read decoding path json |> Result.map construct
            WhenMissing = None
        }

    and private serializerShape (t: Type) : Shape =
        let options =
            JsonSerializerOptions(JsonSerializerDefaults.Web, NumberHandling = Serialization.JsonNumberHandling.Strict)

        let laxOptions =
            JsonSerializerOptions(
                JsonSerializerDefaults.Web,
                NumberHandling = Serialization.JsonNumberHandling.AllowReadingFromString
            )

        {
            Write = fun writer value -> JsonSerializer.Serialize(writer, value, t, options)
            Read =
                fun decoding path json ->
                    try
                        Ok(json.Deserialize(t, (if decoding = Lax then laxOptions else options)))
                    with :? JsonException as error ->
                        let inner =
                            match error.Path with
                            | null
                            | "$" -> path
                            | jsonPath -> path + jsonPath.TrimStart '$'

                        Scalars.fail inner $"expected {t.Name}: {error.Message}"
            WhenMissing = None
        }

    /// The named fields of one union case: a case holding a single record is stored as that record's
    /// fields; any other case as its own named fields.
    let caseFields
        (case: UnionCaseInfo)
        : (Utf8JsonWriter -> obj[] -> unit) * (Decoding -> JsonElement -> Result<obj[], FieldError list>) =
        match case.GetFields() with
        | [| single |] when single.Name = "Item" && FSharpType.IsRecord(single.PropertyType, true) ->
            let record = shapeOf single.PropertyType

            (fun writer values -> record.Write writer values[0]),
            (fun decoding json -> record.Read decoding "" json |> Result.map (fun value -> [| value |]))
        | properties ->
            let fields = fieldsOf case.Name properties

            (fun writer values ->
                writer.WriteStartObject()
                fields.Write writer values
                writer.WriteEndObject()),
            (fun decoding json -> fields.Read decoding "" json)
