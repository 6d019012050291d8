namespace Sourced

open System

/// A reactor failure handed to an error strategy.
[<NoEquality; NoComparison>]
type Failure =
    {
        /// The consumer group whose reactor failed.
        Group: string
        /// The message that failed (for a failing action: the first message of its batch).
        Message: Message
        /// What the reactor or its actions raised.
        Error: exn
        /// 1 for the group's first failure since it last succeeded, then 2, 3, ...
        Attempt: int
        /// When it failed, by the store's clock.
        At: DateTimeOffset
    }

/// How a consumer group recovers from failures; `OnRetry` and `OnStop` are told what was decided.
[<NoEquality; NoComparison>]
type ErrorStrategy =
    {
        /// For each failure: retry at a time, or stop the group.
        Decide: Failure -> Recovery
        /// Told of each retry decided, and its time.
        OnRetry: Failure -> DateTimeOffset -> unit
        /// Told when the group is stopped.
        OnStop: Failure -> unit
    }

/// Ready-made strategies (`stop`, `retry`, `retryExponentially`) and ways to build and observe your own.
[<RequireQualifiedAccess>]
module ErrorStrategy =

    /// Any decision of your own: `ErrorStrategy.custom (fun failure -> match failure.Error with :? HttpRequestException -> ...)`.
    let custom (decide: Failure -> Recovery) : ErrorStrategy =
        {
            Decide = decide
            OnRetry = fun _ _ -> ()
            OnStop = ignore
        }

    /// The default: stop the group at the first failure, recording the error and the message.
    let stop: ErrorStrategy = custom (fun _ -> Recovery.Stop)

    /// Retries `times` times, waiting `backoff after attempt` before each attempt, then stops.
    let retryWith (times: int) (after: TimeSpan) (backoff: TimeSpan -> int -> TimeSpan) : ErrorStrategy =
        if times < 0 then
            invalidArg (nameof times) "Retries cannot be negative."

        custom (fun failure ->
            if failure.Attempt <= times then
                Recovery.RetryAt(failure.At + backoff after failure.Attempt)
            else
                Recovery.Stop)

    /// Retries `times` times after `after`, `after × 2`, `after × 3`, ... then stops.
    let retry (times: int) (after: TimeSpan) : ErrorStrategy =
        retryWith times after (fun after attempt -> after * float attempt)

    /// Retries `times` times after `after`, `after × 2`, `after × 4`, ... then stops.
    let retryExponentially (times: int) (after: TimeSpan) : ErrorStrategy =
        retryWith times after (fun after attempt -> after * Math.Pow(2.0, float (attempt - 1)))

    /// Also calls `callback` with the failure and the retry time whenever a retry is scheduled.
    let onRetry (callback: Failure -> DateTimeOffset -> unit) (strategy: ErrorStrategy) : ErrorStrategy =
        { strategy with
            OnRetry =
                fun failure at ->
                    strategy.OnRetry failure at
                    callback failure at
        }

    /// Also calls `callback` with the failure when the group is stopped.
    let onStop (callback: Failure -> unit) (strategy: ErrorStrategy) : ErrorStrategy =
        { strategy with
            OnStop =
                fun failure ->
                    strategy.OnStop failure
                    callback failure
        }

    /// The error recorded on the group for a failure.
    let record (failure: Failure) : GroupError =
        {
            Error = failure.Error.Message
            ExceptionType = failure.Error.GetType().FullName
            Detail = string failure.Error
            Message = Some failure.Message
            At = failure.At
        }
