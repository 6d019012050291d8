namespace Sourced.Testing

open System
open System.Threading
open System.Threading.Tasks
open Sourced

/// Raised when a scenario's expectation does not hold.
type ScenarioFailedException(message: string) =
    inherit Exception(message)

[<RequireQualifiedAccess; NoEquality; NoComparison>]
type internal Setup =
    | Reactor of Reactor * streamId: string
    | Reactors of Reactor list

[<NoEquality; NoComparison>]
type internal Outcome =
    {
        Actions: Sourced.Action list
        Produced: Message list
        Trail: Message list
        NewMessages: Message list
        Failure: exn option
        SyncsRun: Lazy<unit>
    }

/// A Given/When/Then scenario for one reactor (typed helpers for actors and projectors), or for several
/// collaborating reactors on a fresh memory store. It runs once, on its first `Then`.
[<NoEquality; NoComparison>]
type Scenario =
    internal
        {
            Setup: Setup
            /// The actor's `Codec<'Command>`, boxed.
            Commands: obj option
            /// The actor's or projector's `Codec<'Event>`, boxed.
            Events: obj option
            Given: Message list
            When: Message option
            Outcome: Lazy<Outcome>
        }

module internal Run =

    let private syncs (actions: Sourced.Action list) =
        lazy
            (for action in actions do
                match action with
                | Sourced.Action.Sync run ->
                    run
                        {
                            Transaction = None
                            CancellationToken = CancellationToken.None
                        }
                    |> fun task -> task.GetAwaiter().GetResult()
                | _ -> ())

    let single (reactor: Reactor) (streamId: string) (given: Message list) (message: Message) : Outcome =
        let history =
            given @ [ message ]
            |> List.mapi (fun index message ->
                { message with
                    Seq = int64 index + 1L
                    Position = int64 index + 1L
                })

        let batch =
            {
                Group = reactor.Group
                StreamId = streamId
                Messages =
                    [
                        {
                            Message = List.last history
                            Replaying = false
                        }
                    ]
                History = history
                Now = DateTimeOffset.UtcNow
                Clock = TimeProvider.System
                NewId = Guid.CreateVersion7
            }

        let result =
            try
                reactor.Handle batch CancellationToken.None
                |> fun task -> task.GetAwaiter().GetResult()
                |> Interpreter.correlate
            with error ->
                {
                    Handled = []
                    Failure = Some(message, error)
                }

        let actions = result.Handled |> List.collect (fun handled -> handled.Actions)

        {
            Actions = actions
            Produced = Actions.messages actions
            Trail = history @ Actions.messages actions
            NewMessages = Actions.messages actions
            Failure = result.Failure |> Option.map snd
            SyncsRun = syncs actions
        }

    let many (reactors: Reactor list) (given: Message list) (message: Message) : Outcome =
        let store = MemoryStore()
        let storeApi = store :> IMessageStore

        let failure =
            try
                task {
                    for reactor in reactors do
                        do! Store.registerAsync storeApi reactor CancellationToken.None

                    let! _ = storeApi.AppendNextAsync(given @ [ message ], CancellationToken.None)
                    let! _ = Drain.runAsync storeApi reactors CancellationToken.None
                    return ()
                }
                |> fun task -> task.GetAwaiter().GetResult()

                None
            with error ->
                Some error

        let trail = store.Messages

        let newMessages =
            trail |> List.skipWhile (fun stored -> stored.Id <> message.Id) |> List.skip 1

        {
            Actions = []
            Produced = newMessages
            Trail = trail
            NewMessages = newMessages
            Failure = failure
            SyncsRun = lazy ()
        }

    let outcome (setup: Setup) (given: Message list) (whenMessage: Message option) : Lazy<Outcome> =
        lazy
            (match whenMessage with
             | None ->
                 raise (
                     ScenarioFailedException "The scenario has no When: add When.command, When.event or When.message."
                 )
             | Some message ->
                 match setup with
                 | Setup.Reactor(reactor, streamId) -> single reactor streamId given message
                 | Setup.Reactors reactors -> many reactors given message)

    let rebuild (scenario: Scenario) : Scenario =
        { scenario with
            Outcome = outcome scenario.Setup scenario.Given scenario.When
        }

    let streamOf (scenario: Scenario) =
        match scenario.Setup with
        | Setup.Reactor(_, streamId) -> streamId
        | Setup.Reactors _ ->
            raise (
                ScenarioFailedException
                    "A multi-reactor scenario has no stream of its own: build messages with Codec.message."
            )

    /// The scenario's codec for `'T`, or a failure saying which type the scenario expects.
    let codec<'T> (what: string) (boxed: obj option) : Codec<'T> =
        match boxed with
        | Some(:? Codec<'T> as codec) -> codec
        | Some other ->
            let actual = other.GetType().GenericTypeArguments[0].Name
            raise (ScenarioFailedException $"This scenario's {what}s are {actual} values, not {typeof<'T>.Name}.")
        | None -> raise (ScenarioFailedException $"This scenario has no {what} codec: use the *.messages functions.")

/// Starting a scenario: one actor, projector or reactor on one stream, or several reactors together.
[<RequireQualifiedAccess>]
module Scenario =

    let private create setup commands events : Scenario =
        Run.rebuild
            {
                Setup = setup
                Commands = commands
                Events = events
                Given = []
                When = None
                Outcome = lazy (Unchecked.defaultof<_>)
            }

    /// One actor on one stream.
    let actor (actor: Actor<'State, 'Command, 'Event>) (streamId: string) : Scenario =
        create (Setup.Reactor(Actor.toReactor actor, streamId)) (Some(box actor.Commands)) (Some(box actor.Events))

    /// One projector on one stream.
    let projector (projector: Projector<'State, 'Event>) (streamId: string) : Scenario =
        create (Setup.Reactor(Projector.toReactor projector, streamId)) None (Some(box projector.Events))

    /// Any reactor (a handler, say) on one stream.
    let reactor (reactor: Reactor) (streamId: string) : Scenario =
        create (Setup.Reactor(reactor, streamId)) None None

    /// Several reactors collaborating on a fresh memory store, drained until nothing is left.
    let reactors (reactors: Reactor list) : Scenario =
        if List.isEmpty reactors then
            invalidArg (nameof reactors) "A scenario needs at least one reactor."

        create (Setup.Reactors reactors) None None

/// What is already in the history before the scenario's message: messages, own events or own commands.
[<RequireQualifiedAccess>]
module Given =

    let private add (messages: Message list) (scenario: Scenario) =
        if scenario.When.IsSome then
            raise (ScenarioFailedException "Given must come before When.")

        Run.rebuild
            { scenario with
                Given = scenario.Given @ messages
            }

    /// Messages already in the history (for multi-reactor scenarios: already in the store).
    let messages (messages: Message list) (scenario: Scenario) = add messages scenario

    /// Own events already in the scenario's stream.
    let events (events: 'Event list) (scenario: Scenario) =
        let codec = Run.codec "event" scenario.Events
        let streamId = Run.streamOf scenario
        add (events |> List.map (Codec.message codec streamId)) scenario

    /// Own commands already in the scenario's stream.
    let commands (commands: 'Command list) (scenario: Scenario) =
        let codec = Run.codec "command" scenario.Commands
        let streamId = Run.streamOf scenario
        add (commands |> List.map (Codec.message codec streamId)) scenario

/// The message the scenario handles: any message, or an own command or event.
[<RequireQualifiedAccess>]
module When =

    /// The message to handle.
    let message (message: Message) (scenario: Scenario) =
        Run.rebuild { scenario with When = Some message }

    /// An own command, sent to the scenario's stream.
    let command (command: 'Command) (scenario: Scenario) =
        let codec = Run.codec "command" scenario.Commands
        message (Codec.message codec (Run.streamOf scenario) command) scenario

    /// An own event in the scenario's stream (to test reactions and projections).
    let event (event: 'Event) (scenario: Scenario) =
        let codec = Run.codec "event" scenario.Events
        message (Codec.message codec (Run.streamOf scenario) event) scenario

/// What the scenario must have produced or raised; the first `Then` runs it.
[<RequireQualifiedAccess>]
module Then =

    let private fail message : unit = raise (ScenarioFailedException message)

    let private succeeded (scenario: Scenario) =
        let outcome = scenario.Outcome.Force()

        match outcome.Failure with
        | Some error -> fail $"Expected the scenario to succeed, but it raised {error.GetType().Name}: {error.Message}"
        | None -> ()

        outcome

    let private listing (messages: Message list) =
        if messages.IsEmpty then
            "    (none)"
        else
            messages
            |> List.map (fun message -> "    " + string message)
            |> String.concat Environment.NewLine

    let private matches (what: string) (expected: Message list) (actual: Message list) =
        let same =
            expected.Length = actual.Length
            && List.forall2 Message.sameContent expected actual

        if not same then
            fail (
                $"Expected {what} (by type, stream and payload):{Environment.NewLine}{listing expected}"
                + $"{Environment.NewLine}but got:{Environment.NewLine}{listing actual}"
            )

    /// The messages the reactor produced (appended or scheduled), compared by type, stream and payload.
    let messages (expected: Message list) (scenario: Scenario) : unit =
        matches "these messages" expected (succeeded scenario).Produced

    /// Exactly these own events, in the scenario's stream.
    let events (expected: 'Event list) (scenario: Scenario) : unit =
        let codec = Run.codec "event" scenario.Events
        let streamId = Run.streamOf scenario
        matches "these events" (expected |> List.map (Codec.message codec streamId)) (succeeded scenario).Produced

    /// Exactly these own commands, dispatched to the scenario's stream.
    let commands (expected: 'Command list) (scenario: Scenario) : unit =
        let codec = Run.codec "command" scenario.Commands
        let streamId = Run.streamOf scenario
        matches "these commands" (expected |> List.map (Codec.message codec streamId)) (succeeded scenario).Produced

    /// Nothing produced.
    let nothing (scenario: Scenario) : unit =
        matches "no messages" [] (succeeded scenario).Produced

    /// Multi-reactor scenarios: the whole log after draining (givens and the When message included).
    let trail (expected: Message list) (scenario: Scenario) : unit =
        matches "this message trail" expected (succeeded scenario).Trail

    /// Multi-reactor scenarios: what was appended after the When message.
    let newMessages (expected: Message list) (scenario: Scenario) : unit =
        matches "these new messages" expected (succeeded scenario).NewMessages

    /// The exception the scenario raised, of this type (or a subtype), for further checks.
    let raised<'Exception when 'Exception :> exn> (scenario: Scenario) : 'Exception =
        match scenario.Outcome.Force().Failure with
        | Some(:? 'Exception as error) -> error
        | Some error ->
            raise (
                ScenarioFailedException(
                    $"Expected {typeof<'Exception>.Name} to be raised, but got {error.GetType().Name}: {error.Message}"
                )
            )
        | None ->
            raise (ScenarioFailedException $"Expected {typeof<'Exception>.Name} to be raised, but nothing was raised")

    /// The scenario raises this exception type (or a subtype).
    let raises<'Exception when 'Exception :> exn> (scenario: Scenario) : unit = raised<'Exception> scenario |> ignore

    /// The scenario raises this exception type with exactly this message.
    let raisesWith<'Exception when 'Exception :> exn> (message: string) (scenario: Scenario) =
        let error = raised<'Exception> scenario

        if error.Message <> message then
            fail $"Expected {typeof<'Exception>.Name} with message \"{message}\", but got \"{error.Message}\""

    /// The command was refused with this reason (the text given to `reject`).
    let rejectedWith (reason: string) (scenario: Scenario) =
        let error = raised<CommandRejectedException> scenario

        if error.Reason <> reason then
            fail $"Expected the command to be rejected with \"{reason}\", but it was rejected with \"{error.Reason}\""

    /// Your own assertions over the raw actions of a one-reactor scenario.
    let actions (check: Sourced.Action list -> unit) (scenario: Scenario) : unit = check (succeeded scenario).Actions

    /// Runs the `Sync` actions (once), then your assertions: for projectors' side effects.
    let afterSync (check: Sourced.Action list -> unit) (scenario: Scenario) : unit =
        let outcome = succeeded scenario
        outcome.SyncsRun.Force()
        check outcome.Actions
