/// Runs the cart on the memory store and prints the trail of commands, events and reactions.
module Program

open System.Threading
open Sourced

let describe (store: IMessageStore) (message: Message) =
    let kind =
        if Cart.actor.Commands.Handles message.Type then
            "command"
        else
            "event"

    let cause =
        if message.CausationId = message.Id then
            "from outside"
        else
            let caused =
                (store.ReadLogAsync(0L, 1000, CancellationToken.None).Result
                 |> List.find (fun m -> m.Id = message.CausationId))

            let producer =
                Metadata.tryString MetadataKeys.Producer message.Metadata
                |> Option.map (fun group -> $", dispatched by {group}")
                |> Option.defaultValue ""

            $"caused by {caused.Type} #{caused.Seq}{producer}"

    printfn "  %-7s %-23s %s #%d %s" kind message.Type message.StreamId message.Seq (Json.toText message.Payload)
    printfn "          %s" cause

[<EntryPoint>]
let main _ =
    let ct = CancellationToken.None
    let store = MemoryStore() :> IMessageStore
    let table = Listings.Table()

    let reactors =
        [ Actor.toReactor Cart.actor; Projector.toReactor (Listings.projector table) ]

    // What a web handler does: build a validated command and dispatch it.
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

    (Store.dispatchAsync store command ct).Wait()

    // Background workers would do this continuously; drain runs the reactors until nothing is left.
    (Drain.runAsync store reactors ct).Wait()

    printfn "Trail of correlation %O:" command.CorrelationId

    for message in (store.ReadCorrelationAsync(command.CorrelationId, ct)).Result do
        describe store message

    let cart = (Actor.loadAsync store Cart.actor "cart-1" ct).Result
    printfn "\nCart cart-1: %d item(s), total %d (seq %d)" cart.State.Items.Length cart.State.Total cart.Seq
    printfn "Listing: %A" table["cart-1"]

    match
        Codec.parse Cart.actor.Commands "cart-2" "carts.add_item" """{"productId":"p-9","price":"12","quantity":"0"}"""
    with
    | Ok _ -> printfn "\nunexpected: an invalid form was accepted"
    | Error invalid -> printfn "\nA form with quantity 0 is refused: %s" invalid.Message

    0
