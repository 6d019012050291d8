namespace Sourced.Postgres

open System
open System.Collections.Concurrent
open System.Runtime.ExceptionServices
open System.Threading
open System.Threading.Tasks
open Npgsql
open Sourced

/// The store's handle on a claim: the fencing token and the offset's reset epoch when it was taken.
type internal PostgresClaim = { Token: Guid; Epoch: int64 }

/// Discovery and claims: finding what a group has to process, handing out streams with leases and fencing
/// tokens, and giving them back. See docs/postgres.md.
type internal Claims(session: Session, options: PostgresOptions) =
    let statements = session.Statements

    /// The tokens of the claims this store handed out and still tracks: heartbeats renew only these, so a
    /// claim that was lost track of (a failure between claiming and completing) expires instead.
    let live = ConcurrentDictionary<Guid, byte>()

    /// What one discovery step saw: whether more may be found at once, whether committed messages of the
    /// group wait above the horizon, and whether it was skipped because another transaction is discovering.
    let discovered (reader: NpgsqlDataReader) =
        let scanned = reader.GetInt64 0
        let got = not (reader.IsDBNull 3) && reader.GetBoolean 3

        {|
            More = got && scanned = int64 options.DiscoveryBatch
            Waiting = reader.GetBoolean 4
            Skipped = not got
        |}

    /// Waits a little for transactions older than committed messages to end, until `deadline`; false when late.
    let waitForHorizon (deadline: DateTime) (ct: CancellationToken) =
        task {
            if DateTime.UtcNow >= deadline then
                return false
            else
                do! Task.Delay(TimeSpan.FromMilliseconds 5.0, ct)
                return true
        }

    /// Runs discovery steps for a group until everything committed is discovered (waiting up to `DiscoveryWait`
    /// for older transactions), or another process is discovering it.
    let discoverAll (ct: CancellationToken) (group: string) =
        task {
            let deadline = DateTime.UtcNow + options.DiscoveryWait
            let mutable more = true

            while more do
                use! connection = session.DataSource.OpenConnectionAsync ct
                use! transaction = session.BeginReadCommitted connection ct
                use discover = new NpgsqlCommand(statements.Discover, connection, transaction)
                Rows.add discover.Parameters "group" group

                let! step =
                    task {
                        use! reader = discover.ExecuteReaderAsync ct
                        let! _ = reader.ReadAsync ct
                        return discovered reader
                    }

                do! transaction.CommitAsync CancellationToken.None

                if step.More then
                    more <- true
                elif step.Waiting then
                    let! early = waitForHorizon deadline ct
                    more <- early
                else
                    more <- false
        }

    /// Stops renewing a claim: it is ending (completed, released or settled), or else it expires.
    let forget (claim: Claim) =
        live.TryRemove((claim.Token :?> PostgresClaim).Token) |> ignore

    /// The parameters of `Sql.Release` for a claim.
    let addRelease (claim: Claim) (parameters: NpgsqlParameterCollection) =
        Rows.add parameters "group" claim.Group
        Rows.add parameters "stream" claim.StreamId
        Rows.add parameters "token" (claim.Token :?> PostgresClaim).Token

    let release (claim: Claim) (ct: CancellationToken) =
        task {
            forget claim
            let! _ = session.Execute ct statements.Release (addRelease claim)
            ()
        }

    /// A claimed stream with nothing pending any more (processed in a unit, say): point it at its next message.
    let settle (claim: Claim) (ct: CancellationToken) =
        forget claim

        session.Run ct (fun transaction ->
            task {
                use acknowledge = transaction.Command(statements.Acknowledge 1)
                Rows.addAcknowledgements acknowledge.Parameters [ claim.Group, claim.StreamId, 0L, None ]
                let! _ = acknowledge.ExecuteNonQueryAsync ct
                // In this transaction: it holds the offset's row lock now, so a release on another connection
                // would wait for it forever.
                use release = transaction.Command statements.Release
                addRelease claim release.Parameters
                let! _ = release.ExecuteNonQueryAsync ct
                ()
            })

    /// One discovery step and one claim attempt of up to `streams` streams, in one round trip and one transaction
    /// (plus its commit). With `awaitDiscovery` it first waits for a discovery running in another transaction to
    /// commit, so the claim sees the streams that discovery found.
    let claimOnce (request: ClaimRequest) (streams: int) (awaitDiscovery: bool) (ct: CancellationToken) =
        task {
            // NOTE: before opening this connection: the first call takes another one to ask the server, and
            // with a pool of one connection it would wait for this one.
            let! implicitly = session.ImplicitIsReadCommitted ct
            use! connection = session.DataSource.OpenConnectionAsync ct

            use! transaction =
                if implicitly then
                    ValueTask.FromResult<NpgsqlTransaction> null
                else
                    session.BeginReadCommitted connection ct

            use batch = new NpgsqlBatch(connection, transaction)
            batch.BatchCommands.Add(NpgsqlBatchCommand(statements.AsynchronousCommit))

            if awaitDiscovery then
                let wait = NpgsqlBatchCommand(statements.LockDiscovery)
                Rows.add wait.Parameters "group" request.Group
                batch.BatchCommands.Add wait

            let discover = NpgsqlBatchCommand(statements.Discover)
            Rows.add discover.Parameters "group" request.Group
            batch.BatchCommands.Add discover
            let tokens = Array.init (max 1 streams) (fun _ -> Guid.NewGuid())

            let claim =
                NpgsqlBatchCommand(statements.Claim(tokens.Length, max 1 request.BatchSize, request.WithHistory))

            Rows.add claim.Parameters "group" request.Group
            Rows.add claim.Parameters "now" (Rows.utc (session.Clock.GetUtcNow()))
            Rows.add claim.Parameters "worker" request.Worker
            Rows.add claim.Parameters "tokens" tokens
            batch.BatchCommands.Add claim
            do! statements.Prepare(batch, ct)
            // Per claimed stream, in stream order: its token, acked and high seqs, epoch, and messages.
            let claimed =
                ResizeArray<Guid * string * int64 * int64 * ResizeArray<Message * bool>>()

            let mutable known = true

            // Tracked before the claims can exist; a token leaves `live` unless its claim is handed out, so a
            // claim taken by a call that failed afterwards (cancelled, say) is never renewed, and expires.
            for token in tokens do
                live[token] <- 0uy

            let! discovery =
                task {
                    try
                        use! reader = batch.ExecuteReaderAsync ct
                        let! _ = reader.NextResultAsync ct

                        if awaitDiscovery then
                            let! _ = reader.NextResultAsync ct
                            ()

                        let! _ = reader.ReadAsync ct
                        let discovery = discovered reader
                        let! _ = reader.NextResultAsync ct

                        while! reader.ReadAsync ct do
                            known <- reader.GetInt64 0 > 0L

                            if not (reader.IsDBNull 1) then
                                let token = reader.GetGuid 5

                                let _, _, _, _, rows =
                                    match Seq.tryLast claimed with
                                    | Some(last, _, _, _, _ as current) when last = token -> current
                                    | _ ->
                                        let current =
                                            token,
                                            reader.GetString 1,
                                            reader.GetInt64 3,
                                            reader.GetInt64 4,
                                            ResizeArray()

                                        claimed.Add current
                                        current

                                if not (reader.IsDBNull 7) then
                                    rows.Add(Rows.read reader 7, reader.GetBoolean 6)

                        do! reader.DisposeAsync()

                        if not implicitly then
                            do! transaction.CommitAsync CancellationToken.None

                        return discovery
                    with error ->
                        for token in tokens do
                            live.TryRemove token |> ignore

                        ExceptionDispatchInfo.Capture(error).Throw()
                        return Unchecked.defaultof<_>
                }

            for token in tokens do
                if not (claimed |> Seq.exists (fun (held, _, _, _, _) -> held = token)) then
                    live.TryRemove token |> ignore

            if not known then
                return Session.UnknownGroup request.Group
            else
                return
                    discovery,
                    [
                        for token, streamId, high, epoch, rows in claimed ->
                            {
                                Group = request.Group
                                StreamId = streamId
                                Messages =
                                    [
                                        for message, inBatch in rows do
                                            if inBatch then
                                                {
                                                    Message = message
                                                    Replaying = message.Seq <= high
                                                }
                                    ]
                                History =
                                    if request.WithHistory then
                                        rows |> Seq.map fst |> List.ofSeq
                                    else
                                        []
                                Token = { Token = token; Epoch = epoch }
                            }
                    ]
        }

    /// Claims of up to `streams` streams with messages for the group: discovery steps and claim attempts until
    /// some are found, or nothing is left (waiting up to `DiscoveryWait` for older transactions to end).
    let claimAsync (request: ClaimRequest) (streams: int) (ct: CancellationToken) =
        task {
            let deadline = DateTime.UtcNow + options.DiscoveryWait
            let mutable result = []
            let mutable searching = true
            let mutable awaitDiscovery = false

            while searching do
                let! discovery, claimed = claimOnce request streams awaitDiscovery ct
                awaitDiscovery <- false
                let empty, found = claimed |> List.partition (fun claim -> claim.Messages.IsEmpty)

                for claim in empty do
                    do! settle claim ct

                match found with
                | _ :: _ ->
                    result <- found
                    searching <- false
                | [] when not empty.IsEmpty || discovery.More -> ()
                | [] when discovery.Skipped -> awaitDiscovery <- true
                | [] when discovery.Waiting ->
                    let! early = waitForHorizon deadline ct
                    searching <- early
                | [] -> searching <- false

            return result
        }

    /// The tokens of the claims handed out and not yet ended.
    member _.Live: Guid array = Array.ofSeq live.Keys

    member _.DiscoverAll (ct: CancellationToken) (group: string) = discoverAll ct group
    member _.Forget(claim: Claim) = forget claim
    member _.Release (claim: Claim) (ct: CancellationToken) = release claim ct
    member _.Claim (request: ClaimRequest) (streams: int) (ct: CancellationToken) = claimAsync request streams ct
