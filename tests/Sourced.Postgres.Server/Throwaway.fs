/// A throwaway PostgreSQL server for tests and benchmarks: initdb and pg_ctl from SOURCED_PG_BIN, the newest
/// /usr/lib/postgresql/<version>/bin or PATH, as the postgres user when this process is root, on a free loopback port,
/// removed when this process exits (and, if a process died without cleaning up, by the next one).
module Sourced.Postgres.Server.Throwaway

open System
open System.Diagnostics
open System.IO
open System.Net
open System.Net.Sockets
open System.Text.RegularExpressions
open System.Threading.Tasks

/// Why a throwaway server could not be started, and how to fix it.
exception ServerUnavailable of reason: string with
    override error.Message = error.reason

let private serverUser = "postgres"

/// Ports that other servers on this machine use.
let private takenPorts = set [ 5432; 5499; 55432 ]

let private folderPattern = Regex "^sourced-test-pg-([0-9]+)-[0-9a-f]+$"
let private commandTimeout = TimeSpan.FromMinutes 2.0

/// Gives up, saying what went wrong.
let private unavailable (what: string) : 'T = raise (ServerUnavailable what)

/// A program to run, with its arguments.
type private Command =
    {
        Program: string
        Arguments: string list
    }

    override command.ToString() =
        command.Program :: command.Arguments
        |> List.map (fun part -> if part.Contains ' ' then $"\"{part}\"" else part)
        |> String.concat " "

/// The server refuses to run as root, so as root its programs run as the postgres user.
let private asServerUser (command: Command) : Command =
    if Environment.IsPrivilegedProcess then
        {
            Program = "runuser"
            Arguments = [ "-u"; serverUser; "--"; command.Program ] @ command.Arguments
        }
    else
        command

/// A server program from `binaries`, run as the postgres user when this process is root.
let private serverProgram (binaries: string) (name: string) (arguments: string list) : Command =
    asServerUser
        {
            Program = Path.Combine(binaries, name)
            Arguments = arguments
        }

/// Runs `command` from `/` (a folder the postgres user can read); gives its exit code and its output.
let private run (command: Command) : int * string =
    let start =
        ProcessStartInfo(
            command.Program,
            command.Arguments,
            WorkingDirectory = "/",
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false
        )

    use child =
        try
            Process.Start start
        with error ->
            unavailable $"`{command}` could not be started: {error.Message}"

    let output = child.StandardOutput.ReadToEndAsync()
    let errors = child.StandardError.ReadToEndAsync()

    if not (child.WaitForExit commandTimeout) then
        child.Kill true
        unavailable $"`{command}` did not finish within {commandTimeout.TotalMinutes} minutes"

    Task.WaitAll(output, errors)
    child.ExitCode, (output.Result + errors.Result).Trim()

/// Runs `command`, and fails the tests with its output (and `more`, when there is some) if it fails.
let private runOrFail (more: unit -> string) (command: Command) : unit =
    match run command with
    | 0, _ -> ()
    | code, output ->
        let extra =
            match more () with
            | "" -> ""
            | text -> $"\n\n{text}"

        unavailable $"`{command}` exited with code {code}:\n{output}{extra}"

/// The folder of the server programs that `SOURCED_PG_BIN` names.
[<Literal>]
let BinariesVariable = "SOURCED_PG_BIN"

let private hasInitdb (folder: string) =
    File.Exists(Path.Combine(folder, "initdb"))
    || File.Exists(Path.Combine(folder, "initdb.exe"))

/// The server programs: the folder `SOURCED_PG_BIN` names, else the newest `/usr/lib/postgresql/<version>/bin`
/// (Debian, Ubuntu), else the folder on PATH that has `initdb` (Homebrew, Postgres.app, the Windows installer).
let private newestBinaries () : string =
    let versionOf (folder: string) =
        let name = Path.GetFileName folder

        match Version.TryParse(if name.Contains '.' then name else name + ".0") with
        | true, version -> Some version
        | false, _ -> None

    let installed =
        if Directory.Exists "/usr/lib/postgresql" then
            Directory.GetDirectories "/usr/lib/postgresql"
            |> Array.filter (fun folder -> hasInitdb (Path.Combine(folder, "bin")))
            |> Array.choose (fun folder -> versionOf folder |> Option.map (fun version -> version, folder))
        else
            [||]

    let onPath () =
        (Environment.GetEnvironmentVariable "PATH"
         |> Option.ofObj
         |> Option.defaultValue "")
            .Split
            Path.PathSeparator
        |> Array.tryFind (fun folder -> folder <> "" && hasInitdb folder)

    match Environment.GetEnvironmentVariable BinariesVariable, installed with
    | given, _ when not (String.IsNullOrWhiteSpace given) ->
        if hasInitdb given then
            given
        else
            unavailable $"{BinariesVariable} is '{given}', which has no initdb"
    | _, [||] ->
        match onPath () with
        | Some folder -> folder
        | None ->
            unavailable (
                "no PostgreSQL server programs were found (no initdb in /usr/lib/postgresql/*/bin or on PATH; "
                + $"{BinariesVariable} can name their folder)"
            )
    | _, found -> Path.Combine(found |> Array.maxBy fst |> snd, "bin")

/// A TCP port on 127.0.0.1 that nothing listens on now and that no other server here is known to use.
let rec private freePort () : int =
    let port =
        use listener = new TcpListener(IPAddress.Loopback, 0)
        listener.Start()
        (listener.LocalEndpoint :?> IPEndPoint).Port

    if takenPorts.Contains port then freePort () else port

/// Stops the server of `folder` at once, if one runs there, and deletes the folder and its log.
let private remove (binaries: string) (folder: string) : unit =
    try
        if File.Exists(Path.Combine(folder, "postmaster.pid")) then
            serverProgram binaries "pg_ctl" [ "-D"; folder; "-m"; "immediate"; "stop" ]
            |> run
            |> ignore

        if Directory.Exists folder then
            Directory.Delete(folder, true)

        File.Delete(folder + ".log")
    with error ->
        eprintfn "The throwaway PostgreSQL server in %s was not fully removed: %s" folder error.Message

/// Removes the servers that earlier test processes left behind when they died without cleaning up.
let private removeLeftovers (binaries: string) : unit =
    let isRunning (processId: int) =
        try
            use found = Process.GetProcessById processId
            not found.HasExited
        with :? ArgumentException ->
            false

    for folder in Directory.GetDirectories "/tmp" do
        let matched = folderPattern.Match(Path.GetFileName folder)

        if matched.Success && not (isRunning (int matched.Groups[1].Value)) then
            remove binaries folder

let private noDetail () = ""

/// The server's log, to show when the server did not start or did not answer.
let private serverLog (folder: string) () : string =
    if File.Exists(folder + ".log") then
        $"The server's log ({folder}.log):\n" + File.ReadAllText(folder + ".log").Trim()
    else
        ""

/// A new, empty data folder that only the server's user can use.
let private createFolder () : string =
    let random = Guid.NewGuid().ToString("N").Substring(0, 8)
    let folder = $"/tmp/sourced-test-pg-{Environment.ProcessId}-{random}"

    Directory.CreateDirectory(folder, UnixFileMode.UserRead ||| UnixFileMode.UserWrite ||| UnixFileMode.UserExecute)
    |> ignore

    folder

let private handToServerUser (folder: string) : unit =
    if Environment.IsPrivilegedProcess then
        runOrFail
            noDetail
            {
                Program = "chown"
                Arguments = [ $"{serverUser}:{serverUser}"; folder ]
            }

let private initialise (binaries: string) (folder: string) : unit =
    [
        "-D"
        folder
        "-U"
        serverUser
        "-A"
        "trust"
        "-E"
        "UTF8"
        "--no-locale"
        "--no-sync"
    ]
    |> serverProgram binaries "initdb"
    |> runOrFail noDetail

/// How to run the server: `Durable` keeps fsync and synchronous commits (for honest benchmark figures);
/// without it the server trades durability for speed, which suits tests.
type Settings = { Durable: bool; Database: string }

/// Starts the server on 127.0.0.1:`port` and on a socket in its folder.
let private launch (settings: Settings) (binaries: string) (folder: string) (port: int) : unit =
    let durability =
        if settings.Durable then
            ""
        else
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"

    let options =
        $"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=200{durability}"

    [
        "-D"
        folder
        "-l"
        folder + ".log"
        "-w"
        "-t"
        "60"
        "-o"
        options
        "start"
    ]
    |> serverProgram binaries "pg_ctl"
    |> runOrFail (serverLog folder)

let private createDatabase (database: string) (binaries: string) (folder: string) (port: int) : unit =
    [ "-h"; "127.0.0.1"; "-p"; string port; "-U"; serverUser; database ]
    |> serverProgram binaries "createdb"
    |> runOrFail (serverLog folder)

/// Starts a throwaway server with one database, removed when this process exits; gives its connection string.
/// Raises `ServerUnavailable` with the reason when it cannot.
let start (settings: Settings) : string =
    let binaries = newestBinaries ()
    removeLeftovers binaries
    let folder = createFolder ()
    AppDomain.CurrentDomain.ProcessExit.Add(fun _ -> remove binaries folder)
    handToServerUser folder
    initialise binaries folder
    let port = freePort ()
    launch settings binaries folder port
    createDatabase settings.Database binaries folder port
    $"Host=127.0.0.1;Port={port};Username={serverUser};Database={settings.Database}"

/// A new schema name (`t_` and 12 lowercase hex digits), so that each test or run has tables of its own.
let freshSchema () : string =
    "t_" + Guid.NewGuid().ToString("N").Substring(0, 12)
