/// The store contract: scheduling.
module Sourced.Tests.StoreContract.Scheduling

open System
open System.Threading.Tasks
open Expecto
open Sourced
open Sourced.Tests.Support
open Sourced.Tests.StoreContract.Kit

let tests (create: TimeProvider -> Task<IMessageStore>) =
    let contract = contract create

    testList
        "scheduling"
        [
            contract "messages due at once are promoted in due order, not in the order they were scheduled"
            <| fun clock store ->
                task {
                    let now = clock.GetUtcNow()
                    let later = message "s" happened 1
                    let sooner = message "s" happened 2
                    do! store.ScheduleAsync(now.AddSeconds 5.0, [ later ], ct)
                    do! store.ScheduleAsync(now.AddSeconds 2.0, [ sooner ], ct)
                    clock.Advance(TimeSpan.FromSeconds 6.0)
                    let! promoted = store.PromoteDueAsync ct
                    Expect.equal promoted 2 "both due"
                    let! stream = readStream store "s"
                    Expect.equal (ids stream) [ sooner.Id; later.Id ] "the sooner one first"
                }

            contract "scheduled messages wait until due, then follow the stream in due-time and scheduling order"
            <| fun clock store ->
                task {
                    let! existing = appendTo store "s" 0L [ message "s" happened 0 ]
                    let now = clock.GetUtcNow()
                    let first = message "s" happened 1
                    let second = message "s" happened 2
                    let late = message "s" happened 3

                    let third =
                        { message "s" happened 4 with
                            Seq = 42L
                        }

                    let elsewhere = message "t" happened 5
                    do! store.ScheduleAsync(now.AddSeconds 2.0, [ first; second ], ct)
                    do! store.ScheduleAsync(now.AddSeconds 10.0, [ late ], ct)
                    do! store.ScheduleAsync(now.AddSeconds 2.0, [ third; elsewhere ], ct)

                    let! promoted = store.PromoteDueAsync ct
                    Expect.equal promoted 0 "nothing due yet"
                    clock.Advance(TimeSpan.FromSeconds 1.0)
                    let! promoted = store.PromoteDueAsync ct
                    Expect.equal promoted 0 "still nothing due"
                    let! stream = readStream store "s"
                    Expect.equal (ids stream) (ids existing) "nothing promoted"

                    clock.Advance(TimeSpan.FromSeconds 2.0)
                    let! promoted = store.PromoteDueAsync ct
                    Expect.equal promoted 4 "the four due messages"
                    let! again = store.PromoteDueAsync ct
                    Expect.equal again 0 "promoted once"
                    let! stream = readStream store "s"
                    Expect.equal (ids stream) (ids existing @ [ first.Id; second.Id; third.Id ]) "due ones, in order"
                    Expect.equal (seqs stream) [ 1L; 2L; 3L; 4L ] "seqs after the existing ones"
                    let! other = readStream store "t"
                    Expect.equal (other |> List.map (fun message -> message.Id, message.Seq)) [ elsewhere.Id, 1L ] "t"

                    clock.Advance(TimeSpan.FromSeconds 8.0)
                    let! promoted = store.PromoteDueAsync ct
                    Expect.equal promoted 1 "the late one"
                    let! stream = readStream store "s"
                    Expect.equal (List.last stream |> fun message -> message.Id, message.Seq) (late.Id, 5L) "late"
                }

            contract "promoted messages are created at promotion time and carry a scheduled_at metadata key"
            <| fun clock store ->
                task {
                    let reminder =
                        message "s" command 1
                        |> Message.causedBy (message "origin" command 0)
                        |> Message.withMetadataString "request_id" "r-1"

                    do! store.ScheduleAsync(clock.GetUtcNow().AddMinutes 5.0, [ reminder ], ct)
                    clock.Advance(TimeSpan.FromMinutes 7.0)
                    let! promoted = store.PromoteDueAsync ct
                    Expect.equal promoted 1 "promoted"

                    match! readStream store "s" with
                    | [ stored ] ->
                        Expect.equal stored.Id reminder.Id "id"
                        Expect.equal stored.CausationId reminder.CausationId "causation id"
                        Expect.equal stored.CorrelationId reminder.CorrelationId "correlation id"
                        Expect.isTrue (Json.deepEquals stored.Payload reminder.Payload) "payload"
                        Expect.equal stored.CreatedAt (clock.GetUtcNow()) "created at promotion"
                        Expect.isTrue (stored.Metadata.ContainsKey MetadataKeys.ScheduledAt) "scheduled_at"
                        Expect.equal (Metadata.tryString "request_id" stored.Metadata) (Some "r-1") "own metadata kept"
                    | stream -> failtestf "expected the reminder, got %A" stream
                }

            contract "concurrent promoters promote each due message exactly once, in order"
            <| fun clock store ->
                task {
                    let now = clock.GetUtcNow()
                    let streams = [ for number in 1..5 -> $"s-{number}" ]

                    let scheduled =
                        [
                            for index in 0..99 ->
                                now.AddSeconds(float (1 + index * 7 % 5)),
                                message streams[index % streams.Length] happened index
                        ]

                    for at, message in scheduled do
                        do! store.ScheduleAsync(at, [ message ], ct)

                    clock.Advance(TimeSpan.FromSeconds 10.0)
                    let! promoted = inParallel 16 (fun _ -> store.PromoteDueAsync ct)
                    Expect.equal (Array.sum promoted) 100 "each promoted once"

                    for streamId in streams do
                        let expected =
                            scheduled
                            |> List.filter (fun (_, message) -> message.StreamId = streamId)
                            |> List.sortBy fst
                            |> List.map (snd >> fun message -> message.Id)

                        let! stream = readStream store streamId
                        Expect.equal (ids stream) expected $"{streamId}: due-time, then scheduling order"
                        Expect.equal (seqs stream) [ 1L .. 20L ] $"{streamId}: seqs"
                }

            contract "scheduling refuses a message id that is already stored or scheduled"
            <| fun clock store ->
                task {
                    let stored = message "s" happened 1
                    let waiting = message "s" happened 2
                    let! _ = appendTo store "s" 0L [ stored ]
                    let at = clock.GetUtcNow().AddSeconds 1.0
                    do! store.ScheduleAsync(at, [ waiting ], ct)
                    let! _ = raises<ArgumentException>(fun () -> store.ScheduleAsync(at, [ stored ], ct))

                    let! _ =
                        raises<ArgumentException>(fun () -> store.ScheduleAsync(at, [ waiting ], ct))

                    clock.Advance(TimeSpan.FromSeconds 2.0)
                    let! promoted = store.PromoteDueAsync ct
                    Expect.equal promoted 1 "only the first scheduling"
                }
        ]
