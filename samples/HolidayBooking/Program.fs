/// Books two holidays in each style on background workers, and prints each booking's message trail with causation
/// and correlation ids: on PostgreSQL when a connection string is given (`--postgres "<connection string>"` or
/// SOURCED_PG), on the memory store otherwise.
module Program

open System
open System.Threading
open Npgsql
open Sourced
open Sourced.Postgres
open Booking

/// The sample's own schema, emptied at every run; each style has its own tables in it (a table prefix).
[<Literal>]
let Schema = "sourced_samples_holidays"

/// Each style's table prefix, heading and reactors.
let styles =
    [
        "orchestration", "Orchestration: the holiday actor books the flight and the hotel", Orchestration.reactors
        "choreography", "Choreography: the flight and hotel actors react to the holiday starting", Choreography.reactors
    ]

/// The random tail of a UUIDv7 (its head is a timestamp, alike for messages made together).
let short (id: Guid) = id.ToString().Substring(28)

let printTrail (trail: Message list) =
    let byId = trail |> List.map (fun message -> message.Id, message) |> dict

    for message in trail do
        let cause =
            match byId.TryGetValue message.CausationId with
            | true, parent when parent.Id <> message.Id -> $"<- {short parent.Id} {parent.Type}"
            | _ -> "<- sent from outside"

        printfn "    %s  %-25s %-24s %s" (short message.Id) message.Type $"{message.StreamId}#{message.Seq}" cause

/// Runs one style until both holidays are completed, then prints their trails.
let run (style: string) (reactors: Reactor list) (store: IMessageStore) =
    task {
        let runtime =
            new Runtime(
                store,
                reactors,
                { RuntimeOptions.defaults with
                    Workers = 4
                }
            )

        let holidays = [ "holiday-lisbon", "Lisbon", 7; "holiday-kyoto", "Kyoto", 10 ]

        let completed () =
            task {
                let mutable all = true

                for holidayId, _, _ in holidays do
                    let! holiday = Actor.loadAsync store Holidays.actor holidayId CancellationToken.None
                    all <- all && Holidays.completed holiday.State

                return all
            }

        // Each completed batch is a reason to look again: no timed polling.
        use progress = new SemaphoreSlim(0)

        use _ =
            runtime.Subscribe(fun event ->
                match event with
                | RuntimeEvent.BatchCompleted _ -> progress.Release() |> ignore
                | _ -> ())

        do! runtime.StartAsync CancellationToken.None

        let starts =
            [
                for holidayId, destination, nights in holidays ->
                    Actor.command Holidays.actor holidayId (Holidays.Start(destination, DateOnly(2027, 5, 1), nights))
            ]

        for start in starts do
            let! _ = runtime.DispatchAsync(start, CancellationToken.None)
            ()

        let mutable finished = false

        while not finished do
            let! bothCompleted = completed ()
            finished <- bothCompleted

            if not finished then
                let! progressed = progress.WaitAsync(TimeSpan.FromSeconds 30.0)

                if not progressed then
                    failwith "the bookings did not complete within 30 seconds"

        do! runtime.StopAsync CancellationToken.None

        printfn "%s" style

        for start in starts do
            let! trail = store.ReadCorrelationAsync(start.CorrelationId, CancellationToken.None)

            let! holiday =
                Actor.loadAsync store Holidays.actor start.StreamId CancellationToken.None

            printfn
                "  %s: flight %s, hotel %s (correlation %s, %d messages, all in it)"
                start.StreamId
                (defaultArg holiday.State.Flight "-")
                (defaultArg holiday.State.Hotel "-")
                (short start.CorrelationId)
                trail.Length

            printTrail trail

        printfn ""
    }

/// Runs the sample on PostgreSQL, in the sample's schema emptied first, or on the memory store.
let runOn (postgres: string option) (ct: CancellationToken) =
    task {
        match postgres with
        | None ->
            printfn "%s" SampleStore.inMemory

            for _, style, reactors in styles do
                do! run style reactors (MemoryStore())
        | Some connection ->
            use dataSource = NpgsqlDataSource.Create connection
            do! SampleStore.emptySchema dataSource Schema ct
            printfn "Store: PostgreSQL, schema %s (dropped and installed afresh, one table prefix per style)\n" Schema

            for prefix, style, reactors in styles do
                use store =
                    new PostgresStore(
                        dataSource,
                        { PostgresOptions.defaults with
                            Schema = Schema
                            Prefix = prefix
                        }
                    )

                do! store.InstallAsync ct
                do! run style reactors store
    }

[<EntryPoint>]
let main argv =
    SampleStore.main "HolidayBooking" argv runOn
