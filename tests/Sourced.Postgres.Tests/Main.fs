/// Composes the PostgreSQL test lists explicitly.
module Sourced.Postgres.Tests.Main

open Expecto

let all =
    testList
        "Sourced.Postgres"
        [
            ServerTests.tests
            Sourced.Tests.StoreContract.Suite.tests "postgres store" Stores.create
            Sourced.Tests.RuntimeTests.tests "postgres store" Stores.create
            Sourced.Tests.WorkflowTests.tests "postgres store" Stores.create
            PostgresTests.tests
            GapTests.tests
            MultiProcessTests.tests
            WorkflowProcessTests.tests
        ]

[<EntryPoint>]
let main argv = Sourced.Tests.Runner.run argv all
