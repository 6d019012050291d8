namespace Sourced.Hosting

open System
open System.Collections.Generic
open System.Threading
open System.Threading.Tasks
open Microsoft.Extensions.Diagnostics.HealthChecks
open Microsoft.Extensions.Options
open Sourced

/// The health of this host's consumer groups, read from the store: the registration's failure status
/// (Unhealthy unless set otherwise) when the store cannot be reached in time or a group is stopped; Degraded
/// when a group waits for a retry or has more messages waiting than `LagDegradedAbove`; Healthy otherwise.
[<Sealed>]
type internal SourcedHealthCheck(store: IMessageStore, reactors: SourcedReactors, options: IOptions<SourcedOptions>) =

    let figures (stats: GroupStats) : obj =
        let entries: (string * obj) list =
            [
                "status",
                (if stats.Status = GroupStatus.Active then
                     "active"
                 else
                     "stopped")
                "lag", stats.Lag
                "pendingStreams", stats.PendingStreams
                "streams", stats.Streams
                "retryCount", stats.RetryCount
                match stats.Error with
                | Some error -> "error", $"{error.ExceptionType}: {error.Error}"
                | None -> ()
                match stats.Reason with
                | Some reason -> "reason", reason
                | None -> ()
                match stats.RetryAt with
                | Some at -> "retryAt", at
                | None -> ()
            ]

        Dictionary<string, obj>(entries |> Seq.map KeyValuePair) :> IReadOnlyDictionary<string, obj>
        |> box

    let stoppedReason (stats: GroupStats) =
        match stats.Error, stats.Reason with
        | Some error, _ -> $"'{stats.Id}' is stopped: {error.ExceptionType}: {error.Error}"
        | None, Some reason -> $"'{stats.Id}' is stopped: {reason}"
        | None, None -> $"'{stats.Id}' is stopped"

    let judge (failureStatus: HealthStatus) (settings: SourcedOptions) (groups: GroupStats list) =
        let data =
            groups
            |> List.map (fun stats -> KeyValuePair(stats.Id, figures stats))
            |> Dictionary

        let stopped =
            groups |> List.filter (fun stats -> stats.Status = GroupStatus.Stopped)

        let lagging =
            groups |> List.filter (fun stats -> stats.Lag > settings.LagDegradedAbove)

        let retrying = groups |> List.filter (fun stats -> stats.RetryAt.IsSome)

        let names (some: GroupStats list) =
            some |> List.map (fun stats -> $"'{stats.Id}'") |> String.concat ", "

        if not stopped.IsEmpty then
            let reasons = stopped |> List.map stoppedReason |> String.concat "; "
            HealthCheckResult(failureStatus, $"Consumer groups stopped: {reasons}.", null, data)
        elif not retrying.IsEmpty then
            HealthCheckResult.Degraded(
                $"Consumer groups waiting to retry after a failure: {names retrying}.",
                null,
                data
            )
        elif not lagging.IsEmpty then
            HealthCheckResult.Degraded(
                $"Consumer groups with more than {settings.LagDegradedAbove} messages waiting: {names lagging}.",
                null,
                data
            )
        else
            HealthCheckResult.Healthy($"{groups.Length} consumer groups active.", data)

    interface IHealthCheck with
        member _.CheckHealthAsync(context: HealthCheckContext, ct: CancellationToken) : Task<HealthCheckResult> =
            task {
                let settings = options.Value
                let mine = reactors.All |> List.map (fun reactor -> reactor.Group) |> set
                use timeout = CancellationTokenSource.CreateLinkedTokenSource ct
                timeout.CancelAfter settings.HealthTimeout

                try
                    // NOTE: WaitAsync too, so that a store that ignores cancellation cannot hold the check.
                    let! stats =
                        store.GroupStatsAsync(timeout.Token).WaitAsync(settings.HealthTimeout, ct)

                    let groups = stats |> List.filter (fun stats -> mine.Contains stats.Id)
                    return judge context.Registration.FailureStatus settings groups
                with
                | :? OperationCanceledException when ct.IsCancellationRequested ->
                    return raise (OperationCanceledException ct)
                | :? TimeoutException
                | :? OperationCanceledException ->
                    return
                        HealthCheckResult(
                            context.Registration.FailureStatus,
                            $"The message store did not answer within {settings.HealthTimeout}."
                        )
                | error ->
                    return
                        HealthCheckResult(
                            context.Registration.FailureStatus,
                            $"The message store could not be reached: {error.Message}",
                            error
                        )
            }
