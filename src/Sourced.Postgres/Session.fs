namespace Sourced.Postgres

open System
open System.Data
open System.Threading
open System.Threading.Tasks
open Npgsql
open Sourced

/// What every part of the store works through: the data source, the rendered statements, the clock, and how
/// work runs in transactions (and who hears of what it appended).
type internal Session(dataSource: NpgsqlDataSource, statements: Statements, clock: TimeProvider, notifier: Notifier) =
    let mutable readCommittedByDefault: bool option = None

    member _.DataSource = dataSource
    member _.Statements = statements
    member _.Clock = clock
    member _.Notifier = notifier

    /// Tells other processes (and this one's subscribers) which message types were appended.
    member _.NotifyAppended(messages: Message list) =
        if not messages.IsEmpty then
            notifier.Publish(
                StoreNotification.MessagesAppended(messages |> List.map (fun message -> message.Type) |> List.distinct)
            )

    member _.Command (connection: NpgsqlConnection) (sql: string) = new NpgsqlCommand(sql, connection)

    /// Every transaction is READ COMMITTED whatever the server's default: the statements rely on each one
    /// seeing what committed before it started, and on row locks being re-checked rather than failing.
    member _.BeginReadCommitted (connection: NpgsqlConnection) (ct: CancellationToken) =
        connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, ct)

    /// Runs `work` in a transaction, committed when it returns `Ok`, rolled back on `Error` or an exception.
    /// The commit is not cancellable: once it is sent, the outcome is whatever the server did.
    member session.Transact (ct: CancellationToken) (work: PostgresTransaction -> Task<Result<'T, 'Error>>) =
        task {
            use! connection = dataSource.OpenConnectionAsync ct
            use! transaction = session.BeginReadCommitted connection ct
            let store = PostgresTransaction(statements, connection, transaction, clock, ct)
            let! outcome = work store

            match outcome with
            | Ok _ ->
                do! transaction.CommitAsync CancellationToken.None
                session.NotifyAppended store.Appended
            | Error _ -> do! transaction.RollbackAsync CancellationToken.None

            return outcome
        }

    /// `Transact` for work that gives a value or throws.
    member session.Run (ct: CancellationToken) (work: PostgresTransaction -> Task<'T>) : Task<'T> =
        task {
            match!
                session.Transact ct (fun transaction -> task { let! result = work transaction in return Ok result })
            with
            | Ok result -> return result
            | Error(error: exn) -> return raise error
        }

    /// Whether the server runs transactions READ COMMITTED by default (it nearly always does). Then a single
    /// statement or a batch runs in its implicit transaction, which saves the round trip of a COMMIT.
    member session.ImplicitIsReadCommitted(ct: CancellationToken) =
        task {
            match readCommittedByDefault with
            | Some known -> return known
            | None ->
                let! level =
                    session.Scalar ct "SELECT current_setting('default_transaction_isolation')" ignore

                let known = string level = "read committed"
                readCommittedByDefault <- Some known
                return known
        }

    /// Work of one statement (an append outside a transaction, say): in its implicit transaction when that is
    /// READ COMMITTED, or else in an explicit one.
    member session.Single (ct: CancellationToken) (work: PostgresTransaction -> Task<'T>) : Task<'T> =
        task {
            match! session.ImplicitIsReadCommitted ct with
            | false -> return! session.Run ct work
            | true ->
                use! connection = dataSource.OpenConnectionAsync ct
                let store = PostgresTransaction(statements, connection, null, clock, ct)
                let! result = work store
                session.NotifyAppended store.Appended
                return result
        }

    /// One statement in its own transaction; gives the number of rows it changed.
    member session.Execute (ct: CancellationToken) (sql: string) (parameters: NpgsqlParameterCollection -> unit) =
        session.Single ct (fun transaction ->
            task {
                use statement = transaction.Command sql
                parameters statement.Parameters
                return! statement.ExecuteNonQueryAsync ct
            })

    /// Runs one read statement on a pooled connection and gives what `read` makes of its rows.
    member session.Query
        (ct: CancellationToken)
        (sql: string)
        (parameters: NpgsqlParameterCollection -> unit)
        (read: NpgsqlDataReader -> Task<'T>)
        : Task<'T> =
        task {
            use! connection = dataSource.OpenConnectionAsync ct
            use query = session.Command connection sql
            parameters query.Parameters
            use! reader = query.ExecuteReaderAsync ct
            return! read reader
        }

    /// Runs one statement that gives a single value, on a pooled connection.
    member session.Scalar
        (ct: CancellationToken)
        (sql: string)
        (parameters: NpgsqlParameterCollection -> unit)
        : Task<obj> =
        task {
            use! connection = dataSource.OpenConnectionAsync ct
            use query = session.Command connection sql
            parameters query.Parameters
            return! query.ExecuteScalarAsync ct
        }

    /// The error for a group that was never registered.
    static member UnknownGroup(group: string) : 'T =
        invalidArg (nameof group) $"No consumer group '{group}' is registered."
