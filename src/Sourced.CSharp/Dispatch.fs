namespace Sourced.CSharp

open System
open Sourced

/// A message sent by a reaction: `Dispatch.Command(new SendAdminEmail(id))` (the reacting actor's own command,
/// to the same stream), `Dispatch.ToActor(Hotels.Actor, new BookHotel(...))` (another actor's, in a new stream),
/// then `.ToStream(id)`, `.After(delay)`, `.WithMetadata(key, value)` as needed.
[<Sealed; AllowNullLiteral>]
type Dispatch internal (inner: Sourced.Dispatch<obj>) =
    member internal _.Inner = inner

    /// A command of the reacting actor, to the stream of the message being reacted to.
    static member Command(command: obj) : Dispatch =
        if isNull command then
            nullArg (nameof command)

        Dispatch(Sourced.Dispatch.command command)

    /// A command of another actor, in a new stream named after it (`<name>-<uuid>`) unless redirected.
    static member ToActor(actor: ActorDefinition, command: obj) : Dispatch =
        if isNull actor then
            nullArg (nameof actor)

        if isNull command then
            nullArg (nameof command)

        { Sourced.Dispatch.send actor.Commands command with
            Target = Target.NewStream(Some actor.Name)
        }
        |> Dispatch

    /// To this stream.
    member _.ToStream(streamId: string) : Dispatch =
        Dispatch(Sourced.Dispatch.toStream streamId inner)

    /// To a fresh stream `<prefix>-<uuid>`.
    member _.ToNewStream(prefix: string) : Dispatch =
        Dispatch(Sourced.Dispatch.toNewStream prefix inner)

    /// Scheduled for a time (now, if it has passed).
    member _.At(time: DateTimeOffset) : Dispatch =
        Dispatch(Sourced.Dispatch.at time inner)

    /// Scheduled this long after the reaction runs.
    member _.After(delay: TimeSpan) : Dispatch =
        Dispatch(Sourced.Dispatch.after delay inner)

    /// With one more metadata entry, on top of what the message inherits from the one reacted to.
    member _.WithMetadata(key: string, value: string) : Dispatch =
        Dispatch(Sourced.Dispatch.withMetadataString key value inner)

module internal Dispatches =
    open System.Collections.Generic

    let private listOf (what: string) (dispatches: IEnumerable<Dispatch>) : Dispatch list =
        match dispatches with
        | null -> invalidOp $"A {what} returned null instead of a (possibly empty) list of dispatches."
        | dispatches -> List.ofSeq dispatches

    /// For actors: the facade's dispatches as given (their own commands stay values their codec encodes).
    let forActorList (dispatches: IEnumerable<Dispatch>) : Dispatch list = listOf "reaction" dispatches

    /// For projectors and handlers, which have no commands of their own.
    let forReactor (owner: string) (dispatches: IEnumerable<Dispatch>) : Sourced.Dispatch<NoCommand> list =
        listOf owner dispatches
        |> List.map (fun dispatch ->
            match dispatch.Inner.Body with
            | DispatchBody.Encoded(messageType, payload) ->
                {
                    Body = DispatchBody.Encoded(messageType, payload)
                    Target = dispatch.Inner.Target
                    Timing = dispatch.Inner.Timing
                    Metadata = dispatch.Inner.Metadata
                }
            | DispatchBody.Own command ->
                invalidOp
                    $"The {owner} sent Dispatch.Command({command.GetType().Name}); it has no commands of its own: use Dispatch.ToActor(actor, command).")
