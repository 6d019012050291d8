namespace Sourced

open System

/// One problem with one field of a message payload (`items[2].price`: "expected an integer, got \"x\"").
type FieldError =
    {
        /// The path of the field in the payload, e.g. `items[2].price`; empty for the payload as a whole.
        Field: string
        /// What is wrong with it, e.g. `expected an integer, got "x"`.
        Problem: string
    }

    override error.ToString() =
        if String.IsNullOrEmpty error.Field then
            error.Problem
        else
            error.Field + ": " + error.Problem

/// Making field errors.
[<RequireQualifiedAccess>]
module FieldError =
    /// The error for one field (a path) and its problem, e.g. in `Actor.validates` rules.
    let create (field: string) (problem: string) : FieldError = { Field = field; Problem = problem }

/// A payload could not be decoded, or a command failed validation. Nothing was stored.
type InvalidMessageException(messageType: string, streamId: string, errors: FieldError list) =
    inherit
        Exception(
            let where =
                if String.IsNullOrEmpty streamId then
                    ""
                else
                    $" for stream '{streamId}'"

            let problems = errors |> List.map string |> String.concat "; "
            $"Invalid '{messageType}' message{where}: {problems}"
        )

    /// The type of the message that was invalid.
    member _.MessageType = messageType
    /// The stream it was for; empty when it had none yet.
    member _.StreamId = streamId
    /// Every problem found, by field.
    member _.Errors: Collections.Generic.IReadOnlyList<FieldError> = errors

/// A message type that no codec in play knows about.
type UnknownMessageTypeException(messageType: string, streamId: string, knownTypes: string list) =
    inherit
        Exception(
            let known = knownTypes |> String.concat ", "
            $"Unknown message type '{messageType}' in stream '{streamId}' (known types: {known})"
        )

    /// The type that no codec knows.
    member _.MessageType = messageType
    /// The stream the message is in.
    member _.StreamId = streamId
    /// The types the codecs in play do know.
    member _.KnownTypes: Collections.Generic.IReadOnlyList<string> = knownTypes

/// An optimistic append lost: the stream had moved on since the writer read it.
type ConcurrencyConflictException(streamId: string, expectedSeq: int64, actualSeq: int64) =
    inherit
        Exception(
            $"Concurrent write to stream '{streamId}': expected it at seq {expectedSeq}, but it is at seq {actualSeq}"
        )

    /// The stream that was written to.
    member _.StreamId = streamId
    /// The seq the writer expected the stream to be at.
    member _.ExpectedSeq = expectedSeq
    /// The seq the stream was at.
    member _.ActualSeq = actualSeq

/// A worker holds a claim on the stream a transaction wants to process for a group: try again shortly.
type StreamBusyException(group: string, streamId: string) =
    inherit Exception($"Stream '{streamId}' is being processed by a worker of group '{group}'; try again shortly.")
    /// The consumer group whose worker holds the claim.
    member _.Group = group
    /// The stream it is processing.
    member _.StreamId = streamId

/// A decision refused a command (raised through `reject` in `decide`); no events were produced. Raised out of a
/// decision, it names the command's type and stream: `carts.add_item on cart-2 rejected: the cart is closed`.
type CommandRejectedException(reason: string, commandType: string, streamId: string) =
    inherit
        Exception(
            if String.IsNullOrEmpty commandType then
                reason
            else
                $"{commandType} on {streamId} rejected: {reason}"
        )

    /// A refusal not yet tied to a command (what `reject` raises inside `decide`).
    new(reason: string) = CommandRejectedException(reason, null, null)

    /// Why the command was refused: the text given to `reject`.
    member _.Reason = reason

    /// The type of the refused command (such as `carts.add_item`); null until the decision names it.
    member _.CommandType = commandType

    /// The stream the refused command was for; null until the decision names it.
    member _.StreamId = streamId

/// `reject`, in scope wherever `Sourced` is open.
[<AutoOpen>]
module Rejection =
    /// Refuses the command being decided: `| AddItem _ when cart.Closed -> reject "cart is closed"`.
    let reject (reason: string) : 'T = raise (CommandRejectedException reason)

    /// Runs a decision of the command `command`, naming the command's type and stream in a refusal it raises.
    let internal deciding (command: Message) (decide: unit -> 'T) : 'T =
        try
            decide ()
        with :? CommandRejectedException as rejected when isNull rejected.CommandType ->
            raise (CommandRejectedException(rejected.Reason, command.Type, command.StreamId))
