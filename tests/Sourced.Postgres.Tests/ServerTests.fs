/// The test server itself: whatever `Server` provides must answer queries.
module Sourced.Postgres.Tests.ServerTests

open Expecto
open Npgsql

let tests =
    testList
        "server"
        [
            testCaseTask "a throwaway server answers queries" (fun () ->
                task {
                    use dataSource = NpgsqlDataSource.Create(Server.connectionString ())
                    use command = dataSource.CreateCommand "select version()"
                    let! version = command.ExecuteScalarAsync()
                    Expect.stringStarts (string version) "PostgreSQL" "the server's version"
                })
        ]
