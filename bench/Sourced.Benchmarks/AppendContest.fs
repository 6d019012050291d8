/// How the append scenario's contenders take turns on a noisy machine, and how their rates become figures: medians
/// over rounds, and ratios that are medians of per-round ratios.
module Sourced.Benchmarks.AppendContest

open System
open System.Diagnostics
open System.Threading.Tasks
open Sourced.Benchmarks.Measure
open Sourced.Benchmarks.RawAppend

/// One way of appending, into a schema of its own; `Count` tells how many events that schema holds.
type Contender =
    {
        Name: string
        Append: Append -> Task
        Count: unit -> Task<int64>
    }

/// The work of one round: appends made before the clock starts (creating the streams that the measured appends
/// expect, say), then each writer's appends, on streams of its own; the writers run concurrently.
type Round =
    {
        Setup: Append list
        Writers: Append list list
    }

let private events (appends: Append seq) =
    appends |> Seq.sumBy (fun append -> int64 append.Messages.Length)

/// Runs each writer's appends one after another, the writers concurrently.
let private runWriters (contender: Contender) (writers: Append list list) : Task =
    task {
        let runOne (appends: Append list) : Task =
            task {
                for append in appends do
                    do! contender.Append append
            }

        do! Task.WhenAll(writers |> List.map runOne)
    }

/// Fails unless every contender's schema holds the events it was given.
let private checkStored (contenders: Contender array) (written: int64 array) : Task =
    task {
        for index in 0 .. contenders.Length - 1 do
            let! stored = contenders[index].Count()

            if stored <> written[index] then
                invalidOp $"'{contenders[index].Name}' stored {stored} events, not the {written[index]} it appended."
    }

/// One warm-up round, then `rounds` rounds. In each, every contender gets the same fresh workload, and they take
/// turns every `block` appends of each writer, starting with a different contender each turn: drift on a noisy
/// machine (other processes, the disk's fsync latency) then hits every contender alike. Gives each contender's
/// rate per round (events per second of its own time), after checking that every event was stored.
let contest (rounds: int) (block: int) (contenders: Contender list) (work: string -> Round) : Task<float list list> =
    task {
        let contenders = Array.ofList contenders
        let rates = contenders |> Array.map (fun _ -> ResizeArray<float>())
        let written = Array.zeroCreate<int64> contenders.Length

        for round in 0..rounds do
            let works = contenders |> Array.map (fun _ -> work $"r{round}")

            for index in 0 .. contenders.Length - 1 do
                for append in works[index].Setup do
                    do! contenders[index].Append append

                written[index] <- written[index] + events works[index].Setup

            let turns =
                works
                |> Array.map (fun work -> work.Writers |> List.map (List.chunkBySize block >> Array.ofList))

            let count = turns[0] |> List.map Array.length |> List.max
            let elapsed = Array.zeroCreate<TimeSpan> contenders.Length
            GC.Collect()

            for turn in 0 .. count - 1 do
                for offset in 0 .. contenders.Length - 1 do
                    let index = (round + turn + offset) % contenders.Length

                    let chunks =
                        turns[index]
                        |> List.map (fun chunks -> if turn < chunks.Length then chunks[turn] else [])

                    let started = Stopwatch.GetTimestamp()
                    do! runWriters contenders[index] chunks
                    elapsed[index] <- elapsed[index] + Stopwatch.GetElapsedTime started

            for index in 0 .. contenders.Length - 1 do
                let measured = events (List.concat works[index].Writers)
                written[index] <- written[index] + measured

                if round > 0 then
                    rates[index].Add(float measured / elapsed[index].TotalSeconds)

        do! checkStored contenders written
        return [ for rate in rates -> List.ofSeq rate ]
    }

/// Each contender's figure: its median rate, and its ratio to the baseline's (the median of the per-round ratios).
let figures (scenario: string) (contenders: Contender list) (rates: float list list) (baseline: int) : Figure list =
    let baselineFigure =
        figure scenario (contenders[baseline].Name + " (baseline)") "events/s" (median rates[baseline])

    List.mapi2
        (fun index (contender: Contender) (samples: float list) ->
            if index = baseline then
                baselineFigure
            else
                figure scenario contender.Name "events/s" (median samples)
                |> againstPaired baselineFigure rates[baseline] samples)
        contenders
        rates

/// A second figure for contender `index`, `name`d, with its ratio to contender `other` (no baseline suffix).
let versus
    (scenario: string)
    (name: string)
    (contenders: Contender list)
    (rates: float list list)
    (index: int)
    (other: int)
    : Figure =
    let otherFigure =
        figure scenario contenders[other].Name "events/s" (median rates[other])

    figure scenario name "events/s" (median rates[index])
    |> againstPaired otherFigure rates[other] rates[index]
