namespace Sourced.Hosting

open System
open Microsoft.Extensions.Logging
open Sourced

/// Logs what a runtime reports (`RuntimeEvent`), each kind with its stable event id (`SourcedEventIds`).
[<RequireQualifiedAccess>]
module internal RuntimeLog =

    /// The category of the runtime's log messages.
    [<Literal>]
    let Category = "Sourced.Runtime"

    let private id (number: int) (name: string) = EventId(number, name)

    let private started =
        LoggerMessage.Define<int, string>(
            LogLevel.Information,
            id SourcedEventIds.RuntimeStarted "RuntimeStarted",
            "Sourced runtime started {WorkerCount} workers: {Workers}"
        )

    let private stopping =
        LoggerMessage.Define(
            LogLevel.Information,
            id SourcedEventIds.RuntimeStopping "RuntimeStopping",
            "Sourced runtime stopping: batches in flight finish, no new batch is taken"
        )

    let private stopped =
        LoggerMessage.Define(
            LogLevel.Information,
            id SourcedEventIds.RuntimeStopped "RuntimeStopped",
            "Sourced runtime stopped"
        )

    let private batchCompleted =
        LoggerMessage.Define<string, int, string>(
            LogLevel.Debug,
            id SourcedEventIds.BatchCompleted "BatchCompleted",
            "Consumer group {Group} processed {MessageCount} messages of stream {StreamId}"
        )

    let private conflicted =
        LoggerMessage.Define<string, string>(
            LogLevel.Debug,
            id SourcedEventIds.Conflicted "Conflicted",
            "Consumer group {Group} met a concurrent append on stream {StreamId}; the batch runs again"
        )

    let private claimLost =
        LoggerMessage.Define<string, string>(
            LogLevel.Warning,
            id SourcedEventIds.ClaimLost "ClaimLost",
            "Consumer group {Group} lost its claim on stream {StreamId} before completing it; another worker redoes the batch"
        )

    let private retrying =
        LoggerMessage.Define<string, string, string, int, DateTimeOffset>(
            LogLevel.Warning,
            id SourcedEventIds.Retrying "Retrying",
            "Consumer group {Group} failed on {MessageType} of stream {StreamId} (attempt {Attempt}); retrying at {RetryAt}"
        )

    let private groupStopped =
        LoggerMessage.Define<string, string, string, int>(
            LogLevel.Error,
            id SourcedEventIds.GroupStopped "GroupStopped",
            "Consumer group {Group} stopped after failing on {MessageType} of stream {StreamId} (attempt {Attempt})"
        )

    let private promoted =
        LoggerMessage.Define<int>(
            LogLevel.Debug,
            id SourcedEventIds.Promoted "Promoted",
            "Promoted {MessageCount} scheduled messages"
        )

    let private reclaimed =
        LoggerMessage.Define<int>(
            LogLevel.Warning,
            id SourcedEventIds.Reclaimed "Reclaimed",
            "Freed {ClaimCount} claims of silent workers"
        )

    let private trouble =
        LoggerMessage.Define<string>(
            LogLevel.Warning,
            id SourcedEventIds.Trouble "Trouble",
            "Sourced runtime trouble while {Operation}; it carries on"
        )

    /// Logs one runtime event.
    let write (logger: ILogger) (event: RuntimeEvent) : unit =
        match event with
        | RuntimeEvent.Started workers -> started.Invoke(logger, workers.Length, String.Join(", ", workers), null)
        | RuntimeEvent.Stopping -> stopping.Invoke(logger, null)
        | RuntimeEvent.Stopped -> stopped.Invoke(logger, null)
        | RuntimeEvent.BatchCompleted(group, streamId, count) ->
            batchCompleted.Invoke(logger, group, count, streamId, null)
        | RuntimeEvent.Conflicted(group, streamId) -> conflicted.Invoke(logger, group, streamId, null)
        | RuntimeEvent.ClaimLost(group, streamId) -> claimLost.Invoke(logger, group, streamId, null)
        | RuntimeEvent.Retrying(failure, at) ->
            retrying.Invoke(
                logger,
                failure.Group,
                failure.Message.Type,
                failure.Message.StreamId,
                failure.Attempt,
                at,
                failure.Error
            )
        | RuntimeEvent.GroupStopped failure ->
            groupStopped.Invoke(
                logger,
                failure.Group,
                failure.Message.Type,
                failure.Message.StreamId,
                failure.Attempt,
                failure.Error
            )
        | RuntimeEvent.Promoted count -> promoted.Invoke(logger, count, null)
        | RuntimeEvent.Reclaimed count -> reclaimed.Invoke(logger, count, null)
        | RuntimeEvent.Trouble(operation, error) -> trouble.Invoke(logger, operation, error)
