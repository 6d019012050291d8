/// A tiny domain end to end from the packages, on the memory store: a command is dispatched, the actor's
/// reaction dispatches another, a projector sees the events. Exit code 0 when it all ran.
module Smoke

open System.Threading
open System.Threading.Tasks
open Sourced

type Command =
    | AddItem of sku: string
    | Notify of sku: string

type Event =
    | ItemAdded of sku: string
    | Notified of sku: string

let decide _ command =
    match command with
    | AddItem sku -> [ ItemAdded sku ]
    | Notify sku -> [ Notified sku ]

let evolve items event =
    match event with
    | ItemAdded sku -> sku :: items
    | Notified _ -> items

let react _ event =
    match event with
    | ItemAdded sku -> [ Dispatch.command (Notify sku) ]
    | Notified _ -> []

let actor =
    Actor.create "carts" (fun _ -> []) decide evolve
    |> Actor.reacts [ nameof ItemAdded ] react

[<EntryPoint>]
let main _ =
    let ct = CancellationToken.None
    let store = MemoryStore() :> IMessageStore
    let mutable seen = 0

    let count (projection: Projection<int>) _ =
        seen <- projection.State
        Task.FromResult()

    let counter =
        Projector.stateStored
            "notified-count"
            actor.Events
            (fun _ _ -> Task.FromResult 0)
            (fun count event ->
                match event with
                | Notified _ -> count + 1
                | ItemAdded _ -> count)
            count

    // The Postgres package is referenced to prove it restores and links; its options are plain values.
    let postgres = Sourced.Postgres.PostgresOptions.defaults

    let run =
        task {
            let! _ = Store.dispatchAsync store (Actor.command actor "cart-1" (AddItem "p-1")) ct

            let! _ =
                Drain.runAsync store [ Actor.toReactor actor; Projector.toReactor counter ] ct

            return ()
        }

    run.GetAwaiter().GetResult()

    printfn
        "smoke (F#): the projector saw %d notification(s) after one dispatch (Postgres schema default %s)"
        seen
        postgres.Schema

    if seen = 1 then 0 else 1
