module Sourced.Tests.ScenarioTests

open Expecto
open Sourced
open Sourced.Testing
open Sourced.Tests.Domain

/// The Ruby suite's collaboration example: an order starts a payment in its own stream; telemetry logs both.
module Collaboration =
    module Payment =
        type Command = Process
        type Event = Processed

        let actor =
            Actor.create "payments" ignore (fun () Process -> [ Processed ]) (fun () Processed -> ())

    module Order =
        type Command =
            | Start of name: string
            | StartPayment

        type Event =
            | Started of name: string
            | PaymentStarted

        let actor =
            Actor.create
                "orders"
                ignore
                (fun () command ->
                    match command with
                    | Start name -> [ Started name ]
                    | StartPayment -> [ PaymentStarted ])
                (fun () _ -> ())
            |> Actor.reactsToAll (fun () _ -> [])
            |> fun actor ->
                { actor with Reactions = [] }
                |> Actor.reacts [ nameof PaymentStarted ] (fun () _ ->
                    [
                        Dispatch.send Payment.actor.Commands Payment.Process
                        |> Dispatch.toStream "order-1-payment"
                    ])

    type Telemetry = Logged of sourceStream: string * messageType: string

    let logs = Codec.union<Telemetry> "telemetry"

    let telemetry =
        let log (received: Received<_>) =
            [
                Dispatch.send logs (Logged(received.Message.StreamId, received.Message.Type))
                |> Dispatch.toStream "telemetry"
            ]

        Handler.create
            "telemetry"
            [
                Handler.on (Codec.only [ nameof Order.PaymentStarted ] Order.actor.Events) log
                Handler.on Payment.actor.Events log
            ]

    let reactors =
        [ Actor.toReactor Order.actor; Actor.toReactor Payment.actor; telemetry ]

open Collaboration

let failsWith (expected: string) (check: unit -> unit) =
    let error = Expect.throwsC check id
    Expect.isTrue (error :? ScenarioFailedException) $"a scenario failure, not {error.GetType().Name}"
    Expect.stringContains error.Message expected "message"

let tests =
    testList
        "scenarios"
        [
            testCase "collaborating reactors leave the exact message trail"
            <| fun _ ->
                let order event =
                    Codec.message Order.actor.Events "order-1" event

                Scenario.reactors reactors
                |> Given.messages [ order (Order.Started "foo") ]
                |> When.message (Codec.message Order.actor.Commands "order-1" Order.StartPayment)
                |> Then.trail
                    [
                        order (Order.Started "foo")
                        Codec.message Order.actor.Commands "order-1" Order.StartPayment
                        order Order.PaymentStarted
                        Codec.message logs "telemetry" (Logged("order-1", "orders.payment_started"))
                        Codec.message Payment.actor.Commands "order-1-payment" Payment.Process
                        Codec.message Payment.actor.Events "order-1-payment" Payment.Processed
                        Codec.message logs "telemetry" (Logged("order-1-payment", "payments.processed"))
                    ]

            testCase "new messages are those appended after the When message"
            <| fun _ ->
                Scenario.reactors [ Actor.toReactor Payment.actor ]
                |> When.message (Codec.message Payment.actor.Commands "p" Payment.Process)
                |> Then.newMessages [ Codec.message Payment.actor.Events "p" Payment.Processed ]

            testCase "a wrong expectation lists what was expected and what came"
            <| fun _ ->
                failsWith "but got:" (fun () ->
                    Scenario.actor Todo.actor "l"
                    |> When.command (Todo.Start "x")
                    |> Then.events [ Todo.Started "y" ])

            testCase "expecting nothing fails when something was produced"
            <| fun _ ->
                failsWith "Expected no messages" (fun () ->
                    Scenario.actor Todo.actor "l" |> When.command (Todo.Start "x") |> Then.nothing)

            testCase "expecting an exception fails when nothing is raised, or another one"
            <| fun _ ->
                failsWith "but nothing was raised" (fun () ->
                    Scenario.actor Todo.actor "l"
                    |> When.command (Todo.Start "x")
                    |> Then.raises<CommandRejectedException>)

                failsWith "but got \"todos.start on l rejected: list x already started\"" (fun () ->
                    Scenario.actor Todo.actor "l"
                    |> Given.events [ Todo.Started "x" ]
                    |> When.command (Todo.Start "x")
                    |> Then.raisesWith<CommandRejectedException> "other")

                failsWith "but it was rejected with \"list x already started\"" (fun () ->
                    Scenario.actor Todo.actor "l"
                    |> Given.events [ Todo.Started "x" ]
                    |> When.command (Todo.Start "x")
                    |> Then.rejectedWith "other")

                failsWith "Expected InvalidMessageException to be raised, but got CommandRejectedException" (fun () ->
                    Scenario.actor Todo.actor "l"
                    |> Given.events [ Todo.Started "x" ]
                    |> When.command (Todo.Start "x")
                    |> Then.raises<InvalidMessageException>)

            testCase "expecting messages fails with the error when the scenario raised"
            <| fun _ ->
                failsWith "it raised CommandRejectedException" (fun () ->
                    Scenario.actor Todo.actor "l"
                    |> Given.events [ Todo.Started "x" ]
                    |> When.command (Todo.Start "x")
                    |> Then.nothing)

            testCase "Given after When, a missing When and the wrong message types are refused"
            <| fun _ ->
                failsWith "Given must come before When" (fun () ->
                    Scenario.actor Todo.actor "l"
                    |> When.command (Todo.Start "x")
                    |> Given.events [ Todo.Started "x" ]
                    |> ignore)

                failsWith "no When" (fun () -> Scenario.actor Todo.actor "l" |> Then.nothing)

                failsWith "are Event values, not Command" (fun () ->
                    Scenario.actor Todo.actor "l"
                    |> Given.events
                        [
                            Cart.AddItem
                                {
                                    ProductId = "p"
                                    Price = 1
                                    Quantity = 1
                                }
                        ]
                    |> ignore)

                failsWith "no command codec" (fun () ->
                    Scenario.reactors reactors |> When.command Payment.Process |> ignore)
        ]
