namespace Sourced.CSharp

open System
open System.ComponentModel
open System.Runtime.InteropServices
open Sourced

/// A reactor failure, as an error policy sees it.
[<Sealed>]
type FailureInfo internal (failure: Failure) =
    /// The consumer group whose reactor failed.
    member _.Group: string = failure.Group
    /// The message that failed (for a failing action: the first message of its batch).
    member _.Message: Envelope = Envelope failure.Message
    /// What the reactor or its actions raised.
    member _.Error: exn = failure.Error
    /// 1 for the group's first failure since it last succeeded, then 2, 3, ...
    member _.Attempt: int = failure.Attempt
    /// When it failed, by the store's clock.
    member _.At: DateTimeOffset = failure.At

/// What a consumer group does when its reactor fails: stop (the default; the error and message are recorded and
/// the group waits for an operator), or retry after a delay. `ErrorPolicy.Retry(3, TimeSpan.FromSeconds(1))`.
[<Sealed; AllowNullLiteral>]
type ErrorPolicy internal (strategy: ErrorStrategy) =

    /// Stops the group at the first failure.
    static member Stop: ErrorPolicy = ErrorPolicy(ErrorStrategy.stop)

    /// Retries `times` times, waiting `after`, then `after × 2`, `× 3`, ... (`× 2`, `× 4`, ... when
    /// `exponentially`), then stops.
    static member Retry(times: int, after: TimeSpan, [<Optional>] exponentially: bool) : ErrorPolicy =
        if exponentially then
            ErrorPolicy(ErrorStrategy.retryExponentially times after)
        else
            ErrorPolicy(ErrorStrategy.retry times after)

    /// Your own decision: the time to retry at, or null to stop.
    static member Custom(decide: Func<FailureInfo, Nullable<DateTimeOffset>>) : ErrorPolicy =
        if isNull decide then
            nullArg (nameof decide)

        ErrorPolicy(
            ErrorStrategy.custom (fun failure ->
                let retryAt = decide.Invoke(FailureInfo failure)

                if retryAt.HasValue then
                    Recovery.RetryAt retryAt.Value
                else
                    Recovery.Stop)
        )

    /// Also tells `callback` about each retry it schedules, and when.
    member _.OnRetry(callback: Action<FailureInfo, DateTimeOffset>) : ErrorPolicy =
        if isNull callback then
            nullArg (nameof callback)

        ErrorPolicy(ErrorStrategy.onRetry (fun failure at -> callback.Invoke(FailureInfo failure, at)) strategy)

    /// Also tells `callback` when it stops the group.
    member _.OnStop(callback: Action<FailureInfo>) : ErrorPolicy =
        if isNull callback then
            nullArg (nameof callback)

        ErrorPolicy(ErrorStrategy.onStop (fun failure -> callback.Invoke(FailureInfo failure)) strategy)

    /// The core strategy, for F# code and the hosting package.
    [<EditorBrowsable(EditorBrowsableState.Never)>]
    member _.Strategy: ErrorStrategy = strategy
