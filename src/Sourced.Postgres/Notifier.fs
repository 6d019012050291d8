namespace Sourced.Postgres

open System
open System.Threading
open System.Threading.Channels
open System.Threading.Tasks
open Npgsql
open Sourced

/// New-message notifications across processes. Listeners in this process hear at once; other processes hear
/// through LISTEN/NOTIFY. Notifications are sent after commit, coalesced, from one connection at a time: an
/// append never NOTIFYs inside its own transaction, where PostgreSQL would serialise every committing writer.
/// They are hints: a dead listener reconnects, and workers poll anyway.
type internal Notifier(dataSource: NpgsqlDataSource, channel: string) =
    /// Tells this process's own notifications apart when LISTEN hands them back.
    let origin = Guid.NewGuid().ToString("N")
    let listeners = ResizeArray<StoreNotification -> unit>()
    let outbox = Channel.CreateUnbounded<StoreNotification>()
    let stopping = new CancellationTokenSource()
    let mutable listening: Task = null

    let deliver (notification: StoreNotification) =
        for listener in lock listeners (fun () -> listeners.ToArray()) do
            // NOTE: a wake-up is a hint; a failing listener must not break the store.
            try
                listener notification
            with _ ->
                ()

    /// `a:type,type` for appended types (`a:*` when too long for a NOTIFY), `s:group` for a started group.
    let payloads (batch: StoreNotification list) =
        let types =
            batch
            |> List.collect (function
                | StoreNotification.MessagesAppended types -> types
                | StoreNotification.GroupStarted _ -> [])
            |> List.distinct

        let appended =
            match types with
            | [] -> []
            | types ->
                let joined = String.Join(",", types)
                [ if joined.Length > 7000 then "a:*" else "a:" + joined ]

        let started =
            batch
            |> List.choose (function
                | StoreNotification.GroupStarted group -> Some("s:" + group)
                | StoreNotification.MessagesAppended _ -> None)
            |> List.distinct

        (appended @ started) |> List.map (fun payload -> origin + "|" + payload)

    /// At most one NOTIFY (one transaction on the server) per this interval.
    let interval = TimeSpan.FromMilliseconds 25.0

    let send () : Task =
        task {
            let sinceLast = Diagnostics.Stopwatch()

            while not stopping.IsCancellationRequested do
                try
                    let! first = outbox.Reader.ReadAsync(stopping.Token)

                    // NOTE: the first notification after a quiet spell goes at once; during a burst, what comes
                    // within the interval after the last NOTIFY gathers into the next one.
                    if sinceLast.IsRunning && sinceLast.Elapsed < interval then
                        do! Task.Delay(interval - sinceLast.Elapsed, stopping.Token)

                    let batch = ResizeArray [ first ]
                    let mutable more = Unchecked.defaultof<StoreNotification>

                    while outbox.Reader.TryRead(&more) do
                        batch.Add more

                    use! connection = dataSource.OpenConnectionAsync(stopping.Token)
                    use notify = new NpgsqlBatch(connection)
                    notify.BatchCommands.Add(NpgsqlBatchCommand(Sql.AsynchronousCommit))

                    for payload in payloads (List.ofSeq batch) do
                        let command = NpgsqlBatchCommand(Sql.Notify)
                        command.Parameters.Add(NpgsqlParameter<string>("channel", channel)) |> ignore
                        command.Parameters.Add(NpgsqlParameter<string>("payload", payload)) |> ignore
                        notify.BatchCommands.Add command

                    let! _ = notify.ExecuteNonQueryAsync(stopping.Token)
                    sinceLast.Restart()
                with
                | :? OperationCanceledException -> ()
                | _ ->
                    // NOTE: a lost notification only delays the other processes until their next poll.
                    ()
        }

    let parse (payload: string) =
        match payload.Split('|', 2) with
        | [| sender; _ |] when sender = origin -> None
        | [| _; message |] when message.StartsWith "a:" ->
            Some(StoreNotification.MessagesAppended(List.ofArray (message.Substring(2).Split ',')))
        | [| _; message |] when message.StartsWith "s:" -> Some(StoreNotification.GroupStarted(message.Substring 2))
        | _ -> None

    let listen () : Task =
        task {
            while not stopping.IsCancellationRequested do
                try
                    use! connection = dataSource.OpenConnectionAsync(stopping.Token)

                    connection.Notification.Add(fun notification ->
                        match parse notification.Payload with
                        | Some heard -> deliver heard
                        | None -> ())

                    use subscribe = new NpgsqlCommand($"LISTEN \"{channel}\"", connection)
                    let! _ = subscribe.ExecuteNonQueryAsync(stopping.Token)

                    while not stopping.IsCancellationRequested do
                        let! heard = connection.WaitAsync(30_000, stopping.Token)

                        // Quiet for a while: make sure the connection is alive (a half-open TCP connection
                        // would otherwise wait forever), or fail and reconnect.
                        if not heard then
                            use ping = new NpgsqlCommand("SELECT 1", connection, CommandTimeout = 10)
                            let! _ = ping.ExecuteScalarAsync(stopping.Token)
                            ()
                with
                | :? OperationCanceledException -> ()
                | _ ->
                    try
                        do! Task.Delay(TimeSpan.FromSeconds 1.0, stopping.Token)
                    with :? OperationCanceledException ->
                        ()
        }

    let sending = Task.Run(fun () -> send ())

    /// Tells this process at once and the others after commit.
    member _.Publish(notification: StoreNotification) =
        deliver notification
        outbox.Writer.TryWrite notification |> ignore

    member _.Subscribe(listener: StoreNotification -> unit) : IDisposable =
        lock listeners (fun () ->
            listeners.Add listener

            if isNull listening then
                listening <- Task.Run(fun () -> listen ()))

        { new IDisposable with
            member _.Dispose() =
                lock listeners (fun () -> listeners.Remove listener |> ignore)
        }

    interface IAsyncDisposable with
        member _.DisposeAsync() =
            ValueTask(
                task {
                    stopping.Cancel()

                    let running =
                        [ sending; (if isNull listening then Task.CompletedTask else listening) ]

                    do! Task.WhenAll(running)
                    stopping.Dispose()
                }
            )
