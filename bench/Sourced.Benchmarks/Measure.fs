/// Timing helpers: repeat, keep the median, and report ratios to a baseline measured in the same run.
module Sourced.Benchmarks.Measure

open System
open System.Diagnostics
open System.Threading.Tasks

/// A target a figure should meet, and whether it did.
type Goal = { Text: string; Met: bool }

/// One measured figure: what, its value in `Unit` (a rate, or a latency when `LowerIsBetter`), and how it compares
/// to a baseline measured in the same run (`Ratio` = value / baseline's value).
type Figure =
    {
        Scenario: string
        Name: string
        Unit: string
        Value: float
        LowerIsBetter: bool
        Baseline: string option
        Ratio: float option
        Goal: Goal option
    }

/// The `p`-th percentile (0–100) of `samples`, nearest rank.
let percentile (p: float) (samples: float seq) : float =
    let sorted = samples |> Seq.sort |> Array.ofSeq

    if sorted.Length = 0 then
        invalidArg (nameof samples) "No samples to take a percentile of."

    let rank = int (Math.Ceiling(p / 100.0 * float sorted.Length)) - 1
    sorted[max 0 (min (sorted.Length - 1) rank)]

let median (samples: float seq) : float = percentile 50.0 samples

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

        return median rates
    }

/// Milliseconds that `work` took, and its result.
let timed (work: unit -> Task<'T>) : Task<float * 'T> =
    task {
        let started = Stopwatch.GetTimestamp()
        let! result = work ()
        return Stopwatch.GetElapsedTime(started).TotalMilliseconds, result
    }

/// A rate: higher is better.
let figure scenario name unitName rate =
    {
        Scenario = scenario
        Name = name
        Unit = unitName
        Value = rate
        LowerIsBetter = false
        Baseline = None
        Ratio = None
        Goal = None
    }

/// A latency in milliseconds: lower is better.
let latency scenario name milliseconds =
    { figure scenario name "ms" milliseconds with
        LowerIsBetter = true
    }

let against (baseline: Figure) (figure: Figure) =
    { figure with
        Baseline = Some baseline.Name
        Ratio = Some(figure.Value / baseline.Value)
    }

/// The ratio to a baseline measured in the same rounds, as the median of the per-round ratios (`samples` and
/// `baselineSamples` pair up by round): drift that slows one round slows both sides of its ratio.
let againstPaired (baseline: Figure) (baselineSamples: float seq) (samples: float seq) (figure: Figure) =
    { figure with
        Baseline = Some baseline.Name
        Ratio = Some(median (Seq.map2 (/) samples baselineSamples))
    }

/// Marks whether the figure meets a target (`met` looks at the figure, e.g. at its ratio).
let goal (text: string) (met: Figure -> bool) (figure: Figure) =
    { figure with
        Goal = Some { Text = text; Met = met figure }
    }

let ratioAtLeast (least: float) (figure: Figure) =
    figure.Ratio |> Option.exists (fun ratio -> ratio >= least)

let ratioAtMost (most: float) (figure: Figure) =
    figure.Ratio |> Option.exists (fun ratio -> ratio <= most)
