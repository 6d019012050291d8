using System.Collections.Concurrent;
using Sourced.CSharp;
using Xunit;

namespace Sourced.CSharp.Tests;

/// Durable workflows written in C#: async lambdas whose steps are recorded, retried and replayed.
public class WorkflowTests
{
    public record Trip(string Destination, int Nights);
    public record Booking(string Flight, string Hotel);

    sealed class Calls
    {
        readonly ConcurrentDictionary<string, int> counts = new();
        public int Count(string step) => counts.GetValueOrDefault(step);
        public int Add(string step) => counts.AddOrUpdate(step, 1, (_, count) => count + 1);
    }

    static Workflow<Trip, Booking> BookTrip(Calls calls, int flightFailures = 0) =>
        new("book-trip", async (run, trip) =>
        {
            var flight = await run.Step("book_flight", ct =>
                calls.Add("book_flight") <= flightFailures
                    ? throw new HttpRequestException("flights API is down")
                    : Task.FromResult($"FL-{trip.Destination}"),
                attempts: 3, backoff: TimeSpan.FromMilliseconds(20));
            await run.Sleep("cool_off", TimeSpan.FromMilliseconds(50));
            var hotel = await run.Step("book_hotel", ct => Task.FromResult($"HT-{trip.Destination}-{calls.Add("book_hotel")}N{trip.Nights}"));
            await run.Step("confirm", ct => { calls.Add("confirm"); return Task.CompletedTask; });
            return new Booking(flight, hotel);
        });

    [Fact]
    public async Task A_csharp_workflow_runs_under_workers_and_its_result_can_be_awaited()
    {
        var store = EventStore.InMemory();
        var calls = new Calls();
        var trip = BookTrip(calls, flightFailures: 1);
        await using var workers = new Workers(store, [trip]);
        await workers.StartAsync();

        var runId = await trip.StartAsync(store, new Trip("Rome", 3));
        var booking = await trip.ResultAsync(store, runId).WaitAsync(TimeSpan.FromSeconds(30));
        var recorded = await store.ReadStreamAsync(runId);

        Assert.Equal(new Booking("FL-Rome", "HT-Rome-1N3"), booking);
        Assert.Equal((2, 1, 1), (calls.Count("book_flight"), calls.Count("book_hotel"), calls.Count("confirm")));
        Assert.Equal(
            ["started", "step_started", "step_failed", "step_retried", "step_started", "step_completed",
             "sleep_started", "sleep_ended", "step_started", "step_completed", "step_started", "step_completed", "completed"],
            recorded.Select(message => message.Type["book-trip.".Length..]));
    }

    [Fact]
    public async Task A_step_out_of_attempts_fails_the_run_with_its_error()
    {
        var store = EventStore.InMemory();
        var trip = BookTrip(new Calls(), flightFailures: 99);
        await using var workers = new Workers(store, [trip]);
        await workers.StartAsync();

        var failed = await Assert.ThrowsAsync<WorkflowFailedException>(() =>
            trip.RunAsync(store, new Trip("Oslo", 1)).WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Equal(("book_flight", "flights API is down"), (failed.Step, failed.Error));
    }

    [Fact]
    public async Task A_body_that_catches_every_exception_around_a_step_still_waits_for_the_step()
    {
        var store = EventStore.InMemory();
        var calls = new Calls();
        var careless = new Workflow<string, string>("careless", async (run, name) =>
        {
            string greeting;
            try
            {
                greeting = await run.Step("greet", ct => Task.FromResult($"hello {name} #{calls.Add("greet")}"));
            }
            catch (Exception)
            {
                greeting = "fallback";
            }
            return greeting;
        });

        var output = await RunByDrainingAsync(store, careless, "ann");

        Assert.Equal("hello ann #1", output);
    }

    static async Task<TOutput> RunByDrainingAsync<TInput, TOutput>(EventStore store, Workflow<TInput, TOutput> workflow, TInput input)
    {
        var runId = await workflow.StartAsync(store, input);
        await store.DrainAsync([workflow]);
        return await workflow.ResultAsync(store, runId);
    }

    [Fact]
    public async Task A_reaction_can_start_a_workflow()
    {
        var store = EventStore.InMemory();
        var trip = BookTrip(new Calls());
        var planner = new Handler("planner").On<Holidays.Started>(Holidays.Actor, (started, _) =>
            [trip.Start(new Trip(started.Destination, started.Nights))]);
        var completed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var _ = store.Store.Subscribe(Microsoft.FSharp.Core.FSharpFunc<StoreNotification, Microsoft.FSharp.Core.Unit>.FromConverter(notification =>
        {
            if (notification is StoreNotification.MessagesAppended appended && appended.types.Contains("book-trip.completed"))
                completed.TrySetResult();
            return null!;
        }));

        await store.DispatchAsync(Holidays.Actor.Command("holiday-1", new Holidays.Start("Lima", new DateOnly(2026, 3, 1), 2)));
        await using var workers = new Workers(store, [Holidays.Actor, planner, trip]);
        await workers.StartAsync();
        await completed.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var log = await store.Store.ReadLogAsync(0, 1000, CancellationToken.None);
        var output = log.Single(message => message.Type == "book-trip.completed").Payload.GetProperty("output");

        Assert.Equal("FL-Lima", output.GetProperty("flight").GetString());
    }

    [Fact]
    public async Task A_catch_all_around_a_step_does_not_let_later_steps_run_before_it_completed()
    {
        var store = EventStore.InMemory();
        var calls = new Calls();
        var payment = new Workflow<string, string>("payment", async (run, order) =>
        {
            try
            {
                await run.Step("charge", ct => Task.FromResult(calls.Add("charge")));
                return "charged";
            }
            catch (Exception)
            {
                await run.Step("refund", ct => Task.FromResult(calls.Add("refund")));
                return "refunded";
            }
        });

        var output = await RunByDrainingAsync(store, payment, "order-1");

        Assert.Equal("charged", output);
        Assert.Equal((1, 0), (calls.Count("charge"), calls.Count("refund")));
    }

    [Fact]
    public async Task A_step_out_of_attempts_can_be_caught_to_compensate()
    {
        var store = EventStore.InMemory();
        var calls = new Calls();
        var payment = new Workflow<string, string>("payment", async (run, order) =>
        {
            try
            {
                await run.Step("charge", ct => Task.FromException<int>(new InvalidOperationException("card declined")), attempts: 1);
                return "charged";
            }
            catch (StepFailedException failed)
            {
                await run.Step("release_stock", ct => Task.FromResult(calls.Add("release_stock")));
                return $"released ({failed.Error}) for {run.Id.Split('-')[0]}";
            }
        });

        var output = await RunByDrainingAsync(store, payment, "order-1");

        Assert.Equal("released (card declined) for payment", output);
        Assert.Equal(1, calls.Count("release_stock"));
    }

    [Fact]
    public async Task A_step_started_inside_another_step_is_refused()
    {
        var store = EventStore.InMemory();
        var nested = new Workflow<string, string>("nested", async (run, _) =>
            await run.Step("outer", async ct => await run.Step("inner", c => Task.FromResult("x")), attempts: 1));

        var failed = await Assert.ThrowsAsync<WorkflowFailedException>(() => RunByDrainingAsync(store, nested, "x"));

        Assert.Contains("Step 'inner' was started inside step 'outer'", failed.Message);
    }
}
