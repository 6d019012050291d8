/// The benchmark's workload: a ping actor reacts to its own event by sending a pong actor a command in
/// another stream; one chain is 4 stored messages and 3 batches.
module Sourced.Benchmarks.Chain

open Sourced

module Pongs =
    type Command = Pong of number: int
    type Event = Ponged of number: int

    let actor =
        Actor.create "pongs" ignore (fun () (Pong number) -> [ Ponged number ]) (fun () _ -> ())

module Pings =
    type Command = Ping of number: int

    type Event = Pinged of number: int

    let actor =
        Actor.create "pings" ignore (fun () (Ping number) -> [ Pinged number ]) (fun () _ -> ())
        |> Actor.reacts [ nameof Pinged ] (fun () (Pinged number) ->
            [
                Dispatch.send Pongs.actor.Commands (Pongs.Pong number)
                |> Dispatch.toNewStream "pong"
            ])

let reactors = [ Actor.toReactor Pings.actor; Actor.toReactor Pongs.actor ]

/// One ping command per chain, each in its own stream.
let pings (chains: int) =
    [
        for number in 1..chains -> Actor.command Pings.actor $"ping-{number}" (Pings.Ping number)
    ]

/// Messages stored by `chains` complete chains.
let messagesPer (chains: int) = chains * 4
