module Sourced.Tests.UnitTests

open System
open System.Collections.Concurrent
open System.Threading.Tasks
open Expecto
open Sourced
open Sourced.Tests.Support

let ct = Threading.CancellationToken.None

/// The Ruby suite's unit fixtures: a thing is created, which makes it notify, which another actor records.
module Things =
    type Command =
        | CreateThing of name: string
        | NotifyThing of name: string

    type Event =
        | ThingCreated of name: string
        | ThingNotified of name: string

    let things =
        Actor.create
            "things"
            (fun _ -> None)
            (fun _ command ->
                match command with
                | CreateThing name -> [ ThingCreated name ]
                | NotifyThing _ -> [])
            (fun state event ->
                match event with
                | ThingCreated name -> Some name
                | ThingNotified _ -> state)
        |> Actor.withCommands (Codec.union<Command> "things" |> Codec.only [ nameof CreateThing ])
        |> Actor.reacts [ nameof ThingCreated ] (fun _ event ->
            match event with
            | ThingCreated name -> [ Dispatch.send (Codec.union<Command> "things") (NotifyThing name) ]
            | ThingNotified _ -> [])

    let notifier =
        Actor.create
            "notifier"
            ignore
            (fun () command ->
                match command with
                | NotifyThing name -> [ ThingNotified name ]
                | CreateThing _ -> [])
            (fun () _ -> ())
        |> Actor.withCommands (Codec.union<Command> "things" |> Codec.only [ nameof NotifyThing ])
        |> Actor.withEvents (Codec.union<Event> "things")

    let create streamId name =
        Codec.message (Codec.union<Command> "things") streamId (CreateThing name)

    /// A state-stored projector of created things, and what its syncs saw.
    let projector (saved: ConcurrentQueue<string>) =
        Projector.stateStored
            "thing-list"
            (Codec.union<Event> "things" |> Codec.only [ nameof ThingCreated ])
            (fun _ _ -> Task.FromResult [])
            (fun names event ->
                match event with
                | ThingCreated name -> names @ [ name ]
                | ThingNotified _ -> names)
            (fun projection _ ->
                for name in projection.State do
                    saved.Enqueue name

                Task.FromResult())

let reactors = [ Actor.toReactor Things.things; Actor.toReactor Things.notifier ]

type Audit = Audited of streamId: string

let types (messages: Message list) =
    messages |> List.map (fun message -> message.Type)

let tests =
    testList
        "units"
        [
            testCaseTask "a unit runs the whole chain and reports what each reactor produced" (fun () ->
                task {
                    let store = MemoryStore() :> IMessageStore
                    let! result = UnitOfWork.runAsync reactors store (Things.create "t-1" "Widget") ct

                    Expect.equal
                        (types (result.ProducedBy "things"))
                        [ "things.thing_created"; "things.notify_thing" ]
                        "things"

                    Expect.equal (types (result.ProducedBy "notifier")) [ "things.thing_notified" ] "notifier"
                    let! stream = store.ReadStreamAsync("t-1", 0L, None, ct)

                    Expect.equal
                        (types stream)
                        [
                            "things.create_thing"
                            "things.thing_created"
                            "things.notify_thing"
                            "things.thing_notified"
                        ]
                        "commands and events stored"
                })

            testCaseTask "one event reaches an actor and a projector in the same unit" (fun () ->
                task {
                    let store = MemoryStore() :> IMessageStore
                    let saved = ConcurrentQueue<string>()

                    let! _ =
                        UnitOfWork.runAsync
                            (reactors @ [ Projector.toReactor (Things.projector saved) ])
                            store
                            (Things.create "t-1" "Widget")
                            ct

                    Expect.equal (List.ofSeq saved) [ "Widget" ] "synced inside the unit"
                })

            testCaseTask "workers find nothing left to do after a unit" (fun () ->
                task {
                    let store = MemoryStore() :> IMessageStore
                    let! _ = UnitOfWork.runAsync reactors store (Things.create "t-1" "Widget") ct
                    let! batches = Drain.runAsync store reactors ct
                    Expect.equal batches 0 "everything was acknowledged"
                })

            testCaseTask
                "every message of the chain shares the correlation id and the first command's metadata"
                (fun () ->
                    task {
                        let store = MemoryStore() :> IMessageStore

                        let command =
                            Things.create "t-1" "Widget"
                            |> Message.withMetadataString "request_id" "r-1"
                            |> Message.withMetadataString "user_id" "u-1"

                        let! _ = UnitOfWork.runAsync reactors store command ct
                        let! stream = store.ReadStreamAsync("t-1", 0L, None, ct)

                        Expect.isTrue
                            (stream |> List.forall (fun message -> message.CorrelationId = command.Id))
                            "one correlation"

                        Expect.isTrue
                            (stream
                             |> List.forall (fun message ->
                                 Metadata.tryString "request_id" message.Metadata = Some "r-1"
                                 && Metadata.tryString "user_id" message.Metadata = Some "u-1"))
                            "metadata everywhere"
                    })

            testCaseTask "a unit stops loops at its iteration limit and stores nothing" (fun () ->
                task {
                    let store = MemoryStore() :> IMessageStore

                    let looping =
                        Things.things
                        |> fun actor -> { actor with Reactions = [] }
                        |> Actor.reacts [ nameof Things.ThingCreated ] (fun _ _ ->
                            [ Dispatch.command (Things.CreateThing "again") ])

                    let! error =
                        raises<UnitLoopException>(fun () ->
                            UnitOfWork.runWithAsync
                                { UnitOptions.defaults with
                                    MaxIterations = 5
                                }
                                [ Actor.toReactor looping ]
                                store
                                (Things.create "t-1" "Widget")
                                ct
                            :> Task)

                    Expect.stringContains error.Message "exceeded 5 iterations" "message"
                    let! log = store.ReadLogAsync(0L, 100, ct)
                    Expect.isEmpty log "rolled back"
                })

            testCaseTask "a failing reactor rolls the whole unit back" (fun () ->
                task {
                    let store = MemoryStore() :> IMessageStore

                    let failing =
                        Handler.create
                            "boom"
                            [ Handler.on (Codec.union<Things.Event> "things") (fun _ -> failwith "Boom!") ]

                    let! error =
                        raises<Exception>(fun () ->
                            UnitOfWork.runAsync (reactors @ [ failing ]) store (Things.create "t-1" "Widget") ct
                            :> Task)

                    Expect.equal error.Message "Boom!" "the reactor's error"
                    let! stream = store.ReadStreamAsync("t-1", 0L, None, ct)
                    Expect.isEmpty stream "nothing stored"
                })

            testCaseTask "a scheduled command is stored for later, not run by the unit" (fun () ->
                task {
                    let clock = ManualClock()
                    let store = MemoryStore(clock) :> IMessageStore

                    let patient =
                        { Things.things with Reactions = [] }
                        |> Actor.reacts [ nameof Things.ThingCreated ] (fun _ _ ->
                            [
                                Dispatch.send (Codec.union<Things.Command> "things") (Things.NotifyThing "later")
                                |> Dispatch.after (TimeSpan.FromHours 1.0)
                            ])

                    let! _ =
                        UnitOfWork.runAsync
                            [ Actor.toReactor patient; Actor.toReactor Things.notifier ]
                            store
                            (Things.create "t-1" "Widget")
                            ct

                    let! before = store.ReadStreamAsync("t-1", 0L, None, ct)
                    Expect.equal (types before) [ "things.create_thing"; "things.thing_created" ] "not yet"
                    clock.Advance(TimeSpan.FromHours 1.0)
                    let! promoted = store.PromoteDueAsync ct
                    Expect.equal promoted 1 "waiting in the schedule"
                })

            testCaseTask "messages no reactor of the unit handles are still stored, for the workers" (fun () ->
                task {
                    let store = MemoryStore() :> IMessageStore

                    let! _ =
                        UnitOfWork.runAsync [ Actor.toReactor Things.things ] store (Things.create "t-1" "Widget") ct

                    let! stream = store.ReadStreamAsync("t-1", 0L, None, ct)
                    Expect.equal (types stream |> List.last) "things.notify_thing" "stored"
                    let! batches = Drain.runAsync store [ Actor.toReactor Things.notifier ] ct
                    Expect.equal batches 1 "picked up later"
                })

            testCaseTask "without persisting commands, only events are stored and the chain still completes" (fun () ->
                task {
                    let store = MemoryStore() :> IMessageStore

                    let! result =
                        UnitOfWork.runWithAsync
                            { UnitOptions.defaults with
                                PersistCommands = false
                            }
                            reactors
                            store
                            (Things.create "t-1" "Widget")
                            ct

                    let! stream = store.ReadStreamAsync("t-1", 0L, None, ct)
                    Expect.equal (types stream) [ "things.thing_created"; "things.thing_notified" ] "events only"
                    Expect.equal (stream |> List.map (fun message -> message.Seq)) [ 1L; 2L ] "no gaps"

                    Expect.equal
                        (types (result.ProducedBy "notifier"))
                        [ "things.thing_notified" ]
                        "the chain completed"
                })

            testCaseTask "without persisting commands, events that handlers send are still stored" (fun () ->
                task {
                    let store = MemoryStore() :> IMessageStore
                    let audits = Codec.union<Audit> "audits"
                    let seen = ConcurrentQueue<string>()

                    let auditor =
                        Handler.create
                            "auditor"
                            [
                                Handler.on
                                    (Codec.union<Things.Event> "things" |> Codec.only [ nameof Things.ThingCreated ])
                                    (fun received ->
                                        [
                                            Dispatch.send audits (Audited received.Message.StreamId)
                                            |> Dispatch.toStream "audit"
                                        ])
                            ]

                    let auditLog =
                        Projector.eventSourced "audit-log" audits (fun _ -> ()) (fun () _ -> ()) (fun projection _ ->
                            for event in projection.Events do
                                seen.Enqueue event.Type

                            Task.FromResult())

                    let! _ =
                        UnitOfWork.runWithAsync
                            { UnitOptions.defaults with
                                PersistCommands = false
                            }
                            (reactors @ [ auditor; Projector.toReactor auditLog ])
                            store
                            (Things.create "t-1" "Widget")
                            ct

                    let! audit = store.ReadStreamAsync("audit", 0L, None, ct)
                    Expect.equal (types audit) [ "audits.audited" ] "the handler's event was stored"
                    Expect.equal (List.ofSeq seen) [ "audits.audited" ] "and projected in the unit"
                })

            testCaseTask "a unit can run many times, each one its own transaction" (fun () ->
                task {
                    let store = MemoryStore() :> IMessageStore
                    let! _ = UnitOfWork.runAsync reactors store (Things.create "t-1" "A") ct
                    let! _ = UnitOfWork.runAsync reactors store (Things.create "t-2" "B") ct

                    for streamId in [ "t-1"; "t-2" ] do
                        let! stream = store.ReadStreamAsync(streamId, 0L, None, ct)
                        Expect.equal stream.Length 4 $"{streamId}"
                })

            testCaseTask "a unit first handles what its reactors had not processed yet in that stream" (fun () ->
                task {
                    let store = MemoryStore() :> IMessageStore
                    let! _ = Store.dispatchAsync store (Things.create "t-1" "Earlier") ct

                    let! result =
                        UnitOfWork.runAsync [ Actor.toReactor Things.things ] store (Things.create "t-1" "Now") ct

                    let created =
                        result.ProducedBy "things"
                        |> List.filter (fun message -> message.Type = "things.thing_created")

                    Expect.equal
                        (created |> List.map (fun message -> Json.toText message.Payload))
                        [ """{"name":"Earlier"}"""; """{"name":"Now"}""" ]
                        "in order"
                })

            testCaseTask "a unit waits for a stream a worker holds, then gives up with a clear error" (fun () ->
                task {
                    let store = MemoryStore() :> IMessageStore
                    let reactor = Actor.toReactor Things.things
                    do! Store.registerAsync store reactor ct
                    let! _ = Store.dispatchAsync store (Things.create "t-1" "Held") ct

                    let! held =
                        store.ClaimAsync(
                            {
                                Group = "things"
                                Worker = "w"
                                BatchSize = 1
                                WithHistory = true
                            },
                            ct
                        )

                    Expect.isSome held "a worker holds the stream"

                    let! error =
                        raises<StreamBusyException>(fun () ->
                            UnitOfWork.runAsync [ reactor ] store (Things.create "t-1" "Now") ct :> Task)

                    Expect.equal (error.Group, error.StreamId) ("things", "t-1") "names group and stream"
                    let! stream = store.ReadStreamAsync("t-1", 0L, None, ct)
                    Expect.equal stream.Length 1 "nothing stored"
                })
        ]
