/// Reading the effects that Sourced.TestWorker's "effects" group writes, and checking them against what was
/// stored: each message exactly once, every stream in order.
module Sourced.Postgres.Tests.Effects

open System
open System.Threading
open Expecto
open Npgsql
open Sourced

/// One effect row: which message, and which worker committed it.
type Effect =
    {
        StreamId: string
        Seq: int64
        MessageId: Guid
        Worker: string
    }

/// Every effect in the order they were written.
let read (dataSource: NpgsqlDataSource) (schema: string) =
    task {
        use command =
            dataSource.CreateCommand $"SELECT stream_id, seq, message_id, worker FROM {schema}.effects ORDER BY id"

        use! reader = command.ExecuteReaderAsync CancellationToken.None
        let effects = ResizeArray()

        while! reader.ReadAsync CancellationToken.None do
            effects.Add
                {
                    StreamId = reader.GetString 0
                    Seq = reader.GetInt64 1
                    MessageId = reader.GetGuid 2
                    Worker = reader.GetString 3
                }

        return List.ofSeq effects
    }

/// Each stored message has exactly one effect (none skipped, none twice, nothing else), and each stream's
/// effects were written in seq order, 1, 2, 3, ...
let expectExactlyOnceInOrder (effects: Effect list) (stored: Message list) =
    let count (ids: Guid seq) = ids |> Seq.countBy id |> Map.ofSeq
    let processed = count (effects |> Seq.map (fun effect -> effect.MessageId))
    let expected = count (stored |> Seq.map (fun message -> message.Id))

    let skipped =
        expected
        |> Map.filter (fun message _ -> not (processed.ContainsKey message))
        |> Map.count

    let twice = processed |> Map.filter (fun _ times -> times > 1) |> Map.count

    let unknown =
        processed
        |> Map.filter (fun message _ -> not (expected.ContainsKey message))
        |> Map.count

    Expect.equal
        (skipped, twice, unknown)
        (0, 0, 0)
        $"skipped, done twice, not stored (of {stored.Length} stored, {effects.Length} effects)"

    let outOfOrder =
        effects
        |> List.groupBy (fun effect -> effect.StreamId)
        |> List.filter (fun (_, inStream) ->
            (inStream |> List.map (fun effect -> effect.Seq))
            <> [ 1L .. int64 inStream.Length ])
        |> List.map fst

    Expect.isEmpty outOfOrder "streams whose effects are not in seq order"
