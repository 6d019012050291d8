namespace Sourced.CSharp

open System
open System.Collections.Generic
open Sourced
open Sourced.Testing

/// Given/When/Then for one actor or projector on one stream, in memory, for any test framework: a failed
/// expectation throws `ScenarioFailedException` saying what was expected and what came out.
/// `Scenario.For(Cart.Actor, "cart-1").Given(new ItemAdded(...)).When(new AddItem(...)).Then(new ItemAdded(...))`.
[<Sealed>]
type Scenario private (scenario: Sourced.Testing.Scenario, codecOf: Type -> Codec<obj>, streamId: string) =

    let codec (value: obj) =
        if isNull value then
            raise (ArgumentNullException("message", "A scenario message can't be null."))

        codecOf (value.GetType())

    let message (value: obj) : Message =
        Codec.message (codec value) streamId value

    /// Not validated: the reactor validates it, and `ThenRaises<InvalidMessageException>` can check that.
    let unchecked (value: obj) : Message =
        let messageType, payload = (codec value).Encode value
        Message.create streamId messageType payload

    let messages (what: string) (values: obj[]) =
        if isNull values then
            nullArg what

        values |> Array.map message |> List.ofArray

    let next (scenario: Sourced.Testing.Scenario) = Scenario(scenario, codecOf, streamId)

    /// One actor on one stream: Given its commands or events, When a command (its events come out) or an
    /// event (the commands its reactions send come out).
    static member For(actor: ActorDefinition, streamId: string) : Scenario =
        if isNull actor then
            nullArg (nameof actor)

        Scenario(Sourced.Testing.Scenario.reactor actor.Reactor streamId, actor.CodecOf, streamId)

    /// One projector on one stream: Given and When its events; `ThenSynced` runs its sync.
    static member For<'State>(projector: Projector<'State>, streamId: string) : Scenario =
        if isNull (box projector) then
            nullArg (nameof projector)

        let events = projector.Events

        let codecOf (messageClass: Type) =
            if events.Cases |> List.exists (fun case -> case.Name = messageClass.Name) then
                events
            else
                invalidArg (nameof messageClass) $"Projector '{projector.Group}' does not project {messageClass.Name}."

        Scenario(Sourced.Testing.Scenario.reactor projector.Reactor streamId, codecOf, streamId)

    /// Messages already in the stream.
    member _.Given([<ParamArray>] history: obj[]) : Scenario =
        next (Given.messages (messages (nameof history) history) scenario)

    /// The message to handle.
    member _.When(input: obj) : Scenario =
        next (When.message (unchecked input) scenario)

    /// Exactly these messages came out, in the scenario's stream, in order (compared by type and payload).
    member _.Then([<ParamArray>] expected: obj[]) : unit =
        let expected =
            try
                messages (nameof expected) expected
            with :? ArgumentException as error when not (error :? ArgumentNullException) ->
                raise (
                    ScenarioFailedException(
                        $"{error.Message} Then compares this scenario's own classes, in its stream; check other messages with ThenProduced."
                    )
                )

        Then.messages expected scenario

    /// Nothing came out (and nothing was raised).
    member _.ThenNothing() : unit = Then.nothing scenario

    /// Your own checks over what came out (messages to other streams, say).
    member _.ThenProduced(check: Action<IReadOnlyList<Envelope>>) : unit =
        if isNull check then
            nullArg (nameof check)

        Then.actions (fun actions -> check.Invoke(Envelopes.ofList (Actions.messages actions))) scenario

    /// It raised this exception type (or a subtype), which is returned for more checks.
    member _.ThenRaises<'Exception when 'Exception :> exn>() : 'Exception = Then.raised<'Exception> scenario

    /// The command was refused with this reason.
    member _.ThenRejected(reason: string) : unit = Then.rejectedWith reason scenario

    /// Runs the projector's sync (once), so that the test can check its read model.
    member _.ThenSynced() : unit = Then.afterSync ignore scenario
