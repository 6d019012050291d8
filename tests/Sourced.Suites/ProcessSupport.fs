/// Starting test worker processes, reading what they report, and signalling them.
module Sourced.Tests.ProcessSupport

open System
open System.Collections.Concurrent
open System.Diagnostics
open System.IO
open System.Runtime.InteropServices
open System.Threading
open System.Threading.Tasks
open Expecto
open Sourced.Tests.Support

[<DllImport("libc", SetLastError = true)>]
extern int kill(int pid, int signal)

let SIGTERM = 15

let SIGKILL = 9

/// A running Sourced.TestWorker process (its dll must sit next to the test program: reference the project)
/// and the lines it has printed. `environment` adds variables to its environment.
type Worker(arguments: string, environment: (string * string) list) =
    let lines = ConcurrentQueue<string>()
    let printed = new SemaphoreSlim(0)

    let dll = Path.Combine(AppContext.BaseDirectory, "Sourced.TestWorker.dll")

    let start =
        ProcessStartInfo(
            "dotnet",
            $"\"{dll}\" {arguments}",
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false
        )

    do
        for name, value in environment do
            start.Environment[name] <- value

    let proc = new Process(StartInfo = start)

    do
        proc.OutputDataReceived.Add(fun line ->
            if not (isNull line.Data) then
                lines.Enqueue line.Data
                printed.Release() |> ignore)

        proc.ErrorDataReceived.Add(fun line ->
            if not (isNull line.Data) then
                lines.Enqueue("stderr: " + line.Data)
                printed.Release() |> ignore)

        proc.Start() |> ignore
        proc.BeginOutputReadLine()
        proc.BeginErrorReadLine()

    new(arguments: string) = new Worker(arguments, [])

    member _.Lines = List.ofSeq lines
    member _.Process = proc

    /// Waits until the process has printed `line`, checking each time it prints something.
    member worker.WaitForLineAsync(line: string, timeout: TimeSpan) : Task =
        task {
            let deadline = DateTime.UtcNow + timeout

            while not (lines |> Seq.contains line) do
                let remaining = deadline - DateTime.UtcNow

                if remaining <= TimeSpan.Zero || proc.HasExited && not (lines |> Seq.contains line) then
                    failtestf "the worker did not print %A; it printed:\n%s" line (String.Join("\n", worker.Lines))

                let! _ = printed.WaitAsync(min remaining (TimeSpan.FromMilliseconds 200.0))
                ()
        }

    /// Waits until `condition` holds, checking it again each time the process prints something (and at least
    /// every `recheck`, for conditions that other processes change).
    member worker.WaitUntilAsync
        (what: string, condition: unit -> Task<bool>, recheck: TimeSpan, timeout: TimeSpan)
        : Task =
        waitUntil
            printed
            recheck
            timeout
            (fun () ->
                $"timed out waiting until {what}; the worker printed:\n"
                + String.Join("\n", worker.Lines))
            condition

    member _.Signal(signal: int) =
        if kill (proc.Id, signal) <> 0 then
            failtestf "could not signal the worker (errno %d)" (Marshal.GetLastPInvokeError())

    member worker.WaitForExitAsync(timeout: TimeSpan) : Task<int> =
        task {
            use cancel = new CancellationTokenSource(timeout)

            try
                do! proc.WaitForExitAsync(cancel.Token)
            with :? OperationCanceledException ->
                proc.Kill true
                failtestf "the worker did not exit in time; it printed:\n%s" (String.Join("\n", worker.Lines))

            proc.WaitForExit()
            return proc.ExitCode
        }

    interface IDisposable with
        member _.Dispose() =
            if not proc.HasExited then
                proc.Kill true

            proc.Dispose()
