module Sourced.Tests.ActorTests

open System
open Expecto
open Sourced
open Sourced.Testing
open Sourced.Tests.Domain
open Sourced.Tests.Support

let apple: Cart.Item =
    {
        ProductId = "apple"
        Price = 100
        Quantity = 2
    }

let todoCommand streamId command =
    Actor.command Todo.actor streamId command

let todoEvent streamId event =
    Codec.message Todo.actor.Events streamId event

let cart =
    testList
        "cart"
        [
            testCase "adding an item to an open cart adds it"
            <| fun _ ->
                Scenario.actor Cart.actor "cart-1"
                |> When.command (Cart.AddItem apple)
                |> Then.events [ Cart.ItemAdded apple ]

            testCase "an added item makes the cart email an admin"
            <| fun _ ->
                Scenario.actor Cart.actor "cart-1"
                |> Given.events [ Cart.ItemAdded apple ]
                |> When.event (Cart.ItemAdded apple)
                |> Then.commands [ Cart.SendAdminEmail "apple" ]

            testCase "an item with no quantity is invalid, naming the field"
            <| fun _ ->
                Scenario.actor Cart.actor "cart-1"
                |> When.message (
                    Message.create "cart-1" "carts.add_item" (Json.parse """{"productId":"p","price":1,"quantity":0}""")
                )
                |> Then.raisesWith<InvalidMessageException>
                    "Invalid 'carts.add_item' message for stream 'cart-1': quantity: must be at least 1"

            testCase "the actor consumes its commands and the events it reacts to"
            <| fun _ ->
                Expect.equal
                    (Actor.types Cart.actor)
                    [ "carts.add_item"; "carts.send_admin_email"; "carts.item_added" ]
                    "types"
        ]

let decisions =
    testList
        "decisions"
        [
            testCase "events are numbered after the stream's last seq"
            <| fun _ ->
                Scenario.actor Todo.actor "list-1"
                |> Given.events [ Todo.Started "groceries" ]
                |> When.command (Todo.AddItem "milk")
                |> Then.actions (fun actions ->
                    match actions with
                    | [ Sourced.Action.AppendAfter("list-1", 2L, [ event ]) ] ->
                        Expect.equal event.Seq 3L "seq"
                        Expect.equal event.Type "todos.item_added" "type"
                    | other -> failtestf "unexpected actions %A" other)

            testCase "one command can produce several events, each seeing the state before it"
            <| fun _ ->
                Scenario.actor Todo.actor "list-1"
                |> When.command (Todo.AddItem "milk")
                |> Then.events [ Todo.Started "untitled"; Todo.ItemAdded "milk" ]

            testCase "a refused command raises with its reason and produces nothing"
            <| fun _ ->
                let refused =
                    Scenario.actor Todo.actor "list-1"
                    |> Given.events [ Todo.Started "groceries" ]
                    |> When.command (Todo.Start "again")

                refused
                |> Then.raisesWith<CommandRejectedException>
                    "todos.start on list-1 rejected: list groceries already started"

                refused |> Then.rejectedWith "list groceries already started"

            testCase "a refusal names the command's type, its stream and the reason, and keeps the bare reason"
            <| fun _ ->
                let loaded =
                    {
                        StreamId = "list-2"
                        State = Todo.actor.Evolve (Todo.actor.Initial "list-2") (Todo.Started "x")
                        Seq = 1L
                    }

                let error =
                    try
                        Actor.decide Todo.actor loaded (Todo.Start "y") |> ignore
                        failtest "the command was decided"
                    with :? CommandRejectedException as error ->
                        error

                Expect.equal error.CommandType "todos.start" "command type"
                Expect.equal error.StreamId "list-2" "stream"
                Expect.equal error.Reason "list x already started" "reason"
                Expect.equal error.Message "todos.start on list-2 rejected: list x already started" "message"

            testCase "events inherit the command's correlation and metadata, with the command as cause"
            <| fun _ ->
                let command =
                    todoCommand "list-1" (Todo.Start "x")
                    |> Message.withMetadataString "request_id" "r-9"

                let result = Interpreter.actor Todo.actor (batchOf "todos" (stored [ command ]) 1)

                let event =
                    result.Handled
                    |> List.collect (fun handled -> messagesOf handled.Actions)
                    |> List.head

                Expect.equal event.CausationId command.Id "causation"
                Expect.equal event.CorrelationId command.CorrelationId "correlation"
                Expect.equal (Metadata.tryString "request_id" event.Metadata) (Some "r-9") "metadata"
                Expect.equal event.CreatedAt fixedNow "time from the batch"
        ]

let reactions =
    testList
        "reactions"
        [
            testCase "a reaction dispatches to another stream and schedules for later"
            <| fun _ ->
                let started = todoEvent "list-1" (Todo.Started "groceries")
                let result = Interpreter.actor Todo.actor (batchOf "todos" (stored [ started ]) 1)

                match result.Handled with
                | [ {
                        Actions = [ Sourced.Action.AppendNext [ notify ]; Sourced.Action.Schedule(at, [ reminder ]) ]
                    } ] ->
                    Expect.equal notify.StreamId "notifications" "other stream"
                    Expect.equal (payloadText notify) """{"text":"started groceries"}""" "payload"
                    Expect.equal reminder.StreamId "list-1" "same stream"
                    Expect.equal at (fixedNow.AddSeconds 30.0) "due"

                    for command in [ notify; reminder ] do
                        Expect.equal command.CausationId started.Id "causation"
                        Expect.equal command.CorrelationId started.CorrelationId "correlation"

                        Expect.equal
                            (Metadata.tryString MetadataKeys.Producer command.Metadata)
                            (Some "todos")
                            "producer"
                | other -> failtestf "unexpected %A" other

            testCase "reactions see the state as of their own event, not the end of the batch"
            <| fun _ ->
                let history =
                    stored
                        [
                            todoEvent "list-1" (Todo.Started "l")
                            todoEvent "list-1" (Todo.ItemAdded "a")
                            todoEvent "list-1" (Todo.ItemAdded "b")
                        ]

                let result = Interpreter.actor Todo.actor (batchOf "todos" history 2)

                Expect.equal
                    (result.Handled
                     |> List.collect (fun handled -> messagesOf handled.Actions)
                     |> List.map payloadText)
                    [ """{"text":"1 items"}"""; """{"text":"2 items"}""" ]
                    "counts as of each event"

            testCase "replayed messages are only acknowledged"
            <| fun _ ->
                let history =
                    stored [ todoCommand "list-1" (Todo.Start "x"); todoEvent "list-1" (Todo.Started "x") ]

                let batch =
                    { batchOf "todos" history 2 with
                        Messages = history |> List.map (fun message -> { Message = message; Replaying = true })
                    }

                let result = Interpreter.actor Todo.actor batch
                Expect.equal (result.Handled |> List.map (fun handled -> handled.Actions.Length)) [ 0; 0 ] "no actions"
                Expect.isNone result.Failure "no failure"

            testCase "a wildcard reaction covers only events without a specific one"
            <| fun _ ->
                let actor =
                    Todo.actor
                    |> Actor.reactsToAll (fun _ _ -> [ Dispatch.command (Todo.Notify "wildcard") ])

                let history =
                    stored
                        [
                            todoEvent "l" (Todo.Started "x")
                            todoEvent "l" (Todo.ItemAdded "a")
                            todoEvent "l" (Todo.Notified "n")
                        ]

                let result = Interpreter.actor actor (batchOf "todos" history 3)

                let sent =
                    result.Handled
                    |> List.map (fun handled -> handled.Actions |> messagesOf |> List.map payloadText)

                Expect.equal
                    sent
                    [
                        [ """{"text":"started x"}"""; """{"text":"reminder"}""" ]
                        [ """{"text":"1 items"}""" ]
                        [ """{"text":"wildcard"}""" ]
                    ]
                    "specific reactions win; the wildcard takes the rest"

            testCase "an actor reacts to another actor's events (choreography)"
            <| fun _ ->
                let follower =
                    Actor.create "followers" (fun _ -> 0) (fun _ (_: Todo.Command) -> []) (fun state (_: Todo.Event) ->
                        state)
                    |> Actor.reactsTo (Codec.only [ nameof Todo.Started ] Todo.actor.Events) (fun _ received ->
                        match received.Value with
                        | Todo.Started name ->
                            [
                                Dispatch.toActor Cart.actor (Cart.SendAdminEmail name)
                                Dispatch.toActor Cart.actor (Cart.SendAdminEmail name)
                                |> Dispatch.toStream $"{received.Message.StreamId}-cart"
                            ]
                        | _ -> [])

                Expect.equal
                    (Actor.types follower |> List.filter (fun t -> t.StartsWith "todos."))
                    [ "todos.started" ]
                    "consumes"

                Scenario.actor follower "list-7"
                |> When.message (todoEvent "list-7" (Todo.Started "x"))
                |> Then.actions (fun actions ->
                    match messagesOf actions with
                    | [ command; next ] ->
                        Expect.equal command.Type "carts.send_admin_email" "other actor's command"
                        Expect.stringStarts command.StreamId "carts-" "a new stream named after the actor"
                        Expect.equal next.StreamId "list-7-cart" "a stream named after the event's"
                    | other -> failtestf "unexpected %A" other)

            testCase "an actor cannot react to its own command type, nor to an unknown case"
            <| fun _ ->
                Expect.throwsT<ArgumentException>
                    (fun () -> Todo.actor |> Actor.reactsTo Todo.actor.Commands (fun _ _ -> []) |> ignore)
                    "command as reaction"

                Expect.throwsT<ArgumentException>
                    (fun () -> Todo.actor |> Actor.reacts [ "NoSuchEvent" ] (fun _ _ -> []) |> ignore)
                    "unknown case"

            testCase "codecs must be set before reactions are added"
            <| fun _ ->
                Expect.throwsT<InvalidOperationException>
                    (fun () -> Todo.actor |> Actor.withEvents (Codec.union "other") |> ignore)
                    "late codec"
        ]

let batches =
    testList
        "batches"
        [
            testCase "commands of one batch are decided in order on one evolving state (hazard 2)"
            <| fun _ ->
                let history =
                    stored
                        [
                            todoCommand "l" (Todo.Start "x")
                            todoCommand "l" (Todo.AddItem "a")
                            todoCommand "l" (Todo.AddItem "b")
                        ]

                let result = Interpreter.actor Todo.actor (batchOf "todos" history 3)

                let appends =
                    result.Handled
                    |> List.collect (fun handled -> handled.Actions)
                    |> List.map (fun action ->
                        match action with
                        | Sourced.Action.AppendAfter(_, expected, events) ->
                            expected, events |> List.map (fun event -> event.Seq, event.Type)
                        | other -> failwithf "unexpected %A" other)

                Expect.equal
                    appends
                    [
                        3L, [ 4L, "todos.started" ]
                        4L, [ 5L, "todos.item_added" ]
                        5L, [ 6L, "todos.item_added" ]
                    ]
                    "no colliding seqs, and the second command saw the first one's event"

            testCase "a failure ends the batch after the messages that succeeded"
            <| fun _ ->
                let history =
                    stored
                        [
                            todoCommand "l" (Todo.Start "x")
                            todoCommand "l" (Todo.Start "again")
                            todoCommand "l" (Todo.AddItem "b")
                        ]

                let result = Interpreter.actor Todo.actor (batchOf "todos" history 3)
                Expect.equal result.Handled.Length 1 "prefix"

                match result.Failure with
                | Some(message, (:? CommandRejectedException as error)) ->
                    Expect.equal message.Id history[1].Id "failed message"
                    Expect.equal error.Reason "list x already started" "reason"
                    Expect.equal error.Message "todos.start on l rejected: list x already started" "named"
                | other -> failtestf "unexpected failure %A" other

            testCase "an event the actor cannot read fails the whole batch, naming the field"
            <| fun _ ->
                let corrupt = Message.create "l" "todos.started" (Json.parse """{"name":7}""")
                let history = stored [ corrupt; todoCommand "l" (Todo.AddItem "a") ]
                let result = Interpreter.actor Todo.actor (batchOf "todos" history 1)
                Expect.isEmpty result.Handled "nothing handled"

                match result.Failure with
                | Some(_, (:? InvalidMessageException as error)) ->
                    Expect.equal (error.Errors |> Seq.map (fun e -> e.Field) |> List.ofSeq) [ "name" ] "field"
                | other -> failtestf "unexpected %A" other
        ]

/// The events a stream ends with when its pending commands are handled in batches of `size`.
let processInBatches (size: int) (commands: Todo.Command list) : string list =
    let mutable stream = stored (commands |> List.map (todoCommand "l"))
    let mutable pending = commands.Length
    let mutable failed = false

    while pending > 0 && not failed do
        let take = min size pending

        let firstPending =
            stream
            |> List.filter (fun m -> m.Type.StartsWith "todos.")
            |> List.filter (fun m -> Todo.actor.Commands.Handles m.Type)
            |> List.skip (commands.Length - pending)
            |> List.truncate take

        let batch =
            { batchOf "todos" stream 1 with
                Messages =
                    firstPending
                    |> List.map (fun message -> { Message = message; Replaying = false })
            }

        let result = Interpreter.actor Todo.actor batch

        for handled in result.Handled do
            for action in handled.Actions do
                match action with
                | Sourced.Action.AppendAfter(_, expected, events) ->
                    Expect.equal expected (int64 stream.Length) "appends after the stream's end"
                    stream <- stream @ events
                | _ -> ()

        pending <- pending - result.Handled.Length
        failed <- result.Failure.IsSome

    stream
    |> List.map (fun message -> $"{message.Seq} {message.Type} {payloadText message}")

let properties =
    let config =
        { FsCheckConfig.defaultConfig with
            arbitrary = [ typeof<Generators> ]
            maxTest = 200
        }

    testList
        "laws"
        [
            testPropertyWithConfig config "folding a then b equals folding a @ b (reloading reads only newer messages)"
            <| fun (first: Todo.Event list) (second: Todo.Event list) ->
                let messages = stored ((first @ second) |> List.map (todoEvent "l"))

                let start =
                    {
                        StreamId = "l"
                        State = Todo.initial "l"
                        Seq = 0L
                    }

                let once = Actor.fold Todo.actor start messages

                let twice =
                    Actor.fold
                        Todo.actor
                        (Actor.fold Todo.actor start (List.take first.Length messages))
                        (List.skip first.Length messages)

                once = twice

            testPropertyWithConfig config "the interpreter is deterministic"
            <| fun (commands: Todo.Command list) (events: Todo.Event list) ->
                let history =
                    stored ((events |> List.map (todoEvent "l")) @ (commands |> List.map (todoCommand "l")))

                let describe (result: BatchResult) =
                    result.Handled
                    |> List.map (fun handled ->
                        handled.Message.Id,
                        handled.Actions
                        |> messagesOf
                        |> List.map (fun message ->
                            message.Id,
                            message.StreamId,
                            message.Seq,
                            message.Type,
                            payloadText message,
                            message.CausationId)),
                    result.Failure
                    |> Option.map (fun (message, error) -> message.Id, error.GetType(), error.Message)

                history.IsEmpty
                || describe (Interpreter.actor Todo.actor (batchOf "todos" history history.Length)) =
                    describe (Interpreter.actor Todo.actor (batchOf "todos" history history.Length))

            testPropertyWithConfig config "the events produced do not depend on the batch size"
            <| fun (commands: Todo.Command list) ->
                let one = processInBatches 1 commands
                one = processInBatches 3 commands && one = processInBatches 50 commands
        ]

let tests = testList "actors" [ cart; decisions; reactions; batches; properties ]
