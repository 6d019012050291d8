namespace Sourced.Postgres

open System.Threading
open System.Threading.Tasks
open Npgsql

/// Versioned schema migrations: each runs once, in order, in one transaction with the others pending, under an
/// advisory lock so that processes installing at once do not collide.
[<RequireQualifiedAccess>]
module internal Migrations =

    /// Version → SQL. Append only: a released migration never changes.
    let all: (int * string) list = [ 1, Sql.Migration1 ]

    let latest = all |> List.map fst |> List.max

    let private scalar (connection: NpgsqlConnection) (transaction: NpgsqlTransaction) (sql: string) ct =
        task {
            use statement = new NpgsqlCommand(sql, connection, transaction)
            return! statement.ExecuteScalarAsync(ct: CancellationToken)
        }

    let installAsync (dataSource: NpgsqlDataSource) (names: Names) (ct: CancellationToken) : Task =
        task {
            use! connection = dataSource.OpenConnectionAsync ct
            use! transaction = connection.BeginTransactionAsync ct
            let render = Sql.render names
            let! _ = scalar connection transaction (render Sql.LockMigrations) ct
            let! _ = scalar connection transaction (render Sql.CreateMigrations) ct
            let! applied = scalar connection transaction (render Sql.AppliedMigrations) ct
            let applied = unbox<int> applied

            for version, sql in all do
                if version > applied then
                    let! _ = scalar connection transaction (render sql) ct
                    use record = new NpgsqlCommand(render Sql.RecordMigration, connection, transaction)
                    record.Parameters.Add(NpgsqlParameter<int>("version", version)) |> ignore
                    let! _ = record.ExecuteNonQueryAsync ct
                    ()

            let! ahead = scalar connection transaction (render Sql.XidsAhead) ct

            if unbox<bool> ahead then
                invalidOp (
                    $"The store in schema {names.Schema} records transaction ids ahead of this server's: the database "
                    + "was copied from another cluster (pg_dump and restore, or logical replication). Consumer groups "
                    + "would find no new messages. See 'Moving a store to another cluster' in docs/postgres.md."
                )

            do! transaction.CommitAsync ct
        }

    let isInstalledAsync (dataSource: NpgsqlDataSource) (names: Names) (ct: CancellationToken) : Task<bool> =
        task {
            use! connection = dataSource.OpenConnectionAsync ct

            use exists =
                new NpgsqlCommand(Sql.render names Sql.MigrationsTableExists, connection)

            let! found = exists.ExecuteScalarAsync ct

            if not (unbox<bool> found) then
                return false
            else
                use applied = new NpgsqlCommand(Sql.render names Sql.AppliedMigrations, connection)
                let! version = applied.ExecuteScalarAsync ct
                return unbox<int> version >= latest
        }
