/// `dotnet run -c Release --project bench/Sourced.Benchmarks -- [scenario...] [--quick]`: runs the scenarios,
/// prints a markdown table and writes the same figures to bench-results.json.
module Sourced.Benchmarks.Program

open System
open System.IO
open System.Text.Json
open System.Threading.Tasks
open Sourced.Benchmarks.Measure

let scenarios: (string * (bool -> Task<Figure list>)) list =
    [ "in-memory", InMemory.run ]

let table (figures: Figure list) =
    let lines =
        [
            yield "| scenario | measure | rate | unit | baseline | ratio |"
            yield "| --- | --- | ---: | --- | --- | ---: |"

            for figure in figures ->
                let ratio = figure.Ratio |> Option.map (sprintf "%.2f") |> Option.defaultValue ""
                let baseline = figure.Baseline |> Option.defaultValue ""
                $"| {figure.Scenario} | {figure.Name} | {figure.PerSecond:N0} | {figure.Unit} | {baseline} | {ratio} |"
        ]

    String.Join(Environment.NewLine, lines)

[<EntryPoint>]
let main argv =
    let quick = argv |> Array.contains "--quick"

    let wanted =
        argv
        |> Array.filter (fun argument -> not (argument.StartsWith "--"))
        |> Set.ofArray

    let chosen =
        scenarios
        |> List.filter (fun (name, _) -> wanted.IsEmpty || wanted.Contains name)

    match
        wanted
        |> Seq.tryFind (fun name -> not (scenarios |> List.exists (fun (known, _) -> known = name)))
    with
    | Some unknown ->
        let known = scenarios |> List.map fst |> String.concat ", "
        eprintfn "Unknown scenario '%s' (known: %s)" unknown known
        2
    | None ->
        let figures =
            [
                for name, run in chosen do
                    eprintfn "running %s%s..." name (if quick then " (quick)" else "")
                    yield! run(quick).GetAwaiter().GetResult()
            ]

        printfn "%s" (table figures)
        printfn ""

        printfn
            "%d cores, %s, .NET %s"
            Environment.ProcessorCount
            Environment.OSVersion.VersionString
            (string Environment.Version)

        let json =
            JsonSerializer.Serialize(
                figures
                |> List.map (fun figure ->
                    {|
                        scenario = figure.Scenario
                        name = figure.Name
                        unit = figure.Unit
                        perSecond = figure.PerSecond
                        baseline = figure.Baseline |> Option.toObj
                        ratio = figure.Ratio |> Option.toNullable
                    |}),
                JsonSerializerOptions(WriteIndented = true)
            )

        File.WriteAllText("bench-results.json", json)
        0
