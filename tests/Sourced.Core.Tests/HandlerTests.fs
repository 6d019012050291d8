module Sourced.Tests.HandlerTests

open System
open System.Threading
open System.Threading.Tasks
open Expecto
open Sourced
open Sourced.Testing
open Sourced.Tests.Domain
open Sourced.Tests.Support

type Telemetry = Logged of source: string * messageType: string

let telemetry = Codec.union<Telemetry> "telemetry"

let logger =
    Handler.create
        "telemetry"
        [
            Handler.on (Codec.only [ nameof Todo.Started ] Todo.actor.Events) (fun received ->
                [
                    Dispatch.send telemetry (Logged(received.Message.StreamId, received.Message.Type))
                    |> Dispatch.toStream "telemetry"
                ])
        ]

let run (reactor: Reactor) (batch: Batch) =
    (reactor.Handle batch CancellationToken.None).Result

let tests =
    testList
        "handlers"
        [
            testCase "a handler turns a message into new messages caused by it"
            <| fun _ ->
                Scenario.reactor logger "list-1"
                |> When.message (Codec.message Todo.actor.Events "list-1" (Todo.Started "x"))
                |> Then.messages [ Codec.message telemetry "telemetry" (Logged("list-1", "todos.started")) ]

            testCase "handler output is correlated and names its producer"
            <| fun _ ->
                let started = Codec.message Todo.actor.Events "list-1" (Todo.Started "x")
                let result = run logger (batchOf "telemetry" (stored [ started ]) 1)

                match messagesOf result.Handled.Head.Actions with
                | [ logged ] ->
                    Expect.equal logged.CausationId started.Id "causation"

                    Expect.equal
                        (Metadata.tryString MetadataKeys.Producer logged.Metadata)
                        (Some "telemetry")
                        "producer"
                | other -> failtestf "unexpected %A" other

            testCase "a handler clause can ask for the stream's history"
            <| fun _ ->
                let counter =
                    Handler.create
                        "counter"
                        [
                            Handler.onWithHistory
                                (Codec.only [ nameof Todo.ItemAdded ] Todo.actor.Events)
                                (fun received history ->
                                    [
                                        Dispatch.send Todo.actor.Commands (Todo.Notify $"{history.Length} messages")
                                        |> Dispatch.toStream received.Message.StreamId
                                    ])
                        ]

                Expect.isTrue counter.NeedsHistory "needs history"

                Scenario.reactor counter "l"
                |> Given.messages [ Codec.message Todo.actor.Events "l" (Todo.Started "x") ]
                |> When.message (Codec.message Todo.actor.Events "l" (Todo.ItemAdded "a"))
                |> Then.messages [ Codec.message Todo.actor.Commands "l" (Todo.Notify "2 messages") ]

            testCase "an asynchronous clause may do IO and is told about replays"
            <| fun _ ->
                let mutable seen = []

                let recorder =
                    Handler.create
                        "recorder"
                        [
                            Handler.onTask Todo.actor.Events (fun received _ ->
                                task {
                                    do! Task.Yield()
                                    seen <- (received.Value, received.Replaying) :: seen
                                    return []
                                })
                        ]

                let history = stored [ Codec.message Todo.actor.Events "l" (Todo.Started "x") ]

                let batch =
                    { batchOf "recorder" history 1 with
                        Messages =
                            [
                                {
                                    Message = history.Head
                                    Replaying = true
                                }
                            ]
                    }

                let result = run recorder batch
                Expect.equal result.Handled.Length 1 "handled"
                Expect.equal seen [ Todo.Started "x", true ] "value and replay flag"

            testCase "every clause covering a type runs, in order"
            <| fun _ ->
                let twice =
                    Handler.create
                        "twice"
                        [
                            Handler.on Todo.actor.Events (fun _ ->
                                [ Dispatch.send Todo.actor.Commands (Todo.Notify "1") ])
                            Handler.on Todo.actor.Events (fun _ ->
                                [ Dispatch.send Todo.actor.Commands (Todo.Notify "2") ])
                        ]

                Scenario.reactor twice "l"
                |> When.message (Codec.message Todo.actor.Events "l" (Todo.Notified "n"))
                |> Then.messages
                    [
                        Codec.message Todo.actor.Commands "l" (Todo.Notify "1")
                        Codec.message Todo.actor.Commands "l" (Todo.Notify "2")
                    ]

            testCase "a failing clause keeps the messages handled before it"
            <| fun _ ->
                let fussy =
                    Handler.create
                        "fussy"
                        [
                            Handler.on Todo.actor.Events (fun received ->
                                match received.Value with
                                | Todo.Notified _ -> raise (TimeoutException "smtp down")
                                | _ -> [])
                        ]

                let history =
                    stored
                        [
                            Codec.message Todo.actor.Events "l" (Todo.Started "x")
                            Codec.message Todo.actor.Events "l" (Todo.Notified "n")
                        ]

                let result = run fussy (batchOf "fussy" history 2)
                Expect.equal result.Handled.Length 1 "prefix"

                Expect.equal
                    (result.Failure |> Option.map (fun (m, e) -> m.Id, e.Message))
                    (Some(history[1].Id, "smtp down"))
                    "failure"

            testCase "a handler schedules what it sends for later"
            <| fun _ ->
                let reminder =
                    Handler.create
                        "reminders"
                        [
                            Handler.on Todo.actor.Events (fun _ ->
                                [
                                    Dispatch.send Todo.actor.Commands (Todo.Notify "later")
                                    |> Dispatch.after (TimeSpan.FromMinutes 5.0)
                                ])
                        ]

                let started = Codec.message Todo.actor.Events "l" (Todo.Started "x")
                let result = run reminder (batchOf "reminders" (stored [ started ]) 1)

                match result.Handled.Head.Actions with
                | [ Sourced.Action.Schedule(at, [ reminder ]) ] ->
                    Expect.equal at (fixedNow.AddMinutes 5.0) "due"
                    Expect.equal reminder.Type "todos.notify" "the command"
                | other -> failtestf "unexpected %A" other

            testCase "a handler needs a group and at least one clause"
            <| fun _ ->
                Expect.throwsT<ArgumentException>
                    (fun () -> Handler.create "" [ Handler.on telemetry (fun _ -> []) ] |> ignore)
                    "group"

                Expect.throwsT<ArgumentException> (fun () -> Handler.create "h" [] |> ignore) "clauses"
        ]
