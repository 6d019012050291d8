/// Runs the seed's cart and prints the trail of commands, events and reactions: on PostgreSQL when a connection
/// string is given (`--postgres "<connection string>"` or SOURCED_PG), on the memory store otherwise.
module Program

open System
open System.Threading
open Sourced

/// The sample's own schema, emptied at every run.
[<Literal>]
let Schema = "sourced_samples_cart"

let kind (message: Message) =
    if Cart.actor.Commands.Handles message.Type then
        "command"
    else
        "event"

let cause (trail: Message list) (message: Message) =
    match
        trail
        |> List.tryFind (fun other -> other.Id = message.CausationId && other.Id <> message.Id)
    with
    | None -> "sent from outside"
    | Some parent ->
        let producer =
            match kind message, Metadata.tryString MetadataKeys.Producer message.Metadata with
            | "command", Some group -> $" by the '{group}' reaction"
            | _ -> ""

        $"caused by {parent.Type} #{parent.Seq}{producer}"

let run (store: IMessageStore) (ct: CancellationToken) =
    task {
        let listings = Listings.Table()

        let reactors =
            [
                Actor.toReactor Cart.actor
                Projector.toReactor (Listings.projector listings)
            ]

        // What a web handler does: a validated command, with request metadata, dispatched to the store.
        let command =
            Actor.command
                Cart.actor
                "cart-1"
                (Cart.AddItem
                    {
                        ProductId = "p-123"
                        Price = 1000
                        Quantity = 2
                    })
            |> Message.withMetadataString "request_id" "req-42"

        let! _ = Store.dispatchAsync store command ct

        // Background workers do this continuously; Drain runs the reactors until nothing is left.
        let! _ = Drain.runAsync store reactors ct

        let! trail = store.ReadCorrelationAsync(command.CorrelationId, ct)
        printfn "Messages of correlation %O, in log order:" command.CorrelationId

        for message in trail do
            printfn "  %-7s #%d %-23s %s" (kind message) message.Seq message.Type (Json.toText message.Payload)

            printfn
                "             %s (request %s)"
                (cause trail message)
                (Metadata.tryString "request_id" message.Metadata |> Option.defaultValue "-")

        let! cart = Actor.loadAsync store Cart.actor "cart-1" ct
        printfn "\nCart cart-1 at seq %d: %d item(s), total %d" cart.Seq cart.State.Items.Length cart.State.Total
        let listing = listings["cart-1"]
        printfn "Listing projection: %d unit(s), total %d" listing.Items listing.Total

        let form = """{"productId":"p-9","price":"12","quantity":"0"}"""

        match Codec.parse Cart.actor.Commands "cart-2" "carts.add_item" form with
        | Ok _ -> printfn "\nUnexpected: an invalid form was accepted"
        | Error invalid -> printfn "\nA form asking for 0 units is refused:\n  %s" invalid.Message
    }

[<EntryPoint>]
let main argv =
    SampleStore.main "Cart" argv (SampleStore.inOneSchema Schema run)
