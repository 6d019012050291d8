namespace Sourced.Postgres

open System
open System.Text.RegularExpressions

/// Where the store's tables live and how it works.
type PostgresOptions =
    {
        /// The PostgreSQL schema (created on install).
        Schema: string
        /// The prefix of every table name: `<prefix>_messages`, `<prefix>_streams`, ...
        Prefix: string
        /// Messages a consumer group scans for new streams in one discovery step.
        DiscoveryBatch: int
        /// How long a claim waits for committed messages that are not discoverable yet, because transactions
        /// older than them are still running somewhere in the cluster.
        DiscoveryWait: TimeSpan
        /// Prepare the hot statements (appends, claims, completions) on each pooled connection: parsed and
        /// planned once, not at every call. Turn it off behind a pooler that cannot keep prepared statements
        /// (PgBouncer in transaction mode before 1.21).
        PrepareStatements: bool
    }

/// The default store options.
[<RequireQualifiedAccess>]
module PostgresOptions =
    /// Schema `public`, tables `sourced_*`, 1000 messages per discovery step, prepared statements.
    let defaults =
        {
            Schema = "public"
            Prefix = "sourced"
            DiscoveryBatch = 1000
            DiscoveryWait = TimeSpan.FromSeconds 1.0
            PrepareStatements = true
        }

/// The validated, qualified names of the store's objects. Identifiers are checked once, here: SQL text only
/// ever splices these, and every value is a parameter.
type internal Names =
    {
        Schema: string
        Prefix: string
        Migrations: string
        Streams: string
        Messages: string
        Groups: string
        Offsets: string
        Scheduled: string
        Workers: string
        /// The LISTEN/NOTIFY channel, `schema.prefix` (unambiguous: identifiers have no dots); also the stem
        /// of the store's advisory lock keys.
        Channel: string
    }

[<RequireQualifiedAccess>]
module internal Names =
    /// At most 30 characters each, so that the channel `schema.prefix` fits PostgreSQL's 63.
    let private identifier = Regex("^[a-z_][a-z0-9_]{0,29}$", RegexOptions.Compiled)

    let private check (what: string) (value: string) =
        if isNull value || not (identifier.IsMatch value) then
            invalidArg
                what
                $"The {what} '{value}' is not a plain identifier: use 1 to 30 lowercase letters, digits and underscores, starting with a letter or an underscore."

    let create (options: PostgresOptions) : Names =
        check "schema" options.Schema
        check "prefix" options.Prefix

        if options.DiscoveryBatch < 1 then
            invalidArg (nameof options) "The discovery batch must be at least 1."

        // Quoted, so that reserved words (`user`, `order`...) work as names too.
        let table name =
            $"\"{options.Schema}\".\"{options.Prefix}_{name}\""

        {
            Schema = $"\"{options.Schema}\""
            Prefix = options.Prefix
            Migrations = table "migrations"
            Streams = table "streams"
            Messages = table "messages"
            Groups = table "groups"
            Offsets = table "offsets"
            Scheduled = table "scheduled"
            Workers = table "workers"
            Channel = $"{options.Schema}.{options.Prefix}"
        }

type PostgresOptions with
    /// Checks the schema and prefix (plain identifiers) and the discovery batch by the store's own rules; raises
    /// `ArgumentException` naming what is wrong.
    static member Validate(options: PostgresOptions) : unit = Names.create options |> ignore
