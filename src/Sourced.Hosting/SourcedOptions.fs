namespace Sourced.Hosting

open System
open Sourced

/// The names of the stores that `Sourced:Store` chooses between.
[<AbstractClass; Sealed>]
type SourcedStores =
    /// The in-memory store: one process, nothing kept across restarts (the default, always there).
    static member Memory = "Memory"

/// The settings of `AddSourced`, bound from the configuration section "Sourced" (keys as the property names,
/// e.g. `Sourced:Workers`), then changed by `SourcedBuilder.Configure`. Checked when the host starts.
[<Sealed; AllowNullLiteral>]
type SourcedOptions() =
    /// The configuration section the options are bound from.
    static member SectionName = "Sourced"

    /// The configuration key of a setting, such as `Sourced:Workers`: what messages about it name.
    static member Key(name: string) = $"{SourcedOptions.SectionName}:{name}"

    /// The name of the message store: "Memory" (the default) or one that a store package added, such as
    /// "Postgres" (Sourced.Postgres.Hosting: `UsePostgres` or `AddPostgres`).
    member val Store = SourcedStores.Memory with get, set

    /// The store's connection string; when empty, `ConnectionStrings:Sourced` (and whatever else the store
    /// package looks for) is used.
    member val ConnectionString: string = null with get, set

    /// The PostgreSQL schema of the store's tables.
    member val Schema = "public" with get, set

    /// The prefix of the store's table names.
    member val Prefix = "sourced" with get, set

    /// Install or upgrade the store's schema when the host starts (safe from many processes at once).
    member val InstallSchema = true with get, set

    // NOTE: the PostgreSQL store's own defaults (Sourced.Postgres.PostgresOptions.defaults); a test keeps them equal.

    /// Prepare the store's hot statements on each pooled connection (turn off behind poolers that cannot).
    member val PrepareStatements = true with get, set

    /// Messages a consumer group scans for new streams in one discovery step (PostgreSQL).
    member val DiscoveryBatch = 1000 with get, set

    /// How long a claim waits for committed messages that are not discoverable yet (PostgreSQL).
    member val DiscoveryWait = TimeSpan.FromSeconds 1.0 with get, set

    /// Worker loops in this process.
    member val Workers = RuntimeOptions.defaults.Workers with get, set

    /// Messages per claimed stream for reactors without a batch size of their own.
    member val BatchSize = RuntimeOptions.defaults.BatchSize with get, set

    /// Streams a worker claims at once, handles one after the other and completes in one transaction.
    member val StreamsPerClaim = RuntimeOptions.defaults.StreamsPerClaim with get, set

    /// Batches (streams) a worker takes from one reactor before it queues the reactor again (fairness).
    member val MaxDrainRounds = RuntimeOptions.defaults.MaxDrainRounds with get, set

    /// Consecutive conflicts on one stream before they count as a failure of the group.
    member val MaxConflicts = RuntimeOptions.defaults.MaxConflicts with get, set

    /// How often every reactor is polled, whatever notifications say.
    member val CatchUpInterval = RuntimeOptions.defaults.CatchUpInterval with get, set

    /// How often due scheduled messages are promoted.
    member val PromoteInterval = RuntimeOptions.defaults.PromoteInterval with get, set

    /// How often this process tells the store its workers are alive.
    member val HeartbeatInterval = RuntimeOptions.defaults.HeartbeatInterval with get, set

    /// Claims of workers silent for this long are freed for others; longer than `HeartbeatInterval`.
    member val StaleAfter = RuntimeOptions.defaults.StaleAfter with get, set

    /// The wait after the store could not be reached.
    member val StoreErrorDelay = RuntimeOptions.defaults.StoreErrorDelay with get, set

    /// The prefix of this process's worker names (default: machine name and process id).
    member val Name = RuntimeOptions.defaults.Name with get, set

    /// The health check reports Degraded when a consumer group has more messages waiting than this.
    member val LagDegradedAbove = 10_000L with get, set

    /// The health check reports the store unreachable when it does not answer within this time.
    member val HealthTimeout = TimeSpan.FromSeconds 5.0 with get, set
