/// The store contract: one suite that every `IMessageStore` must pass. It only talks to the interface and the
/// `Store` helpers; every test creates its own store on its own manual clock, so the tests run in parallel.
module Sourced.Tests.StoreContract.Suite

open System
open System.Threading.Tasks
open Expecto
open Sourced
open Sourced.Tests.StoreContract

/// The whole contract, for a store created on the given clock.
let tests (name: string) (create: TimeProvider -> Task<IMessageStore>) : Test =
    testList
        name
        [
            Appending.tests create
            Reading.tests create
            Scheduling.tests create
            Groups.tests create
            Claiming.tests create
            Completing.tests create
            ClaimingMany.tests create
            Notifying.tests create
            Transactions.tests create
        ]

let memory =
    tests "memory store" (fun clock -> Task.FromResult(MemoryStore(clock) :> IMessageStore))
