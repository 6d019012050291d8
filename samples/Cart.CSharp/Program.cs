// The seed's cart on the .NET generic host: background workers run the cart actor, a listing projector and an
// email handler; the app dispatches one command as a web handler would, waits for the work it caused, prints the
// trail and stops. Memory store by default; PostgreSQL with SOURCED_PG=<connection string> (or the configuration
// keys Sourced:Store=Postgres and Sourced:ConnectionString).
using CartSample;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Sourced.CSharp;

var builder = Host.CreateApplicationBuilder(args);
builder.Logging.AddFilter("Microsoft", LogLevel.Warning).AddFilter("Npgsql", LogLevel.Warning);
if (Environment.GetEnvironmentVariable("SOURCED_PG") is { Length: > 0 } postgres)
{
    builder.Configuration["Sourced:Store"] = "Postgres";
    builder.Configuration["Sourced:ConnectionString"] = postgres;
    builder.Configuration["Sourced:Schema"] ??= "sourced_samples_cart_cs";
}

var listings = new Listings();
var emails = new AdminEmails();
builder.Services.AddSourced(sourced =>
    sourced.AddPostgres().Add(Carts.Actor).Add(listings.Projector).Add(emails.Handler));

using var host = builder.Build();
await host.StartAsync();

var store = host.Services.GetRequiredService<EventStore>();
var cartId = $"cart-{Guid.CreateVersion7():N}";
var command = Carts.Actor.Command(cartId, new AddItem(new Item("p-123", 1000, 2))).WithMetadata("request_id", "req-42");
await store.DispatchAsync(command);

var timeout = TimeSpan.FromSeconds(30);
var listing = await listings.WhenListedAsync(cartId).WaitAsync(timeout);
var email = await emails.WhenSentAsync().WaitAsync(timeout);

Console.WriteLine($"Messages of correlation {command.CorrelationId}, in log order:");
foreach (var message in await store.ReadCorrelationAsync(command.CorrelationId))
    Console.WriteLine($"  #{message.Seq} {message.Type,-23} {message.Payload.GetRawText()} (request {message.MetadataString("request_id")})");

Console.WriteLine($"\nListing of {cartId}: {listing.Items} unit(s), total {listing.Total}");
Console.WriteLine($"Admin emailed about {email}");

try
{
    Carts.Actor.ParseCommand("cart-2", "carts.add_item", """{"item":{"productId":"p-9","price":"12","quantity":"0"}}""");
}
catch (Sourced.InvalidMessageException invalid)
{
    Console.WriteLine($"\nA form asking for 0 units is refused:\n  {invalid.Message}");
}

await host.StopAsync();
