namespace Sourced.Hosting

open Sourced

/// From the bindable options to the core's option records.
[<RequireQualifiedAccess>]
module internal OptionsMapping =

    let runtime (registrations: Registrations) (options: SourcedOptions) : RuntimeOptions =
        let mapped =
            { RuntimeOptions.defaults with
                Workers = options.Workers
                BatchSize = options.BatchSize
                StreamsPerClaim = options.StreamsPerClaim
                MaxDrainRounds = options.MaxDrainRounds
                MaxConflicts = options.MaxConflicts
                CatchUpInterval = options.CatchUpInterval
                PromoteInterval = options.PromoteInterval
                HeartbeatInterval = options.HeartbeatInterval
                StaleAfter = options.StaleAfter
                StoreErrorDelay = options.StoreErrorDelay
                Name = options.Name
            }

        let changed =
            Seq.fold (fun current change -> change current) mapped registrations.RuntimeChanges

        { changed with
            Strategies =
                (changed.Strategies, registrations.GroupStrategies)
                ||> Seq.fold (fun strategies pair -> Map.add pair.Key pair.Value strategies)
        }
