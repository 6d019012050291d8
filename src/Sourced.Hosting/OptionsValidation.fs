namespace Sourced.Hosting

open System
open Microsoft.Extensions.Options

/// Checks `SourcedOptions` when the host starts: each problem names the setting, its value and what is allowed.
[<RequireQualifiedAccess>]
module internal OptionsValidation =

    let private key = SourcedOptions.Key

    let private atLeast (minimum: int64) (name: string) (value: int64) =
        [
            if value < minimum then
                $"{key name} is {value}: it must be at least {minimum}."
        ]

    let private positive (name: string) (value: TimeSpan) =
        [
            if value <= TimeSpan.Zero then
                $"{key name} is {value}: it must be a positive time span, such as 00:00:05 for five seconds."
        ]

    let private notNegative (name: string) (value: TimeSpan) =
        [
            if value < TimeSpan.Zero then
                $"{key name} is {value}: it must not be negative."
        ]

    let private runtime (options: SourcedOptions) =
        [
            yield! atLeast 1L (nameof options.Workers) options.Workers
            yield! atLeast 1L (nameof options.BatchSize) options.BatchSize
            yield! atLeast 1L (nameof options.StreamsPerClaim) options.StreamsPerClaim
            yield! atLeast 1L (nameof options.MaxDrainRounds) options.MaxDrainRounds
            yield! atLeast 0L (nameof options.MaxConflicts) options.MaxConflicts
            yield! atLeast 0L (nameof options.LagDegradedAbove) options.LagDegradedAbove
            yield! positive (nameof options.CatchUpInterval) options.CatchUpInterval
            yield! positive (nameof options.PromoteInterval) options.PromoteInterval
            yield! positive (nameof options.HeartbeatInterval) options.HeartbeatInterval
            yield! positive (nameof options.StaleAfter) options.StaleAfter
            yield! notNegative (nameof options.StoreErrorDelay) options.StoreErrorDelay
            yield! positive (nameof options.HealthTimeout) options.HealthTimeout

            if options.StaleAfter <= options.HeartbeatInterval then
                $"{key (nameof options.StaleAfter)} is {options.StaleAfter}: it must be longer than "
                + $"{key (nameof options.HeartbeatInterval)} ({options.HeartbeatInterval}), or the claims of live "
                + "workers are freed for others."

            if String.IsNullOrWhiteSpace options.Name then
                $"{key (nameof options.Name)} is empty: it must name this process's workers (or be left unset)."
        ]

    let private store (services: IServiceProvider) (options: SourcedOptions) =
        match StoreProviders.tryFind services options.Store with
        | Some provider -> List.ofSeq (provider.Problems(options, services))
        | None ->
            let known =
                StoreProviders.all services
                |> List.map (fun provider -> provider.Name)
                |> List.distinct
                |> String.concat ", "

            [
                $"{key (nameof options.Store)} is '{options.Store}': it must be one of {known} (a store package "
                + "adds its name: Sourced.Postgres.Hosting's UsePostgres or AddPostgres adds Postgres)."
            ]

    /// Every problem with these options; empty when they are fine.
    let problems (services: IServiceProvider) (options: SourcedOptions) : string list =
        runtime options @ store services options

/// The options validator that `AddSourced` registers (run on start by `ValidateOnStart`, and on first use).
[<Sealed>]
type internal SourcedOptionsValidator(services: IServiceProvider) =
    interface IValidateOptions<SourcedOptions> with
        member _.Validate(name, options) =
            if name <> Options.DefaultName then
                ValidateOptionsResult.Skip
            else
                match OptionsValidation.problems services options with
                | [] -> ValidateOptionsResult.Success
                | problems -> ValidateOptionsResult.Fail problems
