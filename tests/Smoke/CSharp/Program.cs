// A tiny domain end to end from the packages, on the generic host and the memory store: a command is
// dispatched, the actor's reaction dispatches another, a projector sees the events. Exit code 0 when it all ran.
using System.Collections.Immutable;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Sourced.CSharp;

var projected = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);

var carts = new Actor<ImmutableList<string>>("carts", _ => [])
    .Decide<AddItem>((items, command) => [new ItemAdded(command.Sku)])
    .Decide<Notify>((items, command) => [new Notified(command.Sku)])
    .Evolve<ItemAdded>((items, added) => items.Add(added.Sku))
    .Event<Notified>()
    .React<ItemAdded>((items, added) => [Dispatch.Command(new Notify(added.Sku))]);

var counts = Projector<int>.StateStored("notified-count", (_, _) => Task.FromResult(0), (projection, _) =>
    {
        if (projection.State > 0) projected.TrySetResult(projection.State);
        return Task.CompletedTask;
    })
    .Evolve<Notified>(carts, (count, _) => count + 1);

var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
// AddPostgres only proves that package restores and links; the memory store is the one chosen.
builder.Services.AddSourced(sourced => sourced.AddPostgres().UseMemoryStore().Add(carts).Add(counts));
using var host = builder.Build();
await host.StartAsync();

await host.Services.GetRequiredService<EventStore>().DispatchAsync(carts.Command("cart-1", new AddItem("p-1")));
var seen = await projected.Task.WaitAsync(TimeSpan.FromSeconds(30));
await host.StopAsync();

Console.WriteLine($"smoke (C#): the projector saw {seen} notification(s) after one dispatch");
return seen == 1 ? 0 : 1;

public sealed record AddItem(string Sku);
public sealed record Notify(string Sku);
public sealed record ItemAdded(string Sku);
public sealed record Notified(string Sku);
