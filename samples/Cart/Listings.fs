/// A state-stored projector: one listing row per cart, kept in a dictionary standing in for a table.
module Listings

open System.Collections.Concurrent
open System.Threading.Tasks
open Sourced

type Listing =
    {
        CartId: string
        Items: int
        Total: int
    }

type Table = ConcurrentDictionary<string, Listing>

let load (table: Table) cartId _ =
    Task.FromResult(
        match table.TryGetValue cartId with
        | true, listing -> listing
        | _ ->
            {
                CartId = cartId
                Items = 0
                Total = 0
            }
    )

let evolve listing event =
    match event with
    | Cart.ItemAdded item ->
        { listing with
            Items = listing.Items + item.Quantity
            Total = listing.Total + item.Price * item.Quantity
        }
    | Cart.AdminEmailSent _ -> listing

let save (table: Table) (projection: Projection<Listing>) _ =
    table[projection.StreamId] <- projection.State
    Task.FromResult()

let projector (table: Table) =
    Projector.stateStored "cart-listings" Cart.actor.Events (load table) evolve (save table)
