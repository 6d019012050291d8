// The seed's shopping cart as a C# actor: add a (validated) item, react by emailing an admin.
using System.Collections.Immutable;
using Sourced;
using Sourced.CSharp;

namespace CartSample;

public record Item(string ProductId, int Price, int Quantity);

public record AddItem(Item Item);
public record SendAdminEmail(string ProductId);

public record ItemAdded(Item Item);
public record AdminEmailSent(string ProductId);

public record Cart(string Id, string Status, ImmutableList<Item> Items)
{
    public int Total => Items.Sum(item => item.Price * item.Quantity);
}

public static class Carts
{
    public static readonly Actor<Cart> Actor =
        new Actor<Cart>("carts", id => new Cart(id, "open", []))
            .Decide<AddItem>((cart, command) => cart.Status == "open"
                ? [new ItemAdded(command.Item)]
                : throw new CommandRejectedException("cart is not open"))
            .Decide<SendAdminEmail>((cart, command) => [new AdminEmailSent(command.ProductId)])
            .Evolve<ItemAdded>((cart, added) => cart with { Items = cart.Items.Add(added.Item) })
            .Event<AdminEmailSent>()
            .React<ItemAdded>((cart, added) => [Dispatch.Command(new SendAdminEmail(added.Item.ProductId))])
            .Validate<AddItem>(command => command.Item switch
            {
                { Quantity: < 1 } => [new FieldError("item.quantity", "must be at least 1")],
                { Price: < 0 } => [new FieldError("item.price", "must not be negative")],
                _ => [],
            });
}
