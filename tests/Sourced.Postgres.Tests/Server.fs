/// The PostgreSQL server the tests use: the one SOURCED_TEST_PG names, or else a throwaway server that this test
/// process starts once, on a free port, and removes when it exits. When neither works, the tests fail saying why.
module Sourced.Postgres.Tests.Server

open System
open Expecto
open Sourced.Postgres.Server

/// Set it to a connection string to run the tests on that server instead of a throwaway one.
[<Literal>]
let Variable = "SOURCED_TEST_PG"

let private remedy =
    $"To fix it, install the server (apt-get install -y postgresql; brew install postgresql; the Windows installer), "
    + $"set {Throwaway.BinariesVariable} to the folder of its programs, or set {Variable} to a connection string, "
    + "such as 'Host=127.0.0.1;Port=5432;Username=postgres;Database=sourced_test'."

let private server =
    lazy
        (match Environment.GetEnvironmentVariable Variable with
         | null
         | "" ->
             try
                 Throwaway.start
                     {
                         Durable = false
                         Database = "sourced_test"
                     }
             with Throwaway.ServerUnavailable reason ->
                 failtestf
                     "The PostgreSQL tests have no server: %s is unset, and starting a throwaway server failed: %s\n\n%s"
                     Variable
                     reason
                     remedy
         | given -> given)

/// The connection string of the test server. The first call starts the throwaway server when SOURCED_TEST_PG is
/// unset; if that fails, this call and every later one fail with the reason.
let connectionString () : string = server.Force()

/// A new schema name, so that each test has tables of its own.
let freshSchema () : string = Throwaway.freshSchema ()
