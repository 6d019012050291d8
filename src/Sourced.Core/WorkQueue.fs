namespace Sourced

open System.Collections.Generic
open System.Threading
open System.Threading.Channels
open System.Threading.Tasks

/// The reactors waiting for a worker, at most `capPerReactor` entries each, so that bursts of wake-ups
/// coalesce: one pending entry per worker is all a reactor can use.
type internal WorkQueue(capPerReactor: int) =
    let channel = Channel.CreateUnbounded<Reactor>()
    let waiting = Dictionary<string, int>()

    /// Queues a reactor unless it already has its share of entries; true when queued.
    member _.Push(reactor: Reactor) : bool =
        let queued =
            lock waiting (fun () ->
                let count =
                    match waiting.TryGetValue reactor.Group with
                    | true, count -> count
                    | _ -> 0

                if count >= capPerReactor then
                    false
                else
                    waiting[reactor.Group] <- count + 1
                    true)

        queued && channel.Writer.TryWrite reactor

    /// The next reactor to drain, or None once `ct` is cancelled.
    member _.TakeAsync(ct: CancellationToken) : Task<Reactor option> =
        task {
            try
                let! reactor = channel.Reader.ReadAsync(ct)
                lock waiting (fun () -> waiting[reactor.Group] <- waiting[reactor.Group] - 1)
                return Some reactor
            with :? System.OperationCanceledException ->
                return None
        }
