/// How the samples choose their store: PostgreSQL when `--postgres "<connection string>"` or SOURCED_PG gives a
/// connection string, the memory store otherwise. (A source file linked into each sample, not a library.)
module SampleStore

open System
open System.Threading
open System.Threading.Tasks
open Npgsql
open Sourced
open Sourced.Postgres

/// The PostgreSQL connection string, if any; the usage line for other arguments.
let postgresConnection (sample: string) (argv: string array) : Result<string option, string> =
    match argv with
    | [| "--postgres"; connection |] -> Ok(Some connection)
    | [||] ->
        match Environment.GetEnvironmentVariable "SOURCED_PG" with
        | null
        | "" -> Ok None
        | connection -> Ok(Some connection)
    | _ -> Error $"""Usage: dotnet run --project samples/{sample} [-- --postgres "<connection string>"]"""

/// What the memory store line says.
let inMemory =
    "Store: in memory (for PostgreSQL, set SOURCED_PG or pass --postgres \"<connection string>\")\n"

/// Drops the sample's schema, so that every run starts empty and prints the same trail.
let emptySchema (dataSource: NpgsqlDataSource) (schema: string) (ct: CancellationToken) : Task =
    task {
        use drop = dataSource.CreateCommand $"DROP SCHEMA IF EXISTS {schema} CASCADE"
        let! _ = drop.ExecuteNonQueryAsync ct
        ()
    }

/// Runs `run` on PostgreSQL, in `schema` dropped and installed afresh, or on the memory store.
let inOneSchema (schema: string) (run: IMessageStore -> CancellationToken -> Task<unit>) =
    fun (postgres: string option) (ct: CancellationToken) ->
        task {
            match postgres with
            | None ->
                printfn "%s" inMemory
                do! run (MemoryStore()) ct
            | Some connection ->
                use dataSource = NpgsqlDataSource.Create connection
                do! emptySchema dataSource schema ct

                use store =
                    new PostgresStore(
                        dataSource,
                        { PostgresOptions.defaults with
                            Schema = schema
                        }
                    )

                do! store.InstallAsync ct
                printfn "Store: PostgreSQL, schema %s (dropped and installed afresh)\n" schema
                do! run store ct
        }

/// Where a connection string points, for messages.
let private server (connection: string) =
    try
        let builder = NpgsqlConnectionStringBuilder connection
        $"{builder.Host}:{builder.Port}"
    with _ ->
        "(a malformed connection string)"

/// Runs `runOn` with the connection the arguments give; exit code 2 with the usage for bad arguments.
let main (sample: string) (argv: string array) (runOn: string option -> CancellationToken -> Task<unit>) : int =
    match postgresConnection sample argv with
    | Error usage ->
        eprintfn "%s" usage
        2
    | Ok postgres ->
        try
            (runOn postgres CancellationToken.None).GetAwaiter().GetResult()
            0
        with error when postgres.IsSome && (error :? NpgsqlException || error :? ArgumentException) ->
            // A wrong or unreachable connection string: say so, without a stack trace.
            eprintfn "Could not run on PostgreSQL at %s: %s" (server postgres.Value) error.Message
            1
