/// Diagnostics for the runtime scenarios: a store that counts and times the claims and completions passing through
/// it, and how many store calls were in flight at once (how many workers were busy).
module Sourced.Benchmarks.StoreProbe

open System
open System.Diagnostics
open Sourced

/// What passed through a probed store.
type Counts() =
    member val Claims = 0L with get, set
    member val EmptyClaims = 0L with get, set
    member val ClaimedStreams = 0L with get, set
    member val ClaimedMessages = 0L with get, set
    member val ClaimTicks = 0L with get, set
    member val Completions = 0L with get, set
    member val CompletionTicks = 0L with get, set
    member val InFlight = 0 with get, set
    member val MostInFlight = 0 with get, set

    member counts.Enter() =
        lock counts (fun () ->
            counts.InFlight <- counts.InFlight + 1
            counts.MostInFlight <- max counts.MostInFlight counts.InFlight)

    member counts.Leave() =
        lock counts (fun () -> counts.InFlight <- counts.InFlight - 1)

    override counts.ToString() =
        let ms (ticks: int64) (calls: int64) =
            float ticks * 1000.0 / float Stopwatch.Frequency / float (max 1L calls)

        let taken = counts.Claims - counts.EmptyClaims

        $"{counts.Claims} claims ({counts.EmptyClaims} empty, {float counts.ClaimedStreams / float (max 1L taken):F1} streams and {float counts.ClaimedMessages / float (max 1L taken):F1} messages each, {ms counts.ClaimTicks counts.Claims:F2} ms mean), {counts.Completions} completions ({ms counts.CompletionTicks counts.Completions:F2} ms mean), at most {counts.MostInFlight} store calls at once"

let private timed (counts: Counts) (work: unit -> Threading.Tasks.Task<'T>) (record: int64 -> 'T -> unit) =
    task {
        counts.Enter()
        let started = Stopwatch.GetTimestamp()
        let! result = work ()
        let ticks = Stopwatch.GetTimestamp() - started
        counts.Leave()
        lock counts (fun () -> record ticks result)
        return result
    }

/// `store` with the claims and completions of workers going through `claim` and `complete` (which call the
/// store's own `ClaimManyAsync` and `CompleteManyAsync`).
let intercept
    (store: IMessageStore)
    (claim: ClaimRequest -> int -> Threading.CancellationToken -> Threading.Tasks.Task<Claim list>)
    (complete:
        (Claim * Handled list) list
            -> Threading.CancellationToken
            -> Threading.Tasks.Task<Result<CompleteResult, exn> list>)
    : IMessageStore =
    { new IMessageStore with
        member _.Clock = store.Clock

        member _.AppendAsync(streamId, expectedSeq, messages, ct) =
            store.AppendAsync(streamId, expectedSeq, messages, ct)

        member _.AppendNextAsync(messages, ct) = store.AppendNextAsync(messages, ct)

        member _.ReadStreamAsync(streamId, after, upTo, ct) =
            store.ReadStreamAsync(streamId, after, upTo, ct)

        member _.ReadCorrelationAsync(correlationId, ct) =
            store.ReadCorrelationAsync(correlationId, ct)

        member _.ReadLogAsync(after, limit, ct) = store.ReadLogAsync(after, limit, ct)
        member _.ScheduleAsync(at, messages, ct) = store.ScheduleAsync(at, messages, ct)
        member _.PromoteDueAsync ct = store.PromoteDueAsync ct
        member _.RegisterGroupAsync(group, ct) = store.RegisterGroupAsync(group, ct)

        member _.StopGroupAsync(group, reason, error, ct) =
            store.StopGroupAsync(group, reason, error, ct)

        member _.StartGroupAsync(group, ct) = store.StartGroupAsync(group, ct)
        member _.ResetGroupAsync(group, ct) = store.ResetGroupAsync(group, ct)

        member _.RecordFailureAsync(group, attempt, recovery, error, ct) =
            store.RecordFailureAsync(group, attempt, recovery, error, ct)

        member _.RetryCountAsync(group, ct) = store.RetryCountAsync(group, ct)
        member _.GroupStatsAsync ct = store.GroupStatsAsync ct
        member _.ClaimAsync(request, ct) = store.ClaimAsync(request, ct)
        member _.ClaimManyAsync(request, streams, ct) = claim request streams ct

        member _.CompleteAsync(claimed, handled, ct) =
            store.CompleteAsync(claimed, handled, ct)

        member _.CompleteManyAsync(completions, ct) = complete completions ct
        member _.ReleaseAsync(claimed, ct) = store.ReleaseAsync(claimed, ct)
        member _.HeartbeatAsync(workers, ct) = store.HeartbeatAsync(workers, ct)
        member _.ReclaimAsync(staleAfter, ct) = store.ReclaimAsync(staleAfter, ct)
        member _.TransactAsync(work, ct) = store.TransactAsync(work, ct)
        member _.Subscribe listener = store.Subscribe listener
    }

/// `store`, counting its claims and completions into `counts`.
let probe (counts: Counts) (store: IMessageStore) : IMessageStore =
    intercept
        store
        (fun request streams ct ->
            timed counts (fun () -> store.ClaimManyAsync(request, streams, ct)) (fun ticks claims ->
                counts.Claims <- counts.Claims + 1L
                counts.ClaimTicks <- counts.ClaimTicks + ticks
                counts.ClaimedStreams <- counts.ClaimedStreams + int64 claims.Length

                for claim in claims do
                    counts.ClaimedMessages <- counts.ClaimedMessages + int64 claim.Messages.Length

                if claims.IsEmpty then
                    counts.EmptyClaims <- counts.EmptyClaims + 1L))
        (fun completions ct ->
            timed counts (fun () -> store.CompleteManyAsync(completions, ct)) (fun ticks _ ->
                counts.Completions <- counts.Completions + 1L
                counts.CompletionTicks <- counts.CompletionTicks + ticks))
