/// The seed's shopping cart as an F# actor: add a (validated) item, react by emailing an admin.
module Cart

open Sourced

type Item =
    {
        ProductId: string
        Price: int
        Quantity: int
    }

type Command =
    | AddItem of Item
    | SendAdminEmail of productId: string

type Event =
    | ItemAdded of Item
    | AdminEmailSent of productId: string

type State =
    {
        Id: string
        Status: string
        Items: Item list
    }

    member cart.Total = cart.Items |> List.sumBy (fun item -> item.Price * item.Quantity)

let initial id =
    { Id = id; Status = "open"; Items = [] }

let decide cart command =
    match command with
    | AddItem _ when cart.Status <> "open" -> reject "cart is not open"
    | AddItem item -> [ ItemAdded item ]
    | SendAdminEmail productId -> [ AdminEmailSent productId ]

let evolve cart event =
    match event with
    | ItemAdded item ->
        { cart with
            Items = cart.Items @ [ item ]
        }
    | AdminEmailSent _ -> cart

let react _cart event =
    match event with
    | ItemAdded item -> [ Dispatch.command (SendAdminEmail item.ProductId) ]
    | AdminEmailSent _ -> []

let validate command =
    match command with
    | AddItem item when item.Quantity < 1 -> [ FieldError.create "quantity" "must be at least 1" ]
    | AddItem item when item.Price < 0 -> [ FieldError.create "price" "must not be negative" ]
    | _ -> []

let actor =
    Actor.create "carts" initial decide evolve
    |> Actor.reacts [ nameof ItemAdded ] react
    |> Actor.validates validate
