/// Seeding for the scale scenario: streams with one pending message each, written with set-based SQL, and a
/// check that the seeding records what the store's own discovery would.
module Sourced.Benchmarks.ScaleSeeding

open System
open System.Threading
open System.Threading.Tasks
open Npgsql
open Sourced
open Sourced.Postgres

let private ct = CancellationToken.None

/// The consumer group the scenario claims for, and the type of the seeded messages.
let group = "bench-claims"
let messageType = "Seeded"

let private add (parameters: NpgsqlParameterCollection) (name: string) (value: 'T) =
    parameters.Add(NpgsqlParameter<'T>(name, value)) |> ignore

let registerAsync (store: IMessageStore) : Task =
    store.RegisterGroupAsync(
        {
            Id = group
            Types = [ messageType ]
            StartFrom = StartFrom.Beginning
        },
        ct
    )

/// Streams `claim-1` to `claim-<count>` with one message each, in one transaction; with `offsets`, also the
/// group's offsets and cursor as its discovery would record them (else the store's discovery has that to do).
let seedAsync (dataSource: NpgsqlDataSource) (schema: string) (count: int) (offsets: bool) : Task =
    task {
        let tables = Postgres.tables schema
        use! connection = dataSource.OpenConnectionAsync ct
        use! transaction = connection.BeginTransactionAsync ct

        use seed =
            new NpgsqlCommand(Postgres.render tables BenchSql.SeedMessages, connection, transaction)

        seed.CommandTimeout <- 600
        add seed.Parameters "first" 1L
        add seed.Parameters "last" (int64 count)
        add seed.Parameters "type" messageType
        let! _ = seed.ExecuteNonQueryAsync ct

        if offsets then
            use track =
                new NpgsqlCommand(Postgres.render tables BenchSql.SeedOffsets, connection, transaction)

            track.CommandTimeout <- 600
            add track.Parameters "group" group
            add track.Parameters "type" messageType
            let! _ = track.ExecuteNonQueryAsync ct
            ()

        do! transaction.CommitAsync ct

        let! _ =
            Postgres.executeAsync
                dataSource
                $"VACUUM (ANALYZE) {tables.Messages}, {tables.Streams}, {tables.Offsets}, {tables.Groups}"

        // Write the seeded pages out now: otherwise the checkpoint that the seeding's WAL triggers runs during
        // the measurement, and its I/O on this small machine is what the claims would be timed against.
        let! _ = Postgres.executeAsync dataSource "CHECKPOINT"
        ()
    }

/// One text per row of a query that has a @group parameter.
let private rowsAsync (dataSource: NpgsqlDataSource) (schema: string) (sql: string) : Task<string list> =
    task {
        use query = dataSource.CreateCommand(Postgres.render (Postgres.tables schema) sql)
        add query.Parameters "group" group
        use! reader = query.ExecuteReaderAsync ct
        let rows = ResizeArray<string>()

        while! reader.ReadAsync ct do
            rows.Add(reader.GetString 0)

        return List.ofSeq rows
    }

/// Seeds 1,000 streams twice: once with the offsets the benchmark writes itself, once leaving them to the store's
/// discovery; the offsets, the cursors and the group stats must come out the same.
let checkSeedingAsync (dataSource: NpgsqlDataSource) : Task<unit> =
    Postgres.withSchemasAsync dataSource [ "check_seeded"; "check_discovered" ] (fun schemas ->
        task {
            let! states =
                schemas
                |> List.zip [ true; false ]
                |> List.map (fun (seeded, schema) ->
                    task {
                        let! stats =
                            Postgres.withStoreAsync dataSource schema (fun store ->
                                task {
                                    do! registerAsync store
                                    do! seedAsync dataSource schema 1_000 seeded
                                    // NOTE: stats run the group's discovery to the end first.
                                    let! stats = (store :> IMessageStore).GroupStatsAsync ct
                                    let stats = List.exactlyOne stats
                                    return stats.Streams, stats.PendingStreams, stats.Lag
                                })

                        let! offsets = rowsAsync dataSource schema BenchSql.OffsetRows
                        let! cursor = rowsAsync dataSource schema BenchSql.GroupCursor
                        return stats, offsets, cursor
                    })
                |> Task.WhenAll

            let seededStats, seededOffsets, seededCursor = states[0]
            let discoveredStats, discoveredOffsets, discoveredCursor = states[1]

            let fail (what: string) =
                invalidOp $"Seeding does not record what the store's discovery does: {what}."

            if seededStats <> (1_000L, 1_000L, 1_000L) || discoveredStats <> seededStats then
                fail $"group stats (streams, pending, lag) {seededStats} seeded, {discoveredStats} discovered"

            if seededOffsets.Length <> discoveredOffsets.Length then
                fail $"{seededOffsets.Length} offsets seeded, {discoveredOffsets.Length} discovered"

            match List.zip seededOffsets discoveredOffsets |> List.tryFind (fun (a, b) -> a <> b) with
            | Some(seeded, discovered) -> fail $"offset {seeded} seeded, {discovered} discovered"
            | None -> ()

            if seededCursor <> discoveredCursor || seededCursor <> [ "1000,true" ] then
                fail $"cursor {seededCursor} seeded, {discoveredCursor} discovered"
        })
