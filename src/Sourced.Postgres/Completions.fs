namespace Sourced.Postgres

open System.Collections.Generic
open System.Threading
open System.Threading.Tasks
open Npgsql
open Sourced

/// Completions: a claim's actions and acknowledgement in one transaction, behind its fence; several claims'
/// together, in one batch when they only append and acknowledge. See docs/postgres.md.
type internal Completions(session: Session, claims: Claims) =
    let statements = session.Statements

    /// Whether completing these appends or schedules messages (others may act on them at once, so its commit must
    /// be durable); acknowledgements and `Sync` writes alone may commit asynchronously.
    let storesMessages (handled: Handled list) =
        handled
        |> List.exists (fun item ->
            item.Actions
            |> List.exists (fun action ->
                match action with
                | Action.AppendAfter _
                | Action.AppendNext _
                | Action.Schedule _ -> true
                | Action.Ack
                | Action.Sync _
                | Action.Retry -> false))

    /// The parameters of `Sql.Fence` for these claims.
    let addFences (parameters: NpgsqlParameterCollection) (completions: (Claim * Handled list) list) =
        Rows.addFences
            parameters
            [
                for claim, _ in completions -> claim.Group, claim.StreamId, (claim.Token :?> PostgresClaim).Token
            ]

    /// The parameters of `Sql.Complete`: the acknowledgements, and whether the commit may be asynchronous.
    let addCompletion
        (parameters: NpgsqlParameterCollection)
        (completions: (Claim * Handled list) list)
        acknowledgements
        =
        Rows.addAcknowledgements parameters acknowledgements
        Rows.add parameters "asynchronous" (not (completions |> List.exists (snd >> storesMessages)))

    /// Completes claims in one transaction: fences them all in one statement (a lost claim executes nothing),
    /// executes the actions of those still held (their appends first, then their syncs), and acknowledges them
    /// all in one statement. Gives each claim's result, or the first conflict, which rolls everything back (as
    /// does an exception).
    let completeTogether (completions: (Claim * Handled list) list) (ct: CancellationToken) =
        session.Transact ct (fun transaction ->
            task {
                use fence = transaction.Command(statements.Fence completions.Length)

                addFences fence.Parameters completions

                do! statements.Prepare(fence, ct)
                let held = HashSet<struct (string * string)>()

                do!
                    task {
                        use! reader = fence.ExecuteReaderAsync ct

                        while! reader.ReadAsync ct do
                            held.Add(struct (reader.GetString 0, reader.GetString 1)) |> ignore
                    }

                let isHeld (claim: Claim) =
                    held.Contains(struct (claim.Group, claim.StreamId))

                let mutable conflict = None
                let applied = ResizeArray()

                for claim, handled in completions do
                    if conflict.IsNone && isHeld claim then
                        match! Store.applyAsync transaction handled ct with
                        | Error failed -> conflict <- Some failed
                        | Ok(seq, syncs) -> applied.Add((claim, seq, syncs))

                match conflict with
                | Some conflict -> return Error conflict
                | None ->
                    for _, _, syncs in applied do
                        do! Store.syncAsync transaction syncs

                    let acknowledgements =
                        [
                            for claim, seq, _ in applied do
                                match seq with
                                | Some seq ->
                                    claim.Group, claim.StreamId, seq, Some (claim.Token :?> PostgresClaim).Epoch
                                | None -> ()
                        ]

                    if not acknowledgements.IsEmpty then
                        use complete = transaction.Command(statements.Complete acknowledgements.Length)
                        addCompletion complete.Parameters completions acknowledgements

                        do! statements.Prepare(complete, ct)
                        let! _ = complete.ExecuteNonQueryAsync ct
                        ()

                    return
                        Ok
                            [
                                for claim, _ in completions ->
                                    if isHeld claim then
                                        CompleteResult.Completed
                                    else
                                        CompleteResult.Lost
                            ]
            })

    /// Whether a completion can be sent in one batch: appends and acknowledgements only (a `Sync` needs the
    /// appends' outcome first, a schedule checks ids first).
    let pipelinable (completions: (Claim * Handled list) list) =
        completions
        |> List.forall (fun (_, handled) ->
            Store.processed handled
            |> List.forall (fun item ->
                item.Actions
                |> List.forall (fun action ->
                    match action with
                    | Action.AppendAfter _
                    | Action.AppendNext _
                    | Action.Ack -> true
                    | Action.Schedule _
                    | Action.Sync _
                    | Action.Retry -> false)))

    /// `completeTogether` in one round trip plus the commit, for completions that only append and acknowledge:
    /// the fence, every append and the acknowledgement go in one batch, and the transaction commits only if every
    /// claim was still held and every append applied. Otherwise it is rolled back and gives None: the caller
    /// completes them step by step, which tells each claim's outcome (lost, conflict, error).
    let completePipelined (completions: (Claim * Handled list) list) (ct: CancellationToken) =
        task {
            let! outcome =
                session.Transact ct (fun transaction ->
                    task {
                        use batch = transaction.Batch()
                        let fence = NpgsqlBatchCommand(statements.Fence completions.Length)

                        addFences fence.Parameters completions

                        batch.BatchCommands.Add fence
                        let reads = ResizeArray<NpgsqlDataReader -> Task<bool>>()

                        let acknowledgements =
                            [
                                for claim, handled in completions do
                                    let processed = Store.processed handled

                                    for item in processed do
                                        for action in item.Actions do
                                            match transaction.BatchCommand action with
                                            | Some(command, read) ->
                                                batch.BatchCommands.Add command
                                                reads.Add read
                                            | None -> ()

                                    match List.tryLast processed with
                                    | Some last ->
                                        claim.Group,
                                        claim.StreamId,
                                        last.Message.Seq,
                                        Some (claim.Token :?> PostgresClaim).Epoch
                                    | None -> ()
                            ]

                        if not acknowledgements.IsEmpty then
                            let complete = NpgsqlBatchCommand(statements.Complete acknowledgements.Length)

                            addCompletion complete.Parameters completions acknowledgements

                            batch.BatchCommands.Add complete

                        do! statements.Prepare(batch, ct)

                        try
                            use! reader = batch.ExecuteReaderAsync ct
                            let mutable held = 0

                            while! reader.ReadAsync ct do
                                held <- held + 1

                            let mutable applied = held = completions.Length

                            for read in reads do
                                let! _ = reader.NextResultAsync ct
                                let! fine = read reader
                                applied <- applied && fine

                            if applied then
                                return Ok [ for _ in completions -> CompleteResult.Completed ]
                            else
                                return Error()
                        with :? PostgresException ->
                            return Error()
                    })

            match outcome with
            | Ok results -> return Some results
            | Error() -> return None
        }

    /// Completes claims in one batch when they only append and acknowledge, or else (or when that batch rolled
    /// back) step by step in one transaction.
    let completeAll (completions: (Claim * Handled list) list) (ct: CancellationToken) =
        task {
            let! pipelined =
                if pipelinable completions then
                    completePipelined completions ct
                else
                    Task.FromResult None

            match pipelined with
            | Some results -> return Ok results
            | None -> return! completeTogether completions ct
        }

    /// `IMessageStore.CompleteAsync`.
    member _.CompleteAsync(claim: Claim, handled: Handled list, ct: CancellationToken) =
        task {
            // The claim ends here, or fails to, or (when `handled` is no prefix of it) expires.
            claims.Forget claim
            Store.checkPrefix claim handled

            let! outcome =
                task {
                    try
                        let! completed = completeAll [ claim, handled ] ct
                        return Ok completed
                    with
                    | :? PostgresException as error when
                        error.SqlState = PostgresErrorCodes.DeadlockDetected
                        || error.SqlState = PostgresErrorCodes.SerializationFailure
                        ->
                        return Ok(Error(CompleteResult.Conflict(claim.StreamId, -1L, -1L)))
                    | error -> return Error error
                }

            match outcome with
            | Ok(Ok results) -> return List.exactlyOne results
            | Ok(Error conflict) ->
                do! claims.Release claim ct
                return conflict
            | Error error ->
                do! claims.Release claim CancellationToken.None
                return raise error
        }

    /// `IMessageStore.CompleteManyAsync`: in one transaction, or one by one through `store` after a rollback.
    member _.CompleteManyAsync(store: IMessageStore, completions: (Claim * Handled list) list, ct: CancellationToken) =
        task {
            match completions with
            | []
            | [ _ ] -> return! Store.completeEachAsync store completions ct
            | _ when
                not (
                    completions
                    |> List.forall (fun (claim, handled) -> Store.isPrefix claim handled)
                )
                ->
                return! Store.completeEachAsync store completions ct
            | _ ->
                for claim, _ in completions do
                    claims.Forget claim

                let! together =
                    task {
                        try
                            let! completed = completeAll completions ct
                            return Ok completed
                        with error ->
                            return Error error
                    }

                match together with
                | Ok(Ok results) -> return results |> List.map Ok
                // NOTE: rolled back; one by one, each gets its own outcome.
                | Ok(Error _)
                | Error _ -> return! Store.completeEachAsync store completions ct
        }
