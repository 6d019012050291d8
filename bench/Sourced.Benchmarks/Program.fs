/// `dotnet run -c Release --project bench/Sourced.Benchmarks -- [scenario...] [--quick]`: runs the scenarios,
/// prints a markdown table and writes the same figures to bench-results.json. The postgres scenarios use the server
/// that SOURCED_BENCH_PG names (a connection string), or else start a throwaway durable one.
module Sourced.Benchmarks.Program

open System
open System.IO
open System.Text.Json
open System.Threading.Tasks
open Sourced.Benchmarks.Measure

let scenarios: (string * (bool -> Task<Figure list>)) list =
    [
        "in-memory", InMemory.run
        "append", PostgresAppend.run
        "scale", PostgresScale.run
        "latency", PostgresLatency.run
        "catch-up", CatchUp.run
    ]

let private value (figure: Figure) =
    if figure.LowerIsBetter then
        $"{figure.Value:N2}"
    else
        $"{figure.Value:N0}"

let private target (figure: Figure) =
    match figure.Goal with
    | Some goal when goal.Met -> $"{goal.Text}: met"
    | Some goal -> $"{goal.Text}: **missed**"
    | None -> ""

/// Rates are per second (higher is better); latencies are in ms (lower is better). A ratio is the value over its
/// baseline's, so for a latency a ratio near 1 means "as fast as the baseline".
let table (figures: Figure list) =
    let lines =
        [
            yield "| scenario | measure | value | unit | baseline | ratio | target |"
            yield "| --- | --- | ---: | --- | --- | ---: | --- |"

            for figure in figures ->
                let ratio = figure.Ratio |> Option.map (sprintf "%.2f") |> Option.defaultValue ""
                let baseline = figure.Baseline |> Option.defaultValue ""

                $"| {figure.Scenario} | {figure.Name} | {value figure} | {figure.Unit} | {baseline} | {ratio} | {target figure} |"
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
        // NOTE: a failure must end the program normally, so that the throwaway server is removed on exit.
        try
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

            Postgres.serverDescription () |> Option.iter (printfn "%s")

            let json =
                JsonSerializer.Serialize(
                    figures
                    |> List.map (fun figure ->
                        {|
                            scenario = figure.Scenario
                            name = figure.Name
                            unit = figure.Unit
                            value = figure.Value
                            lowerIsBetter = figure.LowerIsBetter
                            perSecond =
                                if figure.LowerIsBetter then
                                    Nullable()
                                else
                                    Nullable figure.Value
                            baseline = figure.Baseline |> Option.toObj
                            ratio = figure.Ratio |> Option.toNullable
                            target = figure.Goal |> Option.map (fun goal -> goal.Text) |> Option.toObj
                            met = figure.Goal |> Option.map (fun goal -> goal.Met) |> Option.toNullable
                        |}),
                    JsonSerializerOptions(WriteIndented = true)
                )

            File.WriteAllText("bench-results.json", json)
            0
        with error ->
            eprintfn "The benchmark failed: %s" (string error)
            1
