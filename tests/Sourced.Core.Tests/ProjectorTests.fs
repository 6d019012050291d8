module Sourced.Tests.ProjectorTests

open System
open System.Collections.Concurrent
open System.Threading.Tasks
open Expecto
open Sourced
open Sourced.Testing
open Sourced.Tests.Support

/// Orders whose release waits for both payment and build (the seed's TODO-list projector).
module Orders =
    type Command = Release of orderId: string

    type Event =
        | ItemAdded of price: int
        | PaymentConfirmed
        | BuildConfirmed
        | Probed

    let actor =
        Actor.create "orders" ignore (fun () (Release _) -> []) (fun () (_: Event) -> ())

type Listing =
    {
        Id: string
        Total: int
        Paid: bool
        Built: bool
    }

let emptyListing id =
    {
        Id = id
        Total = 0
        Paid = false
        Built = false
    }

let evolve listing event =
    match event with
    | Orders.ItemAdded price ->
        { listing with
            Total = listing.Total + price
        }
    | Orders.PaymentConfirmed -> { listing with Paid = true }
    | Orders.BuildConfirmed -> { listing with Built = true }
    | Orders.Probed -> listing

let release listing _ =
    if listing.Paid && listing.Built then
        [ Dispatch.send Orders.actor.Commands (Orders.Release listing.Id) ]
    else
        []

type Table = ConcurrentDictionary<string, Listing>

let readyOrders (table: Table) =
    let load id _ =
        Task.FromResult(table.GetOrAdd(id, emptyListing))

    let save (projection: Projection<Listing>) _ =
        table[projection.StreamId] <- projection.State
        Task.FromResult()

    Projector.stateStored "ready-orders" Orders.actor.Events load evolve save
    |> Projector.reacts [ nameof Orders.PaymentConfirmed; nameof Orders.BuildConfirmed ] release

let orderEvent streamId event =
    Codec.message Orders.actor.Events streamId event

let syncAll (actions: Sourced.Action list) =
    for action in actions do
        match action with
        | Sourced.Action.Sync run ->
            (run
                {
                    Transaction = None
                    CancellationToken = Threading.CancellationToken.None
                })
                .Wait()
        | _ -> ()

let tests =
    testList
        "projectors"
        [
            testCase "a state-stored projector loads, evolves and saves its state in sync"
            <| fun _ ->
                let table = Table()
                table["o-1"] <- { emptyListing "o-1" with Total = 10 }

                Scenario.projector (readyOrders table) "o-1"
                |> When.event (Orders.ItemAdded 5)
                |> Then.afterSync (fun _ -> Expect.equal table["o-1"].Total 15 "saved")

            testCase "sync runs once, however many times its effects are checked"
            <| fun _ ->
                let mutable runs = 0

                let counting =
                    Projector.eventSourced "counting" Orders.actor.Events emptyListing evolve (fun _ _ ->
                        runs <- runs + 1
                        Task.FromResult())

                let scenario = Scenario.projector counting "o-1" |> When.event (Orders.ItemAdded 5)

                scenario |> Then.afterSync ignore
                scenario |> Then.afterSync (fun _ -> Expect.equal runs 1 "not run twice")

            testCase "a reaction sees the projected state as of its event (TODO-list pattern)"
            <| fun _ ->
                let table = Table()
                table["o-1"] <- { emptyListing "o-1" with Paid = true }

                Scenario.projector (readyOrders table) "o-1"
                |> When.event Orders.BuildConfirmed
                |> Then.messages [ Codec.message Orders.actor.Commands "o-1" (Orders.Release "o-1") ]

            testCase "replayed events are synced but not reacted to"
            <| fun _ ->
                let table = Table()

                let history =
                    stored
                        [
                            orderEvent "o-1" Orders.PaymentConfirmed
                            orderEvent "o-1" Orders.BuildConfirmed
                        ]

                let batch =
                    { batchOf "ready-orders" history 2 with
                        Messages = history |> List.map (fun message -> { Message = message; Replaying = true })
                    }

                let reactor = Projector.toReactor (readyOrders table)
                let result = (reactor.Handle batch Threading.CancellationToken.None).Result
                let actions = result.Handled |> List.collect (fun handled -> handled.Actions)
                Expect.isEmpty (messagesOf actions) "no reactions"
                syncAll actions

                Expect.equal
                    table["o-1"]
                    { emptyListing "o-1" with
                        Paid = true
                        Built = true
                    }
                    "rebuilt"

            testCase "one sync per batch gets the state after the batch, its events and the replay flag"
            <| fun _ ->
                let mutable seen = []

                let projector =
                    Projector.eventSourced "totals" Orders.actor.Events emptyListing evolve (fun projection _ ->
                        seen <- (projection.State.Total, projection.Events.Length, projection.Replaying) :: seen
                        Task.FromResult())

                let history =
                    stored
                        [
                            orderEvent "o-1" (Orders.ItemAdded 1)
                            orderEvent "o-1" (Orders.ItemAdded 2)
                            orderEvent "o-1" (Orders.ItemAdded 4)
                        ]

                let result =
                    (Projector.toReactor projector).Handle (batchOf "totals" history 2) Threading.CancellationToken.None

                let handled = result.Result.Handled
                Expect.equal (handled |> List.map (fun item -> item.Actions.Length)) [ 0; 1 ] "sync on the last message"
                syncAll (handled |> List.collect (fun item -> item.Actions))
                Expect.equal seen [ 7, 2, false ] "state from the whole history, two batch events, live"

            testCase "a failing evolve keeps the prefix, synced with the state before the failure"
            <| fun _ ->
                let mutable saved = None

                let projector =
                    Projector.eventSourced
                        "fragile"
                        Orders.actor.Events
                        emptyListing
                        (fun listing event ->
                            match event with
                            | Orders.Probed -> failwith "probe failed"
                            | _ -> evolve listing event)
                        (fun projection _ ->
                            saved <- Some projection.State.Total
                            Task.FromResult())

                let history =
                    stored
                        [
                            orderEvent "o" (Orders.ItemAdded 3)
                            orderEvent "o" Orders.Probed
                            orderEvent "o" (Orders.ItemAdded 4)
                        ]

                let result =
                    ((Projector.toReactor projector).Handle
                        (batchOf "fragile" history 3)
                        Threading.CancellationToken.None)
                        .Result

                Expect.equal (result.Handled |> List.map (fun item -> item.Message.Id)) [ history[0].Id ] "prefix"

                Expect.equal
                    (result.Failure |> Option.map (fun (message, _) -> message.Id))
                    (Some history[1].Id)
                    "failed at the probe"

                syncAll (result.Handled |> List.collect (fun item -> item.Actions))
                Expect.equal saved (Some 3) "state before the failure"

            testCase "a failing reaction keeps the messages before it"
            <| fun _ ->
                let projector =
                    Projector.eventSourced "picky" Orders.actor.Events emptyListing evolve (fun _ _ ->
                        Task.FromResult())
                    |> Projector.reacts [ nameof Orders.BuildConfirmed ] (fun _ _ -> failwith "no")

                let history =
                    stored [ orderEvent "o" (Orders.ItemAdded 3); orderEvent "o" Orders.BuildConfirmed ]

                let result =
                    ((Projector.toReactor projector).Handle (batchOf "picky" history 2) Threading.CancellationToken.None)
                        .Result

                Expect.equal result.Handled.Length 1 "prefix"
                Expect.equal (result.Handled.Head.Actions.Length) 1 "its sync"
                Expect.isSome result.Failure "failure"

            testCase "a state that cannot be loaded fails the batch"
            <| fun _ ->
                let projector =
                    Projector.stateStored
                        "broken"
                        Orders.actor.Events
                        (fun _ _ -> Task.FromException<Listing>(TimeoutException "db down"))
                        evolve
                        (fun _ _ -> Task.FromResult())

                Scenario.projector projector "o"
                |> When.event Orders.Probed
                |> Then.raisesWith<TimeoutException> "db down"

            testCase "a projector consumes exactly the events it projects"
            <| fun _ ->
                let reactor = Projector.toReactor (readyOrders (Table()))
                Expect.equal reactor.Types (Codec.types Orders.actor.Events) "types"
                Expect.isFalse reactor.NeedsHistory "state-stored needs no history"
        ]
