/// Composes every test list explicitly.
module Sourced.Tests.Main

open Expecto

let all =
    testList
        "Sourced.Core"
        [
            CodecTests.tests
            StoreContract.Suite.memory
            StoreModelTests.tests
            MessageTests.tests
            ActorTests.tests
            ProjectorTests.tests
            HandlerTests.tests
            DirectUseTests.tests
            ScenarioTests.tests
            ErrorStrategyTests.tests
            WorkQueueTests.tests
            RuntimeTests.memory
            WorkflowTests.memory
            UnitTests.tests
            SupervisorTests.tests
            SampleTests.tests
        ]

[<EntryPoint>]
let main argv = Sourced.Tests.Runner.run argv all
