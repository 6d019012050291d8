/// Durable workflows, on any store: steps recorded, memoised, retried and resumed; sleeps; contexts; the workers.
module Sourced.Tests.WorkflowTests

open System
open System.Collections.Concurrent
open System.Threading.Tasks
open Expecto
open Sourced
open Sourced.Tests.Support
open Sourced.Tests.RuntimeSupport

/// How many times each step body ran, and what it should do on each attempt.
type Steps() =
    let calls = ConcurrentDictionary<string, int>()

    member _.Run(name: string, value: 'T) : Task<'T> =
        calls.AddOrUpdate(name, 1, fun _ count -> count + 1) |> ignore
        Task.FromResult value

    /// Fails the first `failures` times.
    member _.Flaky(name: string, failures: int, value: 'T) : Task<'T> =
        let call = calls.AddOrUpdate(name, 1, fun _ count -> count + 1)

        if call <= failures then
            Task.FromException<'T>(TimeoutException $"{name} timed out (call {call})")
        else
            Task.FromResult value

    member _.Calls(name: string) =
        match calls.TryGetValue name with
        | true, count -> count
        | _ -> 0

/// The seed spec's greeter: look up an IP, geolocate it, greet.
let greeter (steps: Steps) =
    Workflow.define "greeter" (fun (name: string) ->
        workflow {
            let! ip = Workflow.step "get_ip" (fun _ -> steps.Run("get_ip", "11.111.111"))

            let! place =
                Workflow.step "geolocate" (fun _ -> steps.Run("geolocate", "London, UK"))

            return $"Hello {name}, from {place} ({ip})"
        })

let private typesOf (store: IMessageStore) (streamId: string) =
    task {
        let! messages = store.ReadStreamAsync(streamId, 0L, None, ct)

        return
            messages
            |> List.map (fun message -> message.Type.Substring(message.Type.IndexOf '.' + 1))
    }

let private eventsOf (store: IMessageStore) (definition: WorkflowDefinition<'I, 'O>) (streamId: string) =
    task {
        let! messages = store.ReadStreamAsync(streamId, 0L, None, ct)
        return messages |> List.map (Codec.decode definition.Events)
    }

let private drain (store: IMessageStore) (definition: WorkflowDefinition<'I, 'O>) =
    task {
        let! _ = Drain.runAsync store [ Workflow.toReactor definition ] ct
        ()
    }

let private outputOf (store: IMessageStore) definition streamId =
    task {
        let! state = Workflow.stateAsync store definition streamId ct

        return
            match state.Status with
            | WorkflowStatus.Completed output -> Json.toText output
            | _ -> failtestf "not completed: %A" state.Status
    }

let recording (create: TimeProvider -> Task<IMessageStore>) =
    let onSystemClock = onSystemClock create

    testList
        "recording"
        [
            onSystemClock "a workflow records each step's start and completion, in order, then its output" (fun store ->
                task {
                    let steps = Steps()
                    let definition = greeter steps
                    let! streamId = Workflow.startAsync store definition "Joe" ct

                    do! drain store definition
                    let! types = typesOf store streamId
                    let! output = outputOf store definition streamId

                    Expect.equal
                        types
                        [
                            "started"
                            "step_started"
                            "step_completed"
                            "step_started"
                            "step_completed"
                            "completed"
                        ]
                        "events"

                    Expect.equal output "\"Hello Joe, from London, UK (11.111.111)\"" "output"
                    Expect.equal (steps.Calls "get_ip", steps.Calls "geolocate") (1, 1) "each step ran once"
                    Expect.stringStarts streamId "greeter-" "its own stream"
                })

            onSystemClock "a resumed workflow replays completed steps without running them again" (fun store ->
                task {
                    let steps = Steps()
                    let definition = greeter steps
                    let started = Workflow.startMessage definition "Ann"
                    let streamId = started.StreamId

                    let recorded =
                        [
                            WorkflowEvent.Started(Json.ofString "Ann")
                            WorkflowEvent.StepStarted("get_ip", 1)
                            WorkflowEvent.StepCompleted("get_ip", Json.ofString "1.2.3.4")
                            WorkflowEvent.StepStarted("geolocate", 1)
                        ]
                        |> List.mapi (fun index event ->
                            { Codec.message definition.Events streamId event with
                                Seq = int64 index + 1L
                            })

                    let! _ = store.AppendAsync(streamId, 0L, recorded, ct)

                    do! drain store definition
                    let! output = outputOf store definition streamId

                    Expect.equal (steps.Calls "get_ip", steps.Calls "geolocate") (0, 1) "only the pending step ran"
                    Expect.equal output "\"Hello Ann, from London, UK (1.2.3.4)\"" "the recorded output was used"
                })

            onSystemClock "a step name used twice makes two steps, each memoised under its own key" (fun store ->
                task {
                    let steps = Steps()

                    let definition =
                        Workflow.define "doubler" (fun (start: int) ->
                            workflow {
                                let mutable total = start

                                for _ in 1..3 do
                                    let! doubled = Workflow.step "double" (fun _ -> steps.Run("double", total * 2))
                                    total <- doubled

                                return total
                            })

                    let! streamId = Workflow.startAsync store definition 1 ct

                    do! drain store definition
                    let! events = eventsOf store definition streamId
                    let! output = outputOf store definition streamId

                    let keys =
                        events
                        |> List.choose (fun event ->
                            match event with
                            | WorkflowEvent.StepCompleted(key, _) -> Some key
                            | _ -> None)

                    Expect.equal keys [ "double"; "double#2"; "double#3" ] "keys"
                    Expect.equal output "8" "output"
                    Expect.equal (steps.Calls "double") 3 "each ran once"
                })

            onSystemClock "a workflow started by another reactor's reaction runs like any other" (fun store ->
                task {
                    let steps = Steps()
                    let definition = greeter steps

                    let starter =
                        Handler.create
                            "greeting-starter"
                            [
                                Handler.on (Codec.only [ nameof Todo.Started ] Todo.actor.Events) (fun received ->
                                    match received.Value with
                                    | Todo.Started name -> [ Workflow.start definition name ]
                                    | _ -> [])
                            ]

                    let! _ =
                        Store.dispatchAsync store (Codec.message Todo.actor.Events "todo-1" (Todo.Started "Zoe")) ct

                    let! _ = Drain.runAsync store [ starter; Workflow.toReactor definition ] ct
                    let! log = store.ReadLogAsync(0L, 100, ct)

                    let completed =
                        log |> List.filter (fun message -> message.Type = "greeter.completed")

                    Expect.equal completed.Length 1 "one run completed"

                    Expect.isTrue
                        (Json.deepEquals
                            completed.Head.Payload
                            (Json.parse """{"output":"Hello Zoe, from London, UK (11.111.111)"}"""))
                        "output"

                    Expect.equal completed.Head.CorrelationId (List.head log).CorrelationId "one correlation"
                })
        ]

let retries (create: TimeProvider -> Task<IMessageStore>) =
    let onManualClock = onManualClock create

    let flaky (steps: Steps) (attempts: int) (failures: int) =
        Workflow.define "flaky" (fun (_: string) ->
            workflow {
                let options =
                    { StepOptions.defaults with
                        Attempts = attempts
                    }

                let! answer =
                    Workflow.stepWith options "call_api" (fun _ -> steps.Flaky("call_api", failures, 42))

                return answer
            })

    testList
        "retries, sleeps and contexts"
        [
            onManualClock "a failing step is retried after a growing backoff until it succeeds" (fun clock store ->
                task {
                    let steps = Steps()
                    let definition = flaky steps 3 2
                    let! streamId = Workflow.startAsync store definition "x" ct

                    do! drain store definition
                    let calledBeforeTheRetryTime = steps.Calls "call_api"
                    clock.Advance(TimeSpan.FromSeconds 1.0)
                    do! drain store definition
                    clock.Advance(TimeSpan.FromSeconds 2.0)
                    do! drain store definition
                    let! events = eventsOf store definition streamId
                    let! output = outputOf store definition streamId

                    let failures =
                        events
                        |> List.choose (fun event ->
                            match event with
                            | WorkflowEvent.StepFailed(_, attempt, error, errorType, Some retryAt) ->
                                Some(attempt, error, errorType, retryAt)
                            | _ -> None)

                    Expect.equal calledBeforeTheRetryTime 1 "no retry before its time"
                    Expect.equal (failures |> List.map (fun (attempt, _, _, _) -> attempt)) [ 1; 2 ] "attempts"

                    Expect.equal
                        (failures |> List.map (fun (_, _, _, retryAt) -> retryAt - fixedNow))
                        [ TimeSpan.FromSeconds 1.0; TimeSpan.FromSeconds 3.0 ]
                        "1 s, then 2 s more"

                    let _, error, errorType, _ = failures.Head
                    Expect.equal (error, errorType) ("call_api timed out (call 1)", "System.TimeoutException") "error"
                    Expect.equal output "42" "output"
                    Expect.equal (steps.Calls "call_api") 3 "three calls"
                })

            onManualClock
                "a step out of attempts fails the workflow with its error, and nothing runs after that"
                (fun clock store ->
                    task {
                        let steps = Steps()
                        let definition = flaky steps 2 10
                        let! streamId = Workflow.startAsync store definition "x" ct

                        do! drain store definition
                        clock.Advance(TimeSpan.FromSeconds 1.0)
                        do! drain store definition
                        clock.Advance(TimeSpan.FromMinutes 10.0)
                        do! drain store definition
                        let! types = typesOf store streamId

                        let! failure =
                            task {
                                try
                                    let! output = Workflow.resultAsync store definition streamId ct
                                    return failtestf "completed with %d" output
                                with :? WorkflowFailedException as failure ->
                                    return failure
                            }

                        Expect.equal
                            types
                            [
                                "started"
                                "step_started"
                                "step_failed"
                                "step_retried"
                                "step_started"
                                "step_failed"
                                "failed"
                            ]
                            "events"

                        Expect.equal (steps.Calls "call_api") 2 "two attempts"

                        Expect.stringContains
                            failure.Message
                            "failed in step 'call_api': call_api timed out (call 2)"
                            "message"
                    })

            onManualClock "a durable sleep waits for its time through a scheduled message" (fun clock store ->
                task {
                    let steps = Steps()

                    let definition =
                        Workflow.define "sleeper" (fun (_: string) ->
                            workflow {
                                let! first = Workflow.step "first" (fun _ -> steps.Run("first", 1))
                                do! Workflow.sleep "cool_off" (TimeSpan.FromMinutes 10.0)
                                let! second = Workflow.step "second" (fun _ -> steps.Run("second", 2))
                                return first + second
                            })

                    let! streamId = Workflow.startAsync store definition "x" ct

                    do! drain store definition
                    let! asleep = typesOf store streamId
                    clock.Advance(TimeSpan.FromMinutes 9.0)
                    do! drain store definition
                    let secondBeforeTime = steps.Calls "second"
                    clock.Advance(TimeSpan.FromMinutes 1.0)
                    do! drain store definition
                    let! types = typesOf store streamId

                    Expect.equal (List.last asleep) "sleep_started" "asleep"
                    Expect.equal secondBeforeTime 0 "not before its time"

                    Expect.equal
                        (types |> List.skip asleep.Length)
                        [ "sleep_ended"; "step_started"; "step_completed"; "completed" ]
                        "woke up and went on"
                })

            onManualClock "a context saved by a failing step is recorded and read back by its retry" (fun clock store ->
                task {
                    let definition =
                        Workflow.define "summer" (fun (items: int list) ->
                            workflow {
                                let! total =
                                    Workflow.stepUsing StepOptions.defaults "sum" (fun step ->
                                        task {
                                            let mutable index, total = defaultArg (step.Context<int * int>()) (0, 0)

                                            while index < items.Length do
                                                if items[index] < 0 && step.Attempt = 1 then
                                                    failwith "negative item"

                                                total <- total + abs items[index]
                                                index <- index + 1
                                                step.SaveContext((index, total))

                                            return total
                                        })

                                return total
                            })

                    let! streamId = Workflow.startAsync store definition [ 1; 2; -3; 4 ] ct

                    do! drain store definition
                    let! afterFailure = Workflow.stateAsync store definition streamId ct
                    clock.Advance(TimeSpan.FromSeconds 1.0)
                    do! drain store definition
                    let! output = outputOf store definition streamId

                    Expect.isTrue
                        (afterFailure.Context |> Option.exists (Json.deepEquals (Json.parse "[2,3]")))
                        $"progress kept: {afterFailure.Context}"

                    Expect.equal output "10" "the retry went on from the context"
                })
        ]

let edges (create: TimeProvider -> Task<IMessageStore>) =
    let onSystemClock = onSystemClock create
    let onManualClock = onManualClock create

    let once =
        { StepOptions.defaults with
            Attempts = 1
        }

    testList
        "edges"
        [
            onSystemClock "a body can catch a step's final failure and compensate with other steps" (fun store ->
                task {
                    let steps = Steps()

                    let definition =
                        Workflow.define "seats" (fun (_: string) ->
                            workflow {
                                try
                                    let! _ = Workflow.stepWith once "charge" (fun _ -> steps.Flaky("charge", 9, 0))
                                    return "charged"
                                with :? StepFailedException as failed ->
                                    let! _ = Workflow.step "release_seat" (fun _ -> steps.Run("release_seat", 1))
                                    return $"released after: {failed.Error}"
                            })

                    let! streamId = Workflow.startAsync store definition "x" ct

                    do! drain store definition
                    let! output = outputOf store definition streamId
                    let! types = typesOf store streamId

                    Expect.equal output "\"released after: charge timed out (call 1)\"" "compensated"
                    Expect.equal (steps.Calls "release_seat") 1 "the compensation ran once"

                    Expect.equal
                        types
                        [
                            "started"
                            "step_started"
                            "step_failed"
                            "step_started"
                            "step_completed"
                            "completed"
                        ]
                        "events"
                })

            onSystemClock "a step may return null, and it reads back as null" (fun store ->
                task {
                    let definition =
                        Workflow.define "nulls" (fun (_: string) ->
                            workflow {
                                let! nothing = Workflow.step "lookup" (fun _ -> Task.FromResult(null: string))
                                return isNull nothing
                            })

                    let! streamId = Workflow.startAsync store definition "x" ct

                    do! drain store definition
                    let! output = outputOf store definition streamId

                    Expect.equal output "true" "null came back"
                })

            onSystemClock
                "step names with '#' are refused and a body whose step became a sleep fails, saying so"
                (fun store ->
                    task {
                        let hashed =
                            Workflow.define "hashed" (fun (_: string) ->
                                workflow {
                                    let! value = Workflow.step "pay#2" (fun _ -> Task.FromResult 1)
                                    return value
                                })

                        let changed =
                            Workflow.define "changed" (fun (_: string) ->
                                workflow {
                                    let! value = Workflow.step "pause" (fun _ -> Task.FromResult 1)
                                    return value
                                })

                        let! hashedRun = Workflow.startAsync store hashed "x" ct
                        let started = Workflow.startMessage changed "x"

                        let recorded =
                            [
                                started
                                Codec.message
                                    changed.Events
                                    started.StreamId
                                    (WorkflowEvent.SleepStarted("pause", fixedNow))
                            ]
                            |> List.mapi (fun index message -> { message with Seq = int64 index + 1L })

                        let! _ = store.AppendAsync(started.StreamId, 0L, recorded, ct)

                        let! _ =
                            Drain.runAsync store [ Workflow.toReactor hashed; Workflow.toReactor changed ] ct

                        let! hashedState = Workflow.stateAsync store hashed hashedRun ct
                        let! changedState = Workflow.stateAsync store changed started.StreamId ct

                        match hashedState.Status, changedState.Status with
                        | WorkflowStatus.Failed(_, hashError), WorkflowStatus.Failed(_, changeError) ->
                            Expect.stringContains hashError "without '#'" "hash"

                            Expect.stringContains
                                changeError
                                "'pause' was recorded as a sleep and is now a step"
                                "change"
                        | other -> failtestf "expected two failures, got %A" other
                    })

            onManualClock
                "a retry waits its backoff from when the step failed, not from when it started"
                (fun clock store ->
                    task {
                        let slow =
                            Workflow.define "slow" (fun (_: string) ->
                                workflow {
                                    let! value =
                                        Workflow.stepWith
                                            { StepOptions.defaults with
                                                Backoff = TimeSpan.FromSeconds 10.0
                                            }
                                            "call"
                                            (fun _ ->
                                                clock.Advance(TimeSpan.FromSeconds 30.0)
                                                Task.FromException<int>(TimeoutException "timed out after 30 s"))

                                    return value
                                })

                        let! streamId = Workflow.startAsync store slow "x" ct

                        do! drain store slow
                        let! events = eventsOf store slow streamId

                        let retryAt =
                            events
                            |> List.pick (fun event ->
                                match event with
                                | WorkflowEvent.StepFailed(_, _, _, _, retryAt) -> retryAt
                                | _ -> None)

                        Expect.equal retryAt (fixedNow + TimeSpan.FromSeconds 40.0) "30 s of work, then 10 s"
                    })
        ]

let workers (create: TimeProvider -> Task<IMessageStore>) =
    let onSystemClock = onSystemClock create

    testList
        "under workers"
        [
            onSystemClock
                "workflows started from outside run under the workers and their results can be awaited"
                (fun store ->
                    task {
                        let steps = Steps()
                        let definition = greeter steps
                        use runtime = new Runtime(store, [ Workflow.toReactor definition ], fast)

                        do!
                            running runtime (fun () ->
                                task {
                                    let! results =
                                        [ "Ann"; "Bob"; "Cid" ]
                                        |> List.map (fun name -> Workflow.runAsync store definition name ct)
                                        |> Task.WhenAll

                                    Expect.equal
                                        (List.ofArray results)
                                        [
                                            "Hello Ann, from London, UK (11.111.111)"
                                            "Hello Bob, from London, UK (11.111.111)"
                                            "Hello Cid, from London, UK (11.111.111)"
                                        ]
                                        "outputs"

                                    Expect.equal (steps.Calls "get_ip") 3 "each run's step ran once"
                                })
                    })
        ]

/// Every workflow test, each on a fresh store made by `create`.
let tests (name: string) (create: TimeProvider -> Task<IMessageStore>) : Test =
    testList
        "workflows"
        [
            testList name [ recording create; retries create; edges create; workers create ]
        ]

let memory =
    tests "memory store" (fun clock -> Task.FromResult(MemoryStore(clock) :> IMessageStore))
