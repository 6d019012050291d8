namespace Sourced

open System
open System.Runtime.InteropServices
open System.Threading
open System.Threading.Tasks

/// Runs a runtime in a console app: workers and housekeeper until Ctrl+C or SIGTERM, then a graceful stop
/// that finishes the batches in flight.
[<RequireQualifiedAccess>]
module Supervisor =

    /// Runs until `ct` is cancelled, then stops gracefully (giving in-flight batches `grace` to finish).
    let runUntilAsync (runtime: Runtime) (grace: TimeSpan) (ct: CancellationToken) : Task =
        task {
            do! runtime.StartAsync CancellationToken.None

            try
                do! Task.Delay(Timeout.InfiniteTimeSpan, ct)
            with :? OperationCanceledException ->
                ()

            use deadline = new CancellationTokenSource(grace)
            do! runtime.StopAsync deadline.Token
        }

    /// Runs until the process gets Ctrl+C (SIGINT) or SIGTERM, then stops gracefully.
    let runAsync (runtime: Runtime) (grace: TimeSpan) : Task =
        task {
            use stop = new CancellationTokenSource()

            let onSignal (context: PosixSignalContext) =
                context.Cancel <- true
                stop.Cancel()

            use _ = PosixSignalRegistration.Create(PosixSignal.SIGINT, onSignal)
            use _ = PosixSignalRegistration.Create(PosixSignal.SIGTERM, onSignal)
            do! runUntilAsync runtime grace stop.Token
        }
