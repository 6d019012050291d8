using Sourced.CSharp;
using Xunit;

namespace Sourced.CSharp.Tests;

/// How C# message classes are stored: names, payload shapes, optional fields, and the errors for bad payloads.
public class CodecTests
{
    public record Line(string Sku, int Quantity);

    public record PlaceOrder(
        string Customer,
        IReadOnlyList<Line> Lines,
        Dictionary<string, int> Discounts,
        string? Note,
        int? Priority)
    {
        public int Units => Lines.Sum(line => line.Quantity);
    }

    [MessageType("orders.placed.v2")]
    public record OrderPlaced(string Customer);

    public class Tag
    {
        public string Name { get; set; } = "";
        public List<string> Labels { get; init; } = [];
    }

    static readonly Actor<int> Orders =
        new Actor<int>("orders", _ => 0)
            .Decide<PlaceOrder>((_, order) => [new OrderPlaced(order.Customer)])
            .Decide<Tag>((_, _) => [])
            .Event<OrderPlaced>();

    static PlaceOrder Order(string? note = null, int? priority = null) =>
        new("ada", [new Line("a", 2), new Line("b", 1)], new() { ["spring"] = 10 }, note, priority);

    [Fact]
    public void Properties_are_stored_camel_case_with_lists_dictionaries_and_nulls_and_computed_ones_are_not()
    {
        var message = Orders.Command("order-1", Order(priority: 2));

        Assert.Equal("orders.place_order", message.Type);
        Assert.Equal(
            """{"customer":"ada","lines":[{"sku":"a","quantity":2},{"sku":"b","quantity":1}],"discounts":{"spring":10},"note":null,"priority":2}""",
            message.Payload.GetRawText());
    }

    [Fact]
    public void A_message_type_attribute_names_the_stored_type()
    {
        var decided = Orders.Decide(new Loaded<int>("order-1", 0, 0), Order());

        Assert.Equal("orders.placed.v2", decided.Events[0].Type);
    }

    [Fact]
    public void Nullable_properties_may_be_absent_and_the_others_are_required()
    {
        var parsed = Orders.ParseCommand("order-1", "orders.place_order",
            """{"customer":"ada","lines":[],"discounts":{}}""");
        var invalid = Assert.Throws<InvalidMessageException>(() => Orders.ParseCommand("order-1", "orders.place_order",
            """{"lines":[{"sku":"a"}],"discounts":{"x":"many"},"priority":"high"}"""));

        Assert.Equal(System.Text.Json.JsonValueKind.Null, parsed.Payload.GetProperty("note").ValueKind);
        Assert.Equal(
            "Invalid 'orders.place_order' message for stream 'order-1': customer: is required; " +
            "lines[0].quantity: is required; discounts.x: expected an integer, got \"many\"; " +
            "priority: expected an integer, got \"high\"",
            invalid.Message);
    }

    [Fact]
    public void A_decoded_command_is_the_same_record_again()
    {
        var original = Order(note: "ring twice", priority: 1);
        var message = Orders.Command("order-1", original);
        PlaceOrder? seen = null;
        var spy = new Actor<int>("orders", _ => 0)
            .Decide<PlaceOrder>((_, order) =>
            {
                seen = order;
                return [];
            });

        Scenario.For(spy, "order-1").When(original).ThenNothing();

        Assert.NotNull(seen);
        Assert.Equal(original.Customer, seen.Customer);
        Assert.Equal(original.Lines, seen.Lines);
        Assert.Equal(original.Discounts, seen.Discounts);
        Assert.Equal(("ring twice", 1), (seen.Note, seen.Priority));
        Assert.Equal(message.Payload.GetRawText(), Orders.Command("order-1", seen).Payload.GetRawText());
    }

    [Fact]
    public void Plain_classes_with_settable_properties_round_trip()
    {
        var message = Orders.ParseCommand("tag-1", "orders.tag", """{"name":"vip","labels":["a","b"]}""");

        Assert.Equal("""{"name":"vip","labels":["a","b"]}""", message.Payload.GetRawText());
    }

    [Fact]
    public void Sending_a_class_the_actor_does_not_know_is_a_clear_error()
    {
        var error = Assert.Throws<ArgumentException>(() => Orders.Command("order-1", new Line("a", 1)));

        Assert.Contains("Line is not one of the message classes of 'orders' (PlaceOrder, Tag)", error.Message);
    }
}
