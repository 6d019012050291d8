/// The runtime tests, run on every store: each test makes its own store and its own runtime.
module Sourced.Tests.RuntimeTests

open System
open System.Collections.Concurrent
open System.Threading
open System.Threading.Tasks
open Expecto
open Sourced
open Sourced.Tests.Support
open Sourced.Tests.RuntimeSupport

let item = "work.item"

let work (streamId: string) (number: int) =
    Message.create streamId item (Json.parse $"""{{"number":{number}}}""")

/// Where a recording reactor saw each message, and whether it ever held one stream twice at once.
type Recording() =
    member val Seen = ConcurrentQueue<string * int64>()
    member val Active = ConcurrentDictionary<string, bool>()
    member val Overlaps = ref 0

    member recording.Count = recording.Seen.Count

    member recording.ByStream =
        recording.Seen
        |> Seq.groupBy fst
        |> Seq.map (fun (streamId, seen) -> streamId, seen |> Seq.map snd |> List.ofSeq)
        |> Map.ofSeq

/// A low-level reactor that records, inside the commit, every message it handles.
let recorder (group: string) (recording: Recording) (fail: Message -> bool) : Reactor =
    {
        Group = group
        Types = [ item ]
        Commands = []
        NeedsHistory = false
        BatchSize = None
        StartFrom = StartFrom.Beginning
        Handle =
            fun batch _ ->
                task {
                    if not (recording.Active.TryAdd(batch.StreamId, true)) then
                        Interlocked.Increment recording.Overlaps |> ignore

                    do! Task.Yield()

                    // NOTE: `fail` is asked once per message, up to the first that fails.
                    let failing =
                        batch.Messages |> List.tryFindIndex (fun pending -> fail pending.Message)

                    let handled =
                        batch.Messages
                        |> List.truncate (defaultArg failing batch.Messages.Length)
                        |> List.map (fun pending ->
                            {
                                Message = pending.Message
                                Actions =
                                    [
                                        Action.Sync(fun _ ->
                                            recording.Seen.Enqueue(pending.Message.StreamId, pending.Message.Seq)
                                            Task.FromResult())
                                    ]
                            })

                    recording.Active.TryRemove batch.StreamId |> ignore

                    let failure =
                        failing
                        |> Option.map (fun index ->
                            let message = batch.Messages[index].Message
                            message, (InvalidOperationException $"cannot handle #{message.Seq}" :> exn))

                    return { Handled = handled; Failure = failure }
                }
    }

let appendWork (store: IMessageStore) (streams: int) (perStream: int) =
    task {
        for number in 1..perStream do
            let! _ =
                store.AppendNextAsync([ for stream in 1..streams -> work $"s-{stream}" number ], ct)

            ()
    }

let concurrency (create: TimeProvider -> Task<IMessageStore>) =
    let onSystemClock = onSystemClock create

    testList
        "concurrency"
        [
            onSystemClock
                "a reactor with a backlog gets a second worker at once, not at the next catch-up poll"
                (fun store ->
                    task {
                        // After a first batch, each batch waits until another batch of the group runs at the same
                        // time: only a second worker joining the reactor lets them finish.
                        let started = ref 0
                        let arrivals = new CountdownEvent(2)

                        let pair =
                            Reactor.create "pair" [ item ] (fun batch _ ->
                                task {
                                    if Interlocked.Increment(&started.contents) > 1 then
                                        arrivals.Signal() |> ignore

                                        if not (arrivals.Wait(timeout)) then
                                            failwith "no other worker joined"

                                    return
                                        {
                                            Handled =
                                                batch.Messages
                                                |> List.map (fun pending ->
                                                    {
                                                        Message = pending.Message
                                                        Actions = []
                                                    })
                                            Failure = None
                                        }
                                })

                        do! appendWork store 3 1

                        let runtime =
                            new Runtime(
                                store,
                                [ pair ],
                                { fast with
                                    Workers = 2
                                    BatchSize = 1
                                    // NOTE: one stream per claim, or one worker could claim both waiting streams.
                                    StreamsPerClaim = 1
                                    CatchUpInterval = TimeSpan.FromMinutes 10.0
                                }
                            )

                        do!
                            running runtime (fun () ->
                                until runtime "the three streams are processed" (fun () ->
                                    task {
                                        let! stats = statsOf store "pair"
                                        return stats.Lag = 0L && stats.Status = GroupStatus.Active
                                    }))
                    })

            onSystemClock
                "claims grow from one stream while they come back full, up to StreamsPerClaim, and fall back when not"
                (fun store ->
                    task {
                        let asked = ConcurrentQueue<int * int>()

                        let watched =
                            { new DelegatingStore(store) with
                                override _.ClaimManyAsync(request, streams, token) =
                                    task {
                                        let! claims = store.ClaimManyAsync(request, streams, token)
                                        asked.Enqueue((streams, claims.Length))
                                        return claims
                                    }
                            }

                        let recording = Recording()
                        do! appendWork store 40 1

                        let runtime =
                            new Runtime(
                                watched,
                                [ recorder "g" recording (fun _ -> false) ],
                                { fast with
                                    Workers = 1
                                    BatchSize = 1
                                    StreamsPerClaim = 8
                                    MaxDrainRounds = 100
                                }
                            )

                        do!
                            running runtime (fun () ->
                                until runtime "the 40 streams are processed" (fun () ->
                                    Task.FromResult(recording.Count = 40)))

                        // Typically 1, 2, 4, 8, 8, 8, 8 (39 streams), then 1 of 8 asked: back to 1. A claim may come
                        // back short when discovery waits for another transaction; the rule holds whatever happens.
                        let claims = List.ofSeq asked
                        Expect.equal (fst claims.Head) 1 "the first claim asks for one stream"

                        for (previousAsk, previousGot), (ask, _) in List.pairwise claims do
                            let expected =
                                if previousGot >= previousAsk then
                                    min 8 (previousAsk * 2)
                                else
                                    1

                            Expect.equal ask expected $"after asking {previousAsk} and getting {previousGot}"

                        Expect.contains (claims |> List.map fst) 8 "claims grew to StreamsPerClaim"

                        Expect.equal recording.Overlaps.Value 0 "never two claims on one stream"
                    })

            onSystemClock
                "4 workers process many streams: each message once per group, in stream order, one claim at a time"
                (fun store ->
                    task {
                        let first, second = Recording(), Recording()

                        let runtime =
                            new Runtime(
                                store,
                                [
                                    recorder "first" first (fun _ -> false)
                                    recorder "second" second (fun _ -> false)
                                ],
                                fast
                            )

                        do!
                            running runtime (fun () ->
                                task {
                                    do! appendWork store 100 10

                                    do!
                                        until runtime "every message was seen twice" (fun () ->
                                            Task.FromResult(first.Count >= 1000 && second.Count >= 1000))
                                })

                        for recording in [ first; second ] do
                            Expect.equal recording.Count 1000 "no loss, no double processing"
                            Expect.equal recording.Overlaps.Value 0 "never two claims on one stream"

                            for pair in recording.ByStream do
                                Expect.equal pair.Value [ 1L .. 10L ] $"stream {pair.Key} in order"
                    })

            onSystemClock "a busy reactor cannot starve another one" (fun store ->
                task {
                    let busy, quiet = Recording(), Recording()
                    let order = ConcurrentQueue<string>()

                    let tracking (reactor: Reactor) =
                        { reactor with
                            Handle =
                                fun batch token ->
                                    order.Enqueue reactor.Group
                                    reactor.Handle batch token
                        }

                    let quietReactor =
                        { recorder "quiet" quiet (fun _ -> false) with
                            Types = [ "work.other" ]
                        }

                    do! appendWork store 60 1

                    let! _ =
                        store.AppendNextAsync([ Message.create "x" "work.other" Json.emptyObject ], ct)

                    let runtime =
                        new Runtime(
                            store,
                            [ tracking (recorder "busy" busy (fun _ -> false)); tracking quietReactor ],
                            { fast with
                                Workers = 1
                                BatchSize = 1
                                MaxDrainRounds = 3
                            }
                        )

                    do!
                        running runtime (fun () ->
                            until runtime "all done" (fun () -> Task.FromResult(busy.Count = 60 && quiet.Count = 1)))

                    let position = order |> Seq.findIndex ((=) "quiet")
                    Expect.isLessThan position 10 "the quiet reactor got a turn early"
                })
        ]

let failures (create: TimeProvider -> Task<IMessageStore>) =
    let onSystemClock = onSystemClock create
    let onManualClock = onManualClock create

    testList
        "failures"
        [
            onSystemClock
                "a failure in a claim of many streams: the streams before it complete, those after it wait, it is retried"
                (fun store ->
                    task {
                        let recording = Recording()
                        let handledOrder = ConcurrentQueue<string>()
                        let mutable broken = true

                        let failOnce (message: Message) =
                            if message.StreamId = "s-2" && broken then
                                broken <- false
                                true
                            else
                                false

                        let reactor =
                            let inner = recorder "g" recording failOnce

                            { inner with
                                Handle =
                                    fun batch token ->
                                        handledOrder.Enqueue batch.StreamId
                                        inner.Handle batch token
                            }

                        do! appendWork store 4 1

                        let runtime =
                            new Runtime(
                                store,
                                [ reactor ],
                                { fast with
                                    Workers = 1
                                    BatchSize = 1
                                    StreamsPerClaim = 4
                                    Strategies = Map [ "g", ErrorStrategy.retry 3 (TimeSpan.FromMilliseconds 10.0) ]
                                }
                            )

                        let retried =
                            nextEvent runtime (function
                                | RuntimeEvent.Retrying(failure, _) -> failure.Message.StreamId = "s-2"
                                | _ -> false)

                        do!
                            running runtime (fun () ->
                                task {
                                    let! _ = retried

                                    do!
                                        until runtime "the four streams are processed" (fun () ->
                                            Task.FromResult(recording.Count = 4))
                                })

                        // Claims of 1 stream (s-1), then 2 (s-2 fails, s-3 is released unhandled), then the rest.
                        Expect.equal
                            (List.ofSeq handledOrder)
                            [ "s-1"; "s-2"; "s-2"; "s-3"; "s-4" ]
                            "the stream after the failure waited for the retry"

                        Expect.equal
                            (recording.Seen |> List.ofSeq)
                            [ "s-1", 1L; "s-2", 1L; "s-3", 1L; "s-4", 1L ]
                            "each message once, in the order of the log"
                    })

            onManualClock
                "a failing group is retried per its policy, then stopped with its error, while others run on; a restart resumes it"
                (fun clock store ->
                    task {
                        let healthy, flaky = Recording(), Recording()
                        let mutable broken = true
                        let retries = ConcurrentQueue<int * TimeSpan>()
                        let stops = ConcurrentQueue<string>()

                        let strategy =
                            ErrorStrategy.retry 2 (TimeSpan.FromSeconds 5.0)
                            |> ErrorStrategy.onRetry (fun failure at ->
                                retries.Enqueue(failure.Attempt, at - failure.At))
                            |> ErrorStrategy.onStop (fun failure -> stops.Enqueue failure.Error.Message)

                        let runtime =
                            new Runtime(
                                store,
                                [
                                    recorder "healthy" healthy (fun _ -> false)
                                    recorder "flaky" flaky (fun _ -> broken)
                                ],
                                { fast with
                                    Strategies = Map [ "flaky", strategy ]
                                }
                            )

                        let retried attempt =
                            nextEvent runtime (function
                                | RuntimeEvent.Retrying(failure, _) -> failure.Attempt = attempt
                                | _ -> false)

                        do!
                            running runtime (fun () ->
                                task {
                                    let firstRetry = retried 1
                                    let! _ = store.AppendNextAsync([ work "a" 1; work "b" 1 ], ct)
                                    let! _ = firstRetry
                                    let! paused = statsOf store "flaky"
                                    Expect.equal paused.RetryAt (Some(clock.GetUtcNow().AddSeconds 5.0)) "paused 5 s"

                                    let secondRetry = retried 2
                                    clock.Advance(TimeSpan.FromSeconds 5.0)
                                    runtime.WakeAll()
                                    let! _ = secondRetry

                                    let stopped =
                                        nextEvent runtime (function
                                            | RuntimeEvent.GroupStopped _ -> true
                                            | _ -> false)

                                    clock.Advance(TimeSpan.FromSeconds 10.0)
                                    runtime.WakeAll()
                                    let! _ = stopped

                                    let! stats = statsOf store "flaky"
                                    Expect.equal stats.Status GroupStatus.Stopped "stopped"

                                    Expect.equal
                                        (stats.Error |> Option.map (fun error -> error.Error))
                                        (Some "cannot handle #1")
                                        "error recorded"

                                    Expect.isSome
                                        (stats.Error |> Option.bind (fun error -> error.Message))
                                        "message recorded"

                                    do!
                                        until runtime "the healthy group is done" (fun () ->
                                            Task.FromResult(healthy.Count = 2))

                                    broken <- false
                                    do! runtime.StartGroupAsync("flaky", ct)

                                    do!
                                        until runtime "the flaky group is done" (fun () ->
                                            Task.FromResult(flaky.Count = 2))
                                })

                        Expect.equal
                            (List.ofSeq retries)
                            [ 1, TimeSpan.FromSeconds 5.0; 2, TimeSpan.FromSeconds 10.0 ]
                            "retries per policy"

                        Expect.equal (List.ofSeq stops) [ "cannot handle #1" ] "stopped once"
                    })

            onManualClock "the retry count starts again after a success" (fun clock store ->
                task {
                    let flaky = Recording()
                    let failing = ConcurrentDictionary<int64, bool>()
                    let attempts = ConcurrentQueue<int>()

                    let strategy =
                        ErrorStrategy.retry 5 (TimeSpan.FromSeconds 1.0)
                        |> ErrorStrategy.onRetry (fun failure _ -> attempts.Enqueue failure.Attempt)

                    let fail (message: Message) = failing.ContainsKey message.Seq

                    let runtime =
                        new Runtime(
                            store,
                            [ recorder "flaky" flaky fail ],
                            { fast with
                                ErrorStrategy = strategy
                                BatchSize = 1
                            }
                        )

                    do!
                        running runtime (fun () ->
                            task {
                                failing[1L] <- true

                                let retried =
                                    nextEvent runtime (function
                                        | RuntimeEvent.Retrying _ -> true
                                        | _ -> false)

                                let! _ = store.AppendNextAsync([ work "a" 1 ], ct)
                                let! _ = retried
                                failing.Clear()
                                clock.Advance(TimeSpan.FromSeconds 1.0)
                                runtime.WakeAll()
                                do! until runtime "recovered" (fun () -> Task.FromResult(flaky.Count = 1))
                                let! healthy = statsOf store "flaky"
                                Expect.equal healthy.RetryCount 0 "reset"

                                failing[2L] <- true

                                let retriedAgain =
                                    nextEvent runtime (function
                                        | RuntimeEvent.Retrying _ -> true
                                        | _ -> false)

                                let! _ = store.AppendNextAsync([ work "a" 2 ], ct)
                                let! _ = retriedAgain
                                ()
                            })

                    Expect.equal (List.ofSeq attempts) [ 1; 1 ] "each failure after a success is a first attempt"
                })

            onSystemClock "a failing message keeps the messages before it acknowledged" (fun store ->
                task {
                    let recording = Recording()
                    let stopped = ref None

                    let strategy =
                        ErrorStrategy.stop
                        |> ErrorStrategy.onStop (fun failure -> stopped.Value <- Some failure.Message.Seq)

                    let runtime =
                        new Runtime(
                            store,
                            [ recorder "g" recording (fun message -> message.Seq = 3L) ],
                            { fast with ErrorStrategy = strategy }
                        )

                    let! _ = store.AppendNextAsync([ work "a" 1; work "a" 2; work "a" 3 ], ct)

                    let stoppedEvent =
                        nextEvent runtime (function
                            | RuntimeEvent.GroupStopped _ -> true
                            | _ -> false)

                    do!
                        running runtime (fun () ->
                            task {
                                let! _ = stoppedEvent
                                ()
                            })

                    Expect.equal (List.ofSeq recording.Seen) [ "a", 1L; "a", 2L ] "the prefix was committed"
                    Expect.equal stopped.Value (Some 3L) "the strategy got the failing message"
                    let! stats = statsOf store "g"
                    Expect.equal stats.Lag 1L "only the failing message waits"
                })

            onSystemClock
                "an action that fails to execute goes to the strategy and the worker carries on (hazard 3)"
                (fun store ->
                    task {
                        let healthy = Recording()

                        let breaking =
                            Projector.eventSourced
                                "breaking"
                                (Codec.union<Todo.Event> "todos")
                                (fun _ -> 0)
                                (fun count _ -> count + 1)
                                (fun _ _ -> task { return raise (TimeoutException "projection table locked") })

                        let runtime =
                            new Runtime(
                                store,
                                [ Projector.toReactor breaking; recorder "healthy" healthy (fun _ -> false) ],
                                { fast with Workers = 1 }
                            )

                        do!
                            running runtime (fun () ->
                                task {
                                    let stopped =
                                        nextEvent runtime (function
                                            | RuntimeEvent.GroupStopped _ -> true
                                            | _ -> false)

                                    let! _ =
                                        store.AppendNextAsync(
                                            [ Codec.message Todo.actor.Events "t" (Todo.Started "x") ],
                                            ct
                                        )

                                    let! event = stopped

                                    match event with
                                    | RuntimeEvent.GroupStopped failure ->
                                        Expect.equal
                                            failure.Error.Message
                                            "projection table locked"
                                            "the sync's error"
                                    | other -> failtestf "unexpected %A" other

                                    let! _ = store.AppendNextAsync([ work "a" 1 ], ct)

                                    do!
                                        until runtime "the one worker still works" (fun () ->
                                            Task.FromResult(healthy.Count = 1))
                                })

                        let! stats = statsOf store "breaking"
                        Expect.equal stats.Lag 1L "nothing acknowledged"
                    })

            onSystemClock "a conflict runs the batch again on fresh history" (fun store ->
                task {
                    let mutable intrusions = 0

                    /// Appends to the stream itself on its first attempt, so that its decision loses.
                    let racing: Reactor =
                        {
                            Group = "racing"
                            Types = [ item ]
                            Commands = []
                            NeedsHistory = true
                            BatchSize = None
                            StartFrom = StartFrom.Beginning
                            Handle =
                                fun batch token ->
                                    task {
                                        if Interlocked.Increment &intrusions = 1 then
                                            let! _ =
                                                store.AppendNextAsync(
                                                    [ Message.create batch.StreamId "work.noise" Json.emptyObject ],
                                                    token
                                                )

                                            ()

                                        let last = batch.History |> List.last

                                        let decided =
                                            { Message.create batch.StreamId "work.done" Json.emptyObject with
                                                Seq = last.Seq + 1L
                                            }

                                        return
                                            {
                                                Handled =
                                                    batch.Messages
                                                    |> List.map (fun pending ->
                                                        {
                                                            Message = pending.Message
                                                            Actions =
                                                                [
                                                                    Action.AppendAfter(
                                                                        batch.StreamId,
                                                                        last.Seq,
                                                                        [ decided ]
                                                                    )
                                                                ]
                                                        })
                                                Failure = None
                                            }
                                    }
                        }

                    let runtime = new Runtime(store, [ racing ], fast)

                    do!
                        running runtime (fun () ->
                            task {
                                let conflicted =
                                    nextEvent runtime (function
                                        | RuntimeEvent.Conflicted _ -> true
                                        | _ -> false)

                                let completed =
                                    nextEvent runtime (function
                                        | RuntimeEvent.BatchCompleted _ -> true
                                        | _ -> false)

                                let! _ = store.AppendNextAsync([ work "a" 1 ], ct)
                                let! _ = conflicted
                                let! _ = completed
                                ()
                            })

                    let! stream = store.ReadStreamAsync("a", 0L, None, ct)

                    Expect.equal
                        (stream |> List.map (fun message -> message.Type))
                        [ item; "work.noise"; "work.done" ]
                        "decided after the intruder"
                })

            onSystemClock
                "a failure that cannot be recorded is reported, and its message is not held back"
                (fun store ->
                    task {
                        let recording = Recording()
                        let mutable outages = 1
                        let mutable failures = 1

                        let flaky =
                            { new DelegatingStore(store) with
                                override _.RetryCountAsync(group, token) =
                                    if Interlocked.Decrement &outages >= 0 then
                                        Task.FromException<int>(TimeoutException "retry count unavailable")
                                    else
                                        store.RetryCountAsync(group, token)
                            }

                        let reactor = recorder "g" recording (fun _ -> Interlocked.Decrement &failures >= 0)

                        let runtime =
                            new Runtime(
                                flaky,
                                [ reactor ],
                                { fast with
                                    StaleAfter = TimeSpan.FromHours 1.0
                                }
                            )

                        let trouble =
                            nextEvent runtime (function
                                | RuntimeEvent.Trouble(operation, _) -> operation = "recovering g"
                                | _ -> false)

                        do!
                            running runtime (fun () ->
                                task {
                                    let! _ = store.AppendNextAsync([ work "a" 1 ], ct)
                                    let! _ = trouble

                                    do!
                                        until runtime "processed at the next attempt" (fun () ->
                                            Task.FromResult(recording.Count = 1))
                                })
                    })

            onSystemClock "a store that cannot be reached is reported and the workers carry on" (fun store ->
                task {
                    let recording = Recording()
                    let mutable outages = 3

                    let flaky =
                        { new DelegatingStore(store) with
                            override _.ClaimManyAsync(request, streams, token) =
                                if Interlocked.Decrement &outages >= 0 then
                                    Task.FromException<Claim list>(TimeoutException "connection refused")
                                else
                                    store.ClaimManyAsync(request, streams, token)
                        }

                    let troubles = ConcurrentQueue<string>()

                    let runtime =
                        new Runtime(flaky, [ recorder "g" recording (fun _ -> false) ], { fast with Workers = 1 })

                    use _ =
                        runtime.Subscribe(function
                            | RuntimeEvent.Trouble(_, error) -> troubles.Enqueue error.Message
                            | _ -> ())

                    do!
                        running runtime (fun () ->
                            task {
                                let! _ = store.AppendNextAsync([ work "a" 1 ], ct)

                                do!
                                    until runtime "processed despite the outages" (fun () ->
                                        Task.FromResult(recording.Count = 1))
                            })

                    Expect.isGreaterThanOrEqual troubles.Count 1 "reported"
                    Expect.isTrue (troubles |> Seq.forall ((=) "connection refused")) "the store's error"
                })
        ]

let lifecycle (create: TimeProvider -> Task<IMessageStore>) =
    let onSystemClock = onSystemClock create
    let onManualClock = onManualClock create

    testList
        "lifecycle"
        [
            onSystemClock "resetting a projector's group rebuilds the projection without reacting again" (fun store ->
                task {
                    let syncs = ConcurrentQueue<int * bool>()
                    let events = Codec.union<Todo.Event> "todos"

                    let counter =
                        Projector.eventSourced
                            "counter"
                            events
                            (fun _ -> 0)
                            (fun count _ -> count + 1)
                            (fun projection _ ->
                                syncs.Enqueue(projection.State, projection.Replaying)
                                Task.FromResult())
                        |> Projector.reactsToAll (fun count _ ->
                            [
                                Dispatch.send Todo.actor.Commands (Todo.Notify $"{count}")
                                |> Dispatch.toStream "out"
                            ])

                    let runtime =
                        new Runtime(store, [ Projector.toReactor counter ], { fast with Workers = 1; BatchSize = 1 })

                    let outbox () =
                        task {
                            let! out = store.ReadStreamAsync("out", 0L, None, ct)
                            return out.Length
                        }

                    do!
                        running runtime (fun () ->
                            task {
                                let! _ =
                                    store.AppendNextAsync(
                                        [
                                            Codec.message events "t" (Todo.Started "x")
                                            Codec.message events "t" (Todo.ItemAdded "a")
                                        ],
                                        ct
                                    )

                                do! until runtime "two live syncs" (fun () -> Task.FromResult(syncs.Count = 2))
                                do! runtime.ResetGroupAsync("counter", ct)
                                do! until runtime "two replayed syncs" (fun () -> Task.FromResult(syncs.Count = 4))

                                let! _ = store.AppendNextAsync([ Codec.message events "t" (Todo.ItemAdded "b") ], ct)

                                do! until runtime "a live sync" (fun () -> Task.FromResult(syncs.Count = 5))

                                do!
                                    until runtime "three reactions" (fun () ->
                                        task { let! count = outbox () in return count = 3 })
                            })

                    Expect.equal
                        (List.ofSeq syncs)
                        [ 1, false; 2, false; 1, true; 2, true; 3, false ]
                        "rebuilt, then live again"

                    let! out = outbox ()
                    Expect.equal out 3 "no reaction while replaying"
                })

            onManualClock "a reaction's scheduled command runs once its time has come" (fun clock store ->
                task {
                    let runtime = new Runtime(store, [ Actor.toReactor Todo.actor ], fast)

                    let notified () =
                        task {
                            let! stream = store.ReadStreamAsync("l", 0L, None, ct)
                            return stream |> List.exists (fun message -> message.Type = "todos.notified")
                        }

                    do!
                        running runtime (fun () ->
                            task {
                                let! _ = runtime.DispatchAsync(Actor.command Todo.actor "l" (Todo.Start "x"), ct)

                                // The reaction to Started schedules the reminder in the same batch that sends the
                                // first notification, so once that notification exists the reminder is due at +30s.
                                do!
                                    until runtime "the reaction to Started" (fun () ->
                                        task {
                                            let! stream = store.ReadStreamAsync("notifications", 0L, None, ct) in
                                            return not stream.IsEmpty
                                        })

                                let! early = notified ()
                                Expect.isFalse early "not before its time"
                                clock.Advance(TimeSpan.FromSeconds 30.0)
                                do! until runtime "the reminder ran" notified
                            })
                })

            onSystemClock "stopping finishes the batch in flight and takes no more" (fun store ->
                task {

                    let entered =
                        TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)

                    let proceed =
                        TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)

                    let recording = Recording()
                    let inner = recorder "slow" recording (fun _ -> false)

                    let slow =
                        { inner with
                            BatchSize = Some 1
                            Handle =
                                fun batch token ->
                                    task {
                                        entered.TrySetResult() |> ignore
                                        do! proceed.Task
                                        return! inner.Handle batch token
                                    }
                        }

                    let runtime = new Runtime(store, [ slow ], { fast with Workers = 1 })
                    do! runtime.StartAsync ct
                    let! _ = store.AppendNextAsync([ work "a" 1; work "a" 2 ], ct)
                    do! entered.Task.WaitAsync(timeout)
                    let stopping = runtime.StopAsync ct
                    Expect.isFalse stopping.IsCompleted "waits for the batch in flight"
                    proceed.SetResult()
                    do! stopping.WaitAsync(timeout)

                    Expect.equal
                        (List.ofSeq recording.Seen)
                        [ "a", 1L ]
                        "the batch in flight was completed, no new one taken"
                })

            onSystemClock "notifications wake idle workers without waiting for the catch-up poll" (fun store ->
                task {
                    let recording = Recording()

                    let runtime =
                        new Runtime(
                            store,
                            [ recorder "g" recording (fun _ -> false) ],
                            { fast with
                                CatchUpInterval = TimeSpan.FromHours 1.0
                            }
                        )

                    do!
                        running runtime (fun () ->
                            task {
                                for number in 1..3 do
                                    let! _ = store.AppendNextAsync([ work "a" number ], ct)

                                    do!
                                        until runtime $"message {number}" (fun () ->
                                            Task.FromResult(recording.Count = number))
                            })
                })

            onManualClock "the claims of a worker that went silent are freed for the others" (fun clock store ->
                task {
                    let recording = Recording()
                    let reactor = recorder "g" recording (fun _ -> false)
                    do! Store.registerAsync store reactor ct
                    let! _ = store.AppendNextAsync([ work "a" 1 ], ct)

                    let! ghost =
                        store.ClaimAsync(
                            {
                                Group = "g"
                                Worker = "ghost"
                                BatchSize = 10
                                WithHistory = false
                            },
                            ct
                        )

                    Expect.isSome ghost "a worker that will never come back"
                    let runtime = new Runtime(store, [ reactor ], fast)

                    do!
                        running runtime (fun () ->
                            task {
                                let reclaimed =
                                    nextEvent runtime (function
                                        | RuntimeEvent.Reclaimed _ -> true
                                        | _ -> false)

                                clock.Advance(fast.StaleAfter + TimeSpan.FromSeconds 1.0)
                                let! _ = reclaimed
                                runtime.WakeAll()

                                do!
                                    until runtime "processed by a live worker" (fun () ->
                                        Task.FromResult(recording.Count = 1))
                            })
                })

            onSystemClock "a runtime refuses two reactors in one group and zero workers" (fun store ->
                task {
                    let reactor = recorder "g" (Recording()) (fun _ -> false)

                    Expect.throwsT<ArgumentException>
                        (fun () -> new Runtime(store, [ reactor; reactor ]) |> ignore)
                        "same group"

                    Expect.throwsT<ArgumentException>
                        (fun () -> new Runtime(store, [ reactor ], { fast with Workers = 0 }) |> ignore)
                        "no workers"
                })
        ]

/// Every runtime test, each on a fresh store made by `create` on the system clock or on a manual clock.
let tests (name: string) (create: TimeProvider -> Task<IMessageStore>) : Test =
    testList "runtime" [ testList name [ concurrency create; failures create; lifecycle create ] ]

let memory =
    tests "memory store" (fun clock -> Task.FromResult(MemoryStore(clock) :> IMessageStore))
