/// Timing helpers: repeat, keep the median, and report ratios to a baseline measured in the same run.
module Sourced.Benchmarks.Measure

open System
open System.Diagnostics
open System.Threading.Tasks

/// One measured figure: what, how many units per second, and against which baseline.
type Figure =
    {
        Scenario: string
        Name: string
        Unit: string
        PerSecond: float
        Baseline: string option
        Ratio: float option
    }

/// Runs `work` `repeats` times after one warm-up and returns the median of units per second.
let medianRate (repeats: int) (units: int) (work: unit -> Task) : Task<float> =
    task {
        do! work ()
        let rates = ResizeArray<float>()

        for _ in 1..repeats do
            GC.Collect()
            let watch = Stopwatch.StartNew()
            do! work ()
            watch.Stop()
            rates.Add(float units / watch.Elapsed.TotalSeconds)

        let sorted = rates |> Seq.sort |> Array.ofSeq
        return sorted[sorted.Length / 2]
    }

let figure scenario name unitName rate =
    {
        Scenario = scenario
        Name = name
        Unit = unitName
        PerSecond = rate
        Baseline = None
        Ratio = None
    }

let against (baseline: Figure) (figure: Figure) =
    { figure with
        Baseline = Some baseline.Name
        Ratio = Some(figure.PerSecond / baseline.PerSecond)
    }
