namespace Sourced.CSharp

open System
open System.Collections.Generic
open System.Runtime.InteropServices
open System.Threading
open System.Threading.Tasks
open Sourced

/// Background workers without a generic host (console apps, tests): they run the reactors until stopped.
/// Failures follow `onFailure` (stop the group, by default). In a host, use `services.AddSourced(...)` instead.
[<Sealed>]
type Workers
    (
        store: EventStore,
        reactors: IEnumerable<ReactorDefinition>,
        [<Optional; DefaultParameterValue(2)>] workers: int,
        [<Optional>] onFailure: ErrorPolicy
    ) =
    do
        if isNull store then
            nullArg (nameof store)

        if isNull reactors then
            nullArg (nameof reactors)

    let runtime =
        Runtime(
            store.Store,
            reactors |> Seq.map (fun definition -> definition.Reactor) |> List.ofSeq,
            { RuntimeOptions.defaults with
                Workers = workers
                ErrorStrategy =
                    match onFailure with
                    | null -> ErrorStrategy.stop
                    | policy -> policy.Strategy
            }
        )

    /// Registers the consumer groups and starts the worker loops.
    member _.StartAsync([<Optional>] ct: CancellationToken) : Task = runtime.StartAsync ct

    /// Stops taking batches and waits for the batches in flight to finish (until `ct` is cancelled).
    member _.StopAsync([<Optional>] ct: CancellationToken) : Task = runtime.StopAsync ct

    /// Runs until Ctrl+C or SIGTERM, then stops gracefully.
    member _.RunAsync() : Task =
        Supervisor.runAsync runtime (TimeSpan.FromSeconds 30.0)

    interface IAsyncDisposable with
        member _.DisposeAsync() =
            ValueTask(runtime.StopAsync CancellationToken.None)
