namespace Sourced.Hosting

open Sourced
open Sourced.Postgres

/// From the bindable options to the core's option records.
[<RequireQualifiedAccess>]
module internal OptionsMapping =

    let runtime (changes: seq<RuntimeOptions -> RuntimeOptions>) (options: SourcedOptions) : RuntimeOptions =
        let mapped =
            { RuntimeOptions.defaults with
                Workers = options.Workers
                BatchSize = options.BatchSize
                MaxDrainRounds = options.MaxDrainRounds
                MaxConflicts = options.MaxConflicts
                CatchUpInterval = options.CatchUpInterval
                PromoteInterval = options.PromoteInterval
                HeartbeatInterval = options.HeartbeatInterval
                StaleAfter = options.StaleAfter
                StoreErrorDelay = options.StoreErrorDelay
                Name = options.Name
            }

        Seq.fold (fun current change -> change current) mapped changes

    let postgres (options: SourcedOptions) : PostgresOptions =
        {
            Schema = options.Schema
            Prefix = options.Prefix
            DiscoveryBatch = options.DiscoveryBatch
            DiscoveryWait = options.DiscoveryWait
            PrepareStatements = options.PrepareStatements
        }
