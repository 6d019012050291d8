module Sourced.Tests.DirectUseTests

open System
open System.Threading
open System.Threading.Tasks
open Expecto
open Sourced
open Sourced.Tests.Domain
open Sourced.Tests.Support

let ct = CancellationToken.None

let apple: Cart.Item =
    {
        ProductId = "apple"
        Price = 100
        Quantity = 2
    }

let newStore () = MemoryStore() :> IMessageStore

let load (store: IMessageStore) = Actor.loadAsync store Todo.actor "l" ct

let tests =
    testList
        "direct use"
        [
            testCaseTask "loading folds the stream into state and seq" (fun () ->
                task {
                    let store = newStore ()
                    let! _ = Actor.executeAsync store Todo.actor "l" (Todo.AddItem "milk") ct
                    let! loaded = load store

                    Expect.equal
                        loaded.State
                        { Todo.initial "l" with
                            Name = "untitled"
                            Items = [ "milk" ]
                            Active = true
                        }
                        "state"

                    Expect.equal loaded.Seq 2L "seq"
                })

            testCaseTask "reloading reads only the messages after the loaded seq" (fun () ->
                task {
                    let store = newStore ()
                    let reads = ResizeArray()

                    let watched =
                        intercept store (fun streamId after -> reads.Add(streamId, after)) (fun _ _ ->
                            Task.CompletedTask)

                    let! _ = Actor.executeAsync store Todo.actor "l" (Todo.Start "x") ct
                    let! loaded = Actor.loadAsync watched Todo.actor "l" ct
                    let! _ = Actor.executeAsync store Todo.actor "l" (Todo.AddItem "a") ct
                    let! reloaded = Actor.reloadAsync watched Todo.actor loaded ct
                    Expect.equal (List.ofSeq reads) [ "l", 0L; "l", 1L ] "after the loaded seq"
                    Expect.equal reloaded.State.Items [ "a" ] "caught up"
                })

            testCaseTask "loading at a seq gives the state as it was then" (fun () ->
                task {
                    let store = newStore ()
                    let! _ = Actor.executeAsync store Todo.actor "l" (Todo.AddItem "milk") ct
                    let! loaded = Actor.loadAtAsync store Todo.actor "l" 1L ct
                    Expect.equal loaded.State.Items [] "before the item"
                    Expect.isTrue loaded.State.Active "after the start"
                    Expect.equal loaded.Seq 1L "seq"
                })

            testCaseTask "deciding in memory stores nothing and advances the loaded state" (fun () ->
                task {
                    let store = newStore ()
                    let! loaded = load store
                    let decision = Actor.decide Todo.actor loaded (Todo.AddItem "milk")
                    Expect.equal (decision.Events |> List.map (fun event -> event.Seq)) [ 1L; 2L ] "seqs"
                    Expect.equal decision.Loaded.Seq 2L "seq"
                    Expect.equal decision.Loaded.State.Items [ "milk" ] "state"

                    Expect.isTrue
                        (decision.Events
                         |> List.forall (fun event -> event.CausationId = decision.Command.Id))
                        "caused by the command"

                    let! stored = store.ReadStreamAsync("l", 0L, None, ct)
                    Expect.isEmpty stored "nothing stored"
                })

            testCaseTask "executing appends the events, not the command" (fun () ->
                task {
                    let store = newStore ()
                    let! decision = Actor.executeAsync store Todo.actor "l" (Todo.Start "x") ct
                    let! stored = store.ReadStreamAsync("l", 0L, None, ct)

                    Expect.equal (stored |> List.map (fun message -> message.Type)) [ "todos.started" ] "events only"

                    Expect.equal stored (decision.Events) "returned as stored"
                    Expect.isGreaterThan stored.Head.Position 0L "with positions"
                })

            testCaseTask "a conflicting writer makes execute decide again on fresh state" (fun () ->
                task {
                    let store = newStore ()
                    let mutable intruded = false

                    let racing =
                        intercept store (fun _ _ -> ()) (fun streamId _ ->
                            task {
                                if not intruded then
                                    intruded <- true
                                    let! _ = Actor.executeAsync store Todo.actor streamId (Todo.Start "first") ct
                                    return ()
                            })

                    let! decision = Actor.executeAsync racing Todo.actor "l" (Todo.AddItem "milk") ct
                    let! stored = store.ReadStreamAsync("l", 0L, None, ct)

                    Expect.equal
                        (stored |> List.map (fun message -> message.Type))
                        [ "todos.started"; "todos.item_added" ]
                        "re-decided: no second Started"

                    Expect.equal decision.Loaded.State.Name "first" "fresh state"
                })

            testCaseTask "execute gives up after its attempts with a typed conflict" (fun () ->
                task {
                    let store = newStore ()

                    let hostile =
                        intercept store (fun _ _ -> ()) (fun streamId _ ->
                            task {
                                let! _ =
                                    store.AppendNextAsync([ Actor.command Todo.actor streamId (Todo.Notify "x") ], ct)

                                return ()
                            })

                    let! error =
                        raises<ConcurrencyConflictException>(fun () ->
                            Actor.executeWithAttempts 2 hostile Todo.actor "l" (Todo.Start "x") ct :> Task)

                    Expect.equal error.StreamId "l" "stream"
                })

            testCaseTask "a command that decides nothing appends nothing and does not fail" (fun () ->
                task {
                    let store = newStore ()

                    let quiet =
                        Actor.create "quiet" ignore (fun () (_: Todo.Command) -> []) (fun () (_: Todo.Event) -> ())

                    let! decision = Actor.executeAsync store quiet "q" (Todo.Start "x") ct
                    Expect.isEmpty decision.Events "no events"
                    let! stored = store.ReadStreamAsync("q", 0L, None, ct)
                    Expect.isEmpty stored "nothing stored"
                })

            testCaseTask "an invalid command is refused before anything is stored" (fun () ->
                task {
                    let store = newStore ()

                    let! error =
                        raises<InvalidMessageException>(fun () ->
                            Actor.executeAsync store Cart.actor "c" (Cart.AddItem { apple with Quantity = 0 }) ct
                            :> Task)

                    Expect.equal
                        (List.ofSeq error.Errors)
                        [ FieldError.create "quantity" "must be at least 1" ]
                        "field"

                    let! stored = store.ReadLogAsync(0L, 10, ct)
                    Expect.isEmpty stored "nothing stored"
                })

            testCaseTask "a dispatched command runs through its actor's reactions to the end of the chain" (fun () ->
                task {
                    let store = newStore ()

                    let command =
                        Actor.command Cart.actor "cart-1" (Cart.AddItem apple)
                        |> Message.withMetadataString "request_id" "r-1"

                    let! dispatched = Store.dispatchAsync store command ct
                    Expect.equal dispatched.Seq 1L "seq assigned"
                    let! batches = Drain.runAsync store [ Actor.toReactor Cart.actor ] ct
                    Expect.equal batches 3 "the command, the reaction, the command it sent"
                    let! chain = store.ReadCorrelationAsync(command.CorrelationId, ct)

                    Expect.equal
                        (chain |> List.map (fun message -> message.Type, message.Seq))
                        [
                            "carts.add_item", 1L
                            "carts.item_added", 2L
                            "carts.send_admin_email", 3L
                            "carts.admin_email_sent", 4L
                        ]
                        "chain"

                    Expect.isTrue
                        (chain
                         |> List.forall (fun message -> Metadata.tryString "request_id" message.Metadata = Some "r-1"))
                        "request id everywhere"

                    Expect.equal
                        (chain
                         |> List.pairwise
                         |> List.map (fun (cause, effect) -> effect.CausationId = cause.Id))
                        [ true; true; true ]
                        "each caused by the one before"
                })

            testCaseTask "messages a low-level reactor builds by hand are caused by the message it handled" (fun () ->
                task {
                    let store = newStore ()

                    let echo: Reactor =
                        {
                            Group = "echo"
                            Types = [ "pings.ping" ]
                            Commands = []
                            NeedsHistory = false
                            BatchSize = None
                            StartFrom = StartFrom.Beginning
                            Handle =
                                fun batch _ ->
                                    Task.FromResult
                                        {
                                            Handled =
                                                batch.Messages
                                                |> List.map (fun pending ->
                                                    {
                                                        Message = pending.Message
                                                        Actions =
                                                            [
                                                                Action.AppendNext
                                                                    [
                                                                        Message.create
                                                                            "pongs"
                                                                            "pings.pong"
                                                                            Json.emptyObject
                                                                    ]
                                                            ]
                                                    })
                                            Failure = None
                                        }
                        }

                    let ping =
                        Message.create "pings" "pings.ping" Json.emptyObject
                        |> Message.withMetadataString "user_id" "u-1"

                    let! _ = Store.dispatchAsync store ping ct
                    let! _ = Drain.runAsync store [ echo ] ct
                    let! pongs = store.ReadStreamAsync("pongs", 0L, None, ct)
                    let pong = List.exactlyOne pongs
                    Expect.equal pong.CausationId ping.Id "causation"
                    Expect.equal pong.CorrelationId ping.CorrelationId "correlation"
                    Expect.equal (Metadata.tryString "user_id" pong.Metadata) (Some "u-1") "metadata"
                })

            testCaseTask "drain raises the reactor's own exception and leaves the message unacknowledged" (fun () ->
                task {
                    let store = newStore ()
                    let! _ = Store.dispatchAsync store (Actor.command Todo.actor "l" (Todo.Start "x")) ct
                    let! _ = Store.dispatchAsync store (Actor.command Todo.actor "l" (Todo.Start "y")) ct
                    let reactors = [ Actor.toReactor Todo.actor ]

                    for _ in 1..2 do
                        let! error =
                            raises<CommandRejectedException>(fun () -> Drain.runAsync store reactors ct :> Task)

                        Expect.equal error.Reason "list x already started" "reason"

                    let! stats = store.GroupStatsAsync ct

                    Expect.equal
                        (stats |> List.map (fun (group: GroupStats) -> group.Id, group.PendingStreams))
                        [ "todos", 1L ]
                        "still pending"
                })

            testCaseTask "drain stops reactors that dispatch each other forever" (fun () ->
                task {
                    let store = newStore ()

                    let echo =
                        Todo.actor
                        |> Actor.reactsTo (Codec.only [ nameof Todo.Notified ] Todo.actor.Events) (fun _ _ ->
                            [ Dispatch.command (Todo.Notify "again") ])

                    let! _ = Store.dispatchAsync store (Actor.command echo "l" (Todo.Notify "hello")) ct

                    let! error =
                        raises<InvalidOperationException>(fun () ->
                            Drain.runWithLimitAsync 20 store [ Actor.toReactor echo ] ct :> Task)

                    Expect.stringContains error.Message "did not settle after 20 rounds" "message"
                })

            testCaseTask "drain promotes scheduled commands once they are due" (fun () ->
                task {
                    let clock = ManualClock()
                    let store = MemoryStore(clock) :> IMessageStore
                    let! _ = Store.dispatchAsync store (Actor.command Todo.actor "l" (Todo.Start "x")) ct
                    let reactors = [ Actor.toReactor Todo.actor ]
                    let! _ = Drain.runAsync store reactors ct
                    let! before = store.ReadStreamAsync("l", 0L, None, ct)
                    clock.Advance(TimeSpan.FromSeconds 31.0)
                    let! _ = Drain.runAsync store reactors ct
                    let! after = store.ReadStreamAsync("l", 0L, None, ct)

                    let types (messages: Message list) =
                        messages |> List.map (fun message -> message.Type)

                    Expect.equal (types before) [ "todos.start"; "todos.started" ] "reminder not yet due"

                    Expect.equal
                        (types after |> List.skip 2)
                        [ "todos.notify"; "todos.notified" ]
                        "the reminder ran once due"
                })
        ]
