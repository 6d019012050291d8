namespace Sourced

// How the shapes build and read the collections and optional values that payloads hold, without generics at runtime.

open System.Collections.Generic

type internal ICollection =
    abstract Build: obj[] -> obj
    abstract Items: obj -> obj seq

type internal ListCollection<'a>() =
    interface ICollection with
        member _.Build items =
            items |> Array.map unbox<'a> |> List.ofArray |> box

        member _.Items value = unbox<'a list> value |> Seq.map box

type internal ArrayCollection<'a>() =
    interface ICollection with
        member _.Build items = items |> Array.map unbox<'a> |> box
        member _.Items value = unbox<'a[]> value |> Seq.map box

type internal SetCollection<'a when 'a: comparison>() =
    interface ICollection with
        member _.Build items =
            items |> Array.map unbox<'a> |> Set.ofArray |> box

        member _.Items value = unbox<Set<'a>> value |> Seq.map box

/// Entries of a `Map<string, 'v>` travel as boxed `string * obj` pairs.
type internal MapCollection<'v>() =
    interface ICollection with
        member _.Build items =
            items
            |> Array.map (fun item ->
                let key, value = unbox<string * obj> item
                key, unbox<'v> value)
            |> Map.ofArray
            |> box

        member _.Items value =
            unbox<Map<string, 'v>> value
            |> Seq.map (fun pair -> box (pair.Key, box pair.Value))

type internal IOptional =
    abstract Some: obj -> obj
    abstract TryValue: obj -> obj option

type internal OptionOf<'a>() =
    interface IOptional with
        member _.Some value = box (Some(unbox<'a> value))

        member _.TryValue value =
            match unbox<'a option> value with
            | Some inner -> Some(box inner)
            | None -> None

/// `List<'a>`, which also stands for the read-only and mutable list and sequence interfaces C# classes declare.
type internal MutableListCollection<'a>() =
    interface ICollection with
        member _.Build items =
            List<'a>(items |> Seq.map unbox<'a>) |> box

        member _.Items value =
            unbox<IEnumerable<'a>> value |> Seq.map box

/// `Dictionary<string, 'v>` (also for the dictionary interfaces); entries travel like the Map's.
type internal DictionaryCollection<'v>() =
    interface ICollection with
        member _.Build items =
            let dictionary = Dictionary<string, 'v>()

            for item in items do
                let key, value = unbox<string * obj> item
                dictionary[key] <- unbox<'v> value

            box dictionary

        member _.Items value =
            unbox<IEnumerable<KeyValuePair<string, 'v>>> value
            |> Seq.map (fun pair -> box (pair.Key, box pair.Value))
