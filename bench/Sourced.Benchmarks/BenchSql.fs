/// The benchmark's own SQL, as literals: the raw-Npgsql baselines of the append scenario and the set-based seeding
/// of the claims scenario. `{messages}` etc. stand for a store's tables (`Postgres.render`); values are parameters.
[<RequireQualifiedAccess>]
module Sourced.Benchmarks.BenchSql

// ---- Raw appends ----------------------------------------------------------------------------------------------
// What a hand-written application needs to store an event in these tables with the store's guarantees: the
// stream row keeps the stream's last seq, so an append is optimistic (a stale expected seq stores nothing), and
// the messages get their seqs from it. One statement, so one implicit transaction and one round trip. JSON goes as
// text and is cast server-side: typed jsonb array parameters measured ~1.6x slower for 100-event batches.

[<Literal>]
let private InsertOneAfterHead =
    """
INSERT INTO {messages} (id, stream_id, seq, type, created_at, causation_id, correlation_id, metadata, payload)
SELECT @id, @stream, head.seq, @type, @created, @causation, @correlation, @metadata::jsonb, @payload::jsonb FROM head"""

/// One event on a new stream: creates the stream row at seq 1, or stores nothing when the stream exists.
[<Literal>]
let OneToNewStream =
    """
WITH head AS (
    INSERT INTO {streams} (stream_id, seq) VALUES (@stream, 1) ON CONFLICT (stream_id) DO NOTHING RETURNING seq
)"""
    + InsertOneAfterHead

/// One event after seq @expected: moves the stream row, or stores nothing when the stream is elsewhere.
[<Literal>]
let OneAfterSeq =
    """
WITH head AS (
    UPDATE {streams} SET seq = @expected + 1 WHERE stream_id = @stream AND seq = @expected RETURNING seq
)"""
    + InsertOneAfterHead

/// The stream row of a new stream with @count events; no row when it exists.
[<Literal>]
let NewHead =
    """
WITH head AS (
    INSERT INTO {streams} (stream_id, seq) VALUES (@stream, @count) ON CONFLICT (stream_id) DO NOTHING
    RETURNING 0::bigint AS base
)"""

/// The stream row moved from @expected by @count events; no row when the stream is elsewhere.
[<Literal>]
let MovedHead =
    """
WITH head AS (
    UPDATE {streams} SET seq = @expected + @count WHERE stream_id = @stream AND seq = @expected
    RETURNING @expected AS base
)"""

[<Literal>]
let private InsertManyFromArrays =
    """
INSERT INTO {messages} (id, stream_id, seq, type, created_at, causation_id, correlation_id, metadata, payload)
SELECT u.id, @stream, head.base + u.ordinal, u.type, u.created_at, u.causation_id, u.correlation_id,
       u.metadata::jsonb, u.payload::jsonb
FROM head,
     unnest(@ids, @types, @created, @causations, @correlations, @metadatas, @payloads)
         WITH ORDINALITY AS u(id, type, created_at, causation_id, correlation_id, metadata, payload, ordinal)"""

/// Many events of one stream from parameter arrays, on a new stream.
[<Literal>]
let ManyToNewStreamFromArrays = NewHead + InsertManyFromArrays

/// Many events of one stream from parameter arrays, after seq @expected.
[<Literal>]
let ManyAfterSeqFromArrays = MovedHead + InsertManyFromArrays

/// Many events of one stream as a multi-row VALUES list with parameters `@id0`, `@type0`, ... after `head`
/// (`NewHead` or `MovedHead`).
let manyFromValues (head: string) (count: int) : string =
    let rows =
        [
            for n in 0 .. count - 1 ->
                $"(@id{n}, {n + 1}, @type{n}, @created{n}, @causation{n}, @correlation{n}, @metadata{n}, @payload{n})"
        ]

    head
    + """
INSERT INTO {messages} (id, stream_id, seq, type, created_at, causation_id, correlation_id, metadata, payload)
SELECT v.id, @stream, head.base + v.ordinal, v.type, v.created_at, v.causation_id, v.correlation_id,
       v.metadata::jsonb, v.payload::jsonb
FROM head, (VALUES """
    + System.String.Join(", ", rows)
    + ") AS v(id, ordinal, type, created_at, causation_id, correlation_id, metadata, payload)"

/// The stream row alone (for COPY, which cannot join it): created at @count, or nothing when it exists.
[<Literal>]
let NewStreamRow =
    "INSERT INTO {streams} (stream_id, seq) VALUES (@stream, @count) ON CONFLICT (stream_id) DO NOTHING"

/// The stream row alone, moved from @expected by @count; nothing when the stream is elsewhere.
[<Literal>]
let MoveStreamRow =
    "UPDATE {streams} SET seq = @expected + @count WHERE stream_id = @stream AND seq = @expected"

[<Literal>]
let CopyMessages =
    "COPY {messages} (id, stream_id, seq, type, created_at, causation_id, correlation_id, metadata, payload) FROM STDIN (FORMAT BINARY)"

// ---- Seeding the claims scenario --------------------------------------------------------------------------------

/// Streams `claim-@first` to `claim-@last`, one message of @type each, stored in stream order: the rows the store
/// would have written for one-message appends (seq 1, its own id as causation and correlation, empty metadata).
/// Ids are time-ordered like the store's (Guid v7): here ordered by stream number.
[<Literal>]
let SeedMessages =
    """
INSERT INTO {messages} (id, stream_id, seq, type, created_at, causation_id, correlation_id, metadata, payload)
SELECT s.id, 'claim-' || s.n, 1, @type, now(), s.id, s.id, '{}'::jsonb,
       jsonb_build_object('number', s.n, 'note', 'seeded for the claims benchmark')
FROM (SELECT n, ('00000000-0000-7000-8000-' || lpad(to_hex(n), 12, '0'))::uuid AS id
      FROM generate_series(@first::bigint, @last::bigint) AS n) s
ORDER BY s.n;
INSERT INTO {streams} (stream_id, seq)
SELECT 'claim-' || n, 1 FROM generate_series(@first::bigint, @last::bigint) AS n"""

/// What discovery records for those streams in a group that starts from the beginning: an offset at 0 pending
/// at the stream's first message, and the group's cursor after the last message in (xid, position) order.
[<Literal>]
let SeedOffsets =
    """
INSERT INTO {offsets} (group_id, stream_id, acked, high, origin, next_position)
SELECT @group, m.stream_id, 0, 0, 0, m.position
FROM {messages} m
WHERE m.type = @type
ORDER BY m.position;
UPDATE {groups} g SET cursor_xid = last.xid, cursor_position = last.position
FROM (SELECT xid, position FROM {messages} ORDER BY xid DESC, position DESC LIMIT 1) last
WHERE g.id = @group"""

/// Every offset of a group, as text rows to compare (positions are equal when both tables were seeded alike).
[<Literal>]
let OffsetRows =
    """
SELECT concat_ws(',', stream_id, acked, high, origin, next_position, claimed_by, claim_token, claimed_at)
FROM {offsets} WHERE group_id = @group ORDER BY stream_id"""

/// The group's cursor, and whether its xid is that of the last message in (xid, position) order.
[<Literal>]
let GroupCursor =
    """
SELECT g.cursor_position::text || ',' || (g.cursor_xid = last.xid)::text
FROM {groups} g, (SELECT xid FROM {messages} ORDER BY xid DESC, position DESC LIMIT 1) last
WHERE g.id = @group"""
