namespace Sourced.Hosting

open System
open Microsoft.Extensions.Options
open Npgsql
open Sourced.Postgres

/// Checks `SourcedOptions` when the host starts: each problem names the setting, its value and what is allowed.
[<RequireQualifiedAccess>]
module internal OptionsValidation =

    let private key (name: string) = $"{SourcedOptions.SectionName}:{name}"

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

    let private connection (registrations: Registrations) (options: SourcedOptions) (services: IServiceProvider) =
        [
            match ConnectionSource.locate registrations options services with
            | ConnectionSource.DataSource _ -> ()
            | ConnectionSource.ConnectionString(connectionString, origin) ->
                try
                    NpgsqlConnectionStringBuilder connectionString |> ignore
                with :? ArgumentException as error ->
                    // NOTE: the connection string itself is not repeated: it may hold a password.
                    $"{origin} is not a valid PostgreSQL connection string: {error.Message}"
            | ConnectionSource.Missing ->
                $"{key (nameof options.Store)} is Postgres but there is no connection string: set "
                + $"{key (nameof options.ConnectionString)} or ConnectionStrings:{ConnectionSource.ConnectionName}, "
                + "call UsePostgres(connectionString) or UsePostgres(dataSource), or register an NpgsqlDataSource."
        ]

    let private postgres (registrations: Registrations) (options: SourcedOptions) (services: IServiceProvider) =
        [
            yield! atLeast 1L (nameof options.DiscoveryBatch) options.DiscoveryBatch
            yield! notNegative (nameof options.DiscoveryWait) options.DiscoveryWait

            try
                Names.create (OptionsMapping.postgres options) |> ignore
            with :? ArgumentException as error ->
                $"{key (nameof options.Schema)} or {key (nameof options.Prefix)}: {error.Message}"

            yield! connection registrations options services
        ]

    let private store (registrations: Registrations) (options: SourcedOptions) (services: IServiceProvider) =
        [
            match options.Store with
            | StoreKind.Memory ->
                if not (String.IsNullOrWhiteSpace options.ConnectionString) then
                    $"{key (nameof options.ConnectionString)} is set but {key (nameof options.Store)} is Memory: "
                    + "set Store to Postgres to use it, or remove the connection string."
            | StoreKind.Postgres -> yield! postgres registrations options services
            | other -> $"{key (nameof options.Store)} is {other}: it must be Memory or Postgres."
        ]

    /// Every problem with these options; empty when they are fine.
    let problems (registrations: Registrations) (services: IServiceProvider) (options: SourcedOptions) : string list =
        runtime options @ store registrations options services

/// The options validator that `AddSourced` registers (run on start by `ValidateOnStart`, and on first use).
[<Sealed>]
type internal SourcedOptionsValidator(registrations: Registrations, services: IServiceProvider) =
    interface IValidateOptions<SourcedOptions> with
        member _.Validate(name, options) =
            if name <> Options.DefaultName then
                ValidateOptionsResult.Skip
            else
                match OptionsValidation.problems registrations services options with
                | [] -> ValidateOptionsResult.Success
                | problems -> ValidateOptionsResult.Fail problems
