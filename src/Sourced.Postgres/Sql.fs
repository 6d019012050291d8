namespace Sourced.Postgres

/// Every SQL statement of the store, as literals. `{name}` placeholders stand for validated identifiers
/// (see `Names`), spliced once by `Sql.render`; values are always `@parameters`.
[<RequireQualifiedAccess>]
module internal Sql =

    // ---- Schema ---------------------------------------------------------------------------------------------

    [<Literal>]
    let CreateMigrations =
        """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {migrations} (
    version integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);"""

    [<Literal>]
    let LockMigrations =
        "SELECT pg_advisory_xact_lock(hashtextextended('{channel}:migrations', 0))"

    [<Literal>]
    let AppliedMigrations = "SELECT coalesce(max(version), 0) FROM {migrations}"

    [<Literal>]
    let RecordMigration = "INSERT INTO {migrations} (version) VALUES (@version)"

    /// Whether stored transaction ids are ahead of the server's: the database was copied to another cluster
    /// (pg_dump and restore, logical replication), where discovery would find nothing new.
    [<Literal>]
    let XidsAhead =
        """
SELECT coalesce((SELECT max(xid) FROM {messages}) > pg_current_xact_id(), false)
    OR coalesce((SELECT max(cursor_xid) FROM {groups}) > pg_current_xact_id(), false)"""

    [<Literal>]
    let MigrationsTableExists = "SELECT to_regclass('{migrations}') IS NOT NULL"

    /// Version 1: the log, stream heads, consumer groups and their offsets, scheduled messages, workers.
    [<Literal>]
    let Migration1 =
        """
CREATE TABLE {streams} (
    stream_id text PRIMARY KEY,
    seq bigint NOT NULL
);

CREATE TABLE {messages} (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    id uuid NOT NULL,
    stream_id text NOT NULL,
    seq bigint NOT NULL,
    type text NOT NULL,
    created_at timestamptz NOT NULL,
    causation_id uuid NOT NULL,
    correlation_id uuid NOT NULL,
    metadata jsonb NOT NULL,
    payload jsonb NOT NULL,
    CONSTRAINT {prefix}_messages_id UNIQUE (id),
    CONSTRAINT {prefix}_messages_stream_seq UNIQUE (stream_id, seq)
);
CREATE INDEX {prefix}_messages_correlation ON {messages} (correlation_id, position);
CREATE INDEX {prefix}_messages_discovery ON {messages} (xid, position) INCLUDE (stream_id, seq, type);

CREATE TABLE {groups} (
    id text PRIMARY KEY,
    types text[] NOT NULL,
    start_from text NOT NULL,
    start_snapshot pg_snapshot,
    start_xid xid8 NOT NULL,
    cursor_xid xid8 NOT NULL,
    cursor_position bigint NOT NULL DEFAULT 0,
    status text NOT NULL DEFAULT 'active',
    reason text,
    error jsonb,
    retry_at timestamptz,
    retry_count integer NOT NULL DEFAULT 0
);

CREATE TABLE {offsets} (
    group_id text NOT NULL REFERENCES {groups} (id) ON DELETE CASCADE,
    stream_id text NOT NULL,
    acked bigint NOT NULL,
    high bigint NOT NULL,
    origin bigint NOT NULL,
    next_position bigint,
    claimed_by text,
    claim_token uuid,
    claimed_at timestamptz,
    epoch bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (group_id, stream_id)
);
CREATE INDEX {prefix}_offsets_pending ON {offsets} (group_id, next_position) WHERE next_position IS NOT NULL;
CREATE INDEX {prefix}_offsets_claimed ON {offsets} (claimed_by) WHERE claimed_by IS NOT NULL;

CREATE TABLE {scheduled} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    due timestamptz NOT NULL,
    message_id uuid NOT NULL UNIQUE,
    stream_id text NOT NULL,
    type text NOT NULL,
    created_at timestamptz NOT NULL,
    causation_id uuid NOT NULL,
    correlation_id uuid NOT NULL,
    metadata jsonb NOT NULL,
    payload jsonb NOT NULL
);
CREATE INDEX {prefix}_scheduled_due ON {scheduled} (due, id);

CREATE TABLE {workers} (
    id text PRIMARY KEY,
    last_seen timestamptz NOT NULL
);"""

    // ---- Messages --------------------------------------------------------------------------------------------

    [<Literal>]
    let MessageColumns =
        "m.position, m.id, m.stream_id, m.seq, m.type, m.created_at, m.causation_id, m.correlation_id, m.metadata::text, m.payload::text"

    /// The messages of one append, inserted after the stream head `head` (one row: its seq before them).
    [<Literal>]
    let InsertAfterHead =
        """
inserted AS (
    INSERT INTO {messages} (id, stream_id, seq, type, created_at, causation_id, correlation_id, metadata, payload)
    SELECT u.id, @stream, head.base + u.ordinal, u.type, u.created_at, u.causation_id, u.correlation_id,
           u.metadata::jsonb, u.payload::jsonb
    FROM head,
         unnest(@ids, @types, @created, @causations, @correlations, @metadatas, @payloads)
             WITH ORDINALITY AS u(id, type, created_at, causation_id, correlation_id, metadata, payload, ordinal)
    RETURNING position, seq
)
SELECT position, seq FROM inserted ORDER BY seq"""

    /// One message, after the stream head `head`, from scalar parameters (cheaper than arrays for one row).
    [<Literal>]
    let InsertOneAfterHead =
        """
inserted AS (
    INSERT INTO {messages} (id, stream_id, seq, type, created_at, causation_id, correlation_id, metadata, payload)
    SELECT @id, @stream, head.base + 1, @type, @created, @causation, @correlation, @metadata::jsonb, @payload::jsonb
    FROM head
    RETURNING position, seq
)
SELECT position, seq FROM inserted"""

    /// A new stream: the head is created at the messages' last seq, or nothing happens when it exists.
    [<Literal>]
    let NewStreamHead =
        """
WITH head AS (
    INSERT INTO {streams} (stream_id, seq) VALUES (@stream, @count)
    ON CONFLICT (stream_id) DO NOTHING
    RETURNING 0::bigint AS base
),"""

    /// An existing stream at the expected seq: the head moves (locking it until commit), or nothing happens.
    [<Literal>]
    let AfterSeqHead =
        """
WITH head AS (
    UPDATE {streams} SET seq = @expected + @count
    WHERE stream_id = @stream AND seq = @expected
    RETURNING @expected AS base
),"""

    [<Literal>]
    let AppendToNewStream = NewStreamHead + InsertAfterHead

    [<Literal>]
    let AppendAfterSeq = AfterSeqHead + InsertAfterHead

    [<Literal>]
    let AppendOneToNewStream = NewStreamHead + InsertOneAfterHead

    [<Literal>]
    let AppendOneAfterSeq = AfterSeqHead + InsertOneAfterHead

    /// Messages for any streams, each at the end of its stream, in one statement. The heads are created or
    /// moved in stream id order, so concurrent appends to overlapping streams lock them in the same order and
    /// cannot deadlock; positions follow the messages' order.
    [<Literal>]
    let AppendNext =
        """
WITH input AS (
    SELECT u.*, row_number() OVER (PARTITION BY u.stream_id ORDER BY u.ordinal) AS nth
    FROM unnest(@ids, @streams, @types, @created, @causations, @correlations, @metadatas, @payloads)
        WITH ORDINALITY AS u(id, stream_id, type, created_at, causation_id, correlation_id, metadata, payload, ordinal)
),
counts AS (SELECT stream_id, count(*) AS n FROM input GROUP BY stream_id),
heads AS (
    INSERT INTO {streams} (stream_id, seq)
    SELECT stream_id, n FROM counts ORDER BY stream_id
    ON CONFLICT (stream_id) DO UPDATE SET seq = {streams}.seq + EXCLUDED.seq
    RETURNING stream_id, seq
),
inserted AS (
    INSERT INTO {messages} (id, stream_id, seq, type, created_at, causation_id, correlation_id, metadata, payload)
    SELECT i.id, i.stream_id, h.seq - c.n + i.nth, i.type, i.created_at, i.causation_id, i.correlation_id,
           i.metadata::jsonb, i.payload::jsonb
    FROM input i JOIN heads h ON h.stream_id = i.stream_id JOIN counts c ON c.stream_id = i.stream_id
    ORDER BY i.ordinal
    RETURNING id, position, seq
)
SELECT id, position, seq FROM inserted"""

    [<Literal>]
    let StreamSeq =
        "SELECT coalesce((SELECT seq FROM {streams} WHERE stream_id = @stream), 0)"

    [<Literal>]
    let ExistingIds =
        "SELECT id FROM {messages} WHERE id = ANY(@ids) UNION SELECT message_id FROM {scheduled} WHERE message_id = ANY(@ids)"

    [<Literal>]
    let ReadStream =
        "SELECT "
        + MessageColumns
        + " FROM {messages} m WHERE m.stream_id = @stream AND m.seq > @after AND m.seq <= @upTo ORDER BY m.seq"

    [<Literal>]
    let ReadCorrelation =
        "SELECT "
        + MessageColumns
        + " FROM {messages} m WHERE m.correlation_id = @correlation ORDER BY m.position"

    [<Literal>]
    let ReadLog =
        "SELECT "
        + MessageColumns
        + " FROM {messages} m WHERE m.position > @after ORDER BY m.position LIMIT @limit"

    // ---- Scheduling ------------------------------------------------------------------------------------------

    [<Literal>]
    let Schedule =
        """
INSERT INTO {scheduled} (due, message_id, stream_id, type, created_at, causation_id, correlation_id, metadata, payload)
SELECT @due, u.id, u.stream_id, u.type, u.created_at, u.causation_id, u.correlation_id, u.metadata::jsonb, u.payload::jsonb
FROM unnest(@ids, @streams, @types, @created, @causations, @correlations, @metadatas, @payloads)
    AS u(id, stream_id, type, created_at, causation_id, correlation_id, metadata, payload)"""

    /// One promoter at a time (in due order); the others find the lock taken and promote nothing.
    [<Literal>]
    let TakeDue =
        """
WITH promoter AS (SELECT pg_try_advisory_xact_lock(hashtextextended('{channel}:promote', 0)) AS got),
due AS (
    DELETE FROM {scheduled}
    WHERE id IN (SELECT id FROM {scheduled}, promoter WHERE promoter.got AND due <= @now ORDER BY due, id LIMIT 1000)
    RETURNING id, due, message_id, stream_id, type, causation_id, correlation_id, metadata::text AS metadata, payload::text AS payload
)
SELECT message_id, stream_id, type, causation_id, correlation_id, metadata, payload FROM due ORDER BY due, id"""

    // ---- Consumer groups ---------------------------------------------------------------------------------------

    /// Waits for the group's discovery lock and holds it until commit. Registrations and resets take it first:
    /// they wait for each other (two processes starting at once would both insert the group) and for a
    /// discovery step in progress, and no discovery step runs until they commit. A claim that found nothing
    /// because another transaction was discovering takes it to wait for that discovery. Locks are thus always
    /// taken in one order: discovery lock, group row, offsets rows (in key order).
    [<Literal>]
    let LockDiscovery =
        "SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtextextended('{channel}:discovery:' || @group, 0))) AS waited"

    [<Literal>]
    let LockGroup =
        "SELECT types, start_from FROM {groups} WHERE id = @group FOR UPDATE"

    /// A new group: from the beginning it starts at xid 0; from now it starts at the registration snapshot
    /// (messages visible in it are older than the group).
    [<Literal>]
    let InsertGroup =
        """
INSERT INTO {groups} (id, types, start_from, start_snapshot, start_xid, cursor_xid)
SELECT @group, @types, @start,
       CASE WHEN @start = 'now' THEN pg_current_snapshot() END,
       CASE WHEN @start = 'now' THEN pg_snapshot_xmin(pg_current_snapshot()) ELSE '0'::xid8 END,
       CASE WHEN @start = 'now' THEN pg_snapshot_xmin(pg_current_snapshot()) ELSE '0'::xid8 END"""

    /// New types: the group scans the log again from its start; pending streams are checked against the types.
    [<Literal>]
    let UpdateGroupTypes =
        """
UPDATE {groups} SET types = @types,
    cursor_xid = CASE WHEN @rescan THEN start_xid ELSE cursor_xid END,
    cursor_position = CASE WHEN @rescan THEN 0 ELSE cursor_position END
WHERE id = @group"""

    /// The position of the first message of the group `g`'s types after `after` in the stream of offset `o`,
    /// through the (stream_id, seq) index. Positions grow with seqs within a stream: appends to a stream are
    /// serialized by its head row.
    let nextPending (after: string) =
        $"(SELECT m.position FROM {{messages}} m WHERE m.stream_id = o.stream_id AND m.seq > {after} AND m.type = ANY(g.types) ORDER BY m.seq LIMIT 1)"

    /// `nextPending` after the acknowledged seq of the offsets row `offset`, for the types `types`: null when
    /// nothing waits (messages discovered after they were processed mark nothing pending).
    let nextPendingOf (offset: string) (types: string) =
        $"(SELECT m.position FROM {{messages}} m WHERE m.stream_id = {offset}.stream_id AND m.seq > {offset}.acked AND m.type = ANY({types}) ORDER BY m.seq LIMIT 1)"

    /// Where a group that starts from now starts in stream `stream`: after the messages visible in its
    /// registration snapshot (a prefix of the stream), or at 0 for a group that starts from the beginning.
    let origin (stream: string) =
        $"""CASE WHEN g.start_snapshot IS NULL THEN 0
                ELSE coalesce((SELECT max(m.seq) FROM {{messages}} m
                               WHERE m.stream_id = {stream} AND pg_visible_in_snapshot(m.xid, g.start_snapshot)), 0)
           END"""

    let RefreshPending =
        """
WITH locked AS (
    SELECT stream_id FROM {offsets} WHERE group_id = @group AND next_position IS NOT NULL
    ORDER BY stream_id FOR UPDATE
)
UPDATE {offsets} o SET next_position = """
        + nextPending "o.acked"
        + """
FROM {groups} g, locked l WHERE g.id = @group AND o.group_id = @group AND o.stream_id = l.stream_id"""

    /// One discovery step of a group: up to {discovery_limit} messages (a number the store renders, as in claims)
    /// past its cursor, and older than every transaction still running (the xmin horizon: nothing can commit below
    /// it any more, so nothing is ever skipped), mark their streams pending. One discoverer per group at a time; the others skip. Also tells whether
    /// committed messages of the group wait above the horizon (for transactions older than them to end).
    let Discover =
        """
WITH discoverer AS (SELECT pg_try_advisory_xact_lock(hashtextextended('{channel}:discovery:' || @group, 0)) AS got),
g AS (
    SELECT id, types, start_snapshot, cursor_xid, cursor_position
    FROM {groups}, discoverer WHERE discoverer.got AND id = @group
),
found AS (
    SELECT m.xid, m.position, m.stream_id, m.seq, m.type
    FROM {messages} m
    WHERE (m.xid, m.position) > ((SELECT cursor_xid FROM g), (SELECT cursor_position FROM g))
      AND m.xid < pg_snapshot_xmin(pg_current_snapshot())
    ORDER BY m.xid, m.position
    LIMIT {discovery_limit}
),
relevant AS (
    SELECT f.stream_id, min(f.position) AS first_position
    FROM found f, g
    WHERE f.type = ANY(g.types)
      AND (g.start_snapshot IS NULL OR NOT pg_visible_in_snapshot(f.xid, g.start_snapshot))
    GROUP BY f.stream_id
),
tracked AS (
    INSERT INTO {offsets} (group_id, stream_id, acked, high, origin, next_position)
    SELECT @group, r.stream_id, s.origin, s.origin, s.origin, r.first_position
    FROM relevant r, g, LATERAL (SELECT """
        + origin "r.stream_id"
        + """ AS origin) s
    ORDER BY r.stream_id
    ON CONFLICT (group_id, stream_id) DO UPDATE SET next_position = """
        + nextPendingOf "{offsets}" "(SELECT types FROM {groups} WHERE id = @group)::text[]"
        + """
        WHERE {offsets}.next_position IS NULL
    RETURNING 1
),
last AS (SELECT xid, position FROM found ORDER BY xid DESC, position DESC LIMIT 1),
moved AS (
    UPDATE {groups} w SET cursor_xid = last.xid, cursor_position = last.position
    FROM last, g
    WHERE w.id = @group AND w.cursor_xid = g.cursor_xid AND w.cursor_position = g.cursor_position
    RETURNING 1
)
SELECT (SELECT count(*) FROM found), (SELECT count(*) FROM tracked), (SELECT count(*) FROM moved),
       (SELECT bool_or(got) FROM discoverer),
       EXISTS (SELECT 1 FROM {groups} w, {messages} m
               WHERE w.id = @group
                 AND (m.xid, m.position) > (w.cursor_xid, w.cursor_position)
                 AND m.xid >= pg_snapshot_xmin(pg_current_snapshot())
                 AND m.type = ANY(w.types))"""

    /// Claims up to {claimed_streams} streams, those whose first pending message is oldest among the ones nobody
    /// holds, for an active group that is not waiting for a retry: each with its own token from @tokens (numbered
    /// in stream order; the picked streams are a condition on the offsets, so they are found by their whole key
    /// whatever the statistics say). Returns each claimed stream's batch of up to {batch} messages (or, with
    /// `history`, its whole history, the batch flagged), one row per message, oldest stream first, or only whether
    /// the group exists. The limits are numbers the store renders and each variant is a statement of its own: with
    /// a parameter as a limit the planner assumes a tenth of the group's offsets and scans them all, and with the
    /// history a parameter the generic plan carries both branches and looks costlier, so PostgreSQL planned every
    /// claim afresh (half a millisecond each; the discovery step, with its limit a parameter, nearly one).
    let Claim (history: bool) =
        """
WITH g AS (
    SELECT id, types FROM {groups}
    WHERE id = @group AND status = 'active' AND (retry_at IS NULL OR retry_at <= @now)
),
candidate AS (
    SELECT o.stream_id FROM {offsets} o
    WHERE o.group_id = @group AND EXISTS (SELECT 1 FROM g) AND o.next_position IS NOT NULL AND o.claimed_by IS NULL
    ORDER BY o.next_position
    FOR UPDATE OF o SKIP LOCKED
    LIMIT {claimed_streams}
),
picked AS (SELECT array_agg(stream_id ORDER BY stream_id) AS streams FROM candidate),
claimed AS (
    UPDATE {offsets} o
    SET claimed_by = @worker,
        claim_token = (@tokens::uuid[])[array_position((SELECT streams FROM picked), o.stream_id)],
        claimed_at = @now
    WHERE o.group_id = @group AND o.stream_id = ANY((SELECT streams FROM picked)::text[])
    RETURNING o.stream_id, o.acked, o.high, o.epoch, o.claim_token, o.next_position
)"""
        + (if history then
               """,
batch AS MATERIALIZED (
    SELECT c.stream_id,
           (SELECT max(b.seq) FROM (SELECT m.seq FROM {messages} m
                                    WHERE m.stream_id = c.stream_id AND m.seq > c.acked AND m.type = ANY(g.types)
                                    ORDER BY m.seq LIMIT {batch}) b) AS last
    FROM claimed c, g
)"""
           else
               "")
        + """
SELECT (SELECT count(*) FROM {groups} WHERE id = @group) AS known,
       c.stream_id, c.acked, c.high, c.epoch, c.claim_token, coalesce(m.in_batch, false),
       m.position, m.id, m.stream_id, m.seq, m.type, m.created_at, m.causation_id, m.correlation_id, m.metadata, m.payload
FROM (SELECT 1) AS one
LEFT JOIN claimed c ON true
LEFT JOIN g ON true
LEFT JOIN LATERAL ("""
        + (if history then
               """
    SELECT coalesce(m.seq > c.acked AND m.seq <= b.last AND m.type = ANY(g.types), false) AS in_batch, """
               + MessageColumns
               + """
    FROM {messages} m LEFT JOIN batch b ON b.stream_id = c.stream_id
    WHERE m.stream_id = c.stream_id"""
           else
               """
    SELECT true AS in_batch, """
               + MessageColumns
               + """
    FROM {messages} m
    WHERE m.stream_id = c.stream_id AND m.seq > c.acked AND m.type = ANY(g.types)
    ORDER BY m.seq LIMIT {batch}""")
        + """
) m ON true
ORDER BY c.next_position, m.seq"""

    [<Literal>]
    let Release =
        "UPDATE {offsets} SET claimed_by = NULL, claim_token = NULL, claimed_at = NULL WHERE group_id = @group AND stream_id = @stream AND claim_token = @token"

    /// The rows `u` that a fence or an acknowledgement works on: one from scalar parameters (@group, @stream ...),
    /// or many unnested from arrays (@groups, @streams ...). Two statements rather than one: with arrays the planner
    /// assumes ten rows and plans every execution afresh instead of using the prepared plan, which costs a one-stream
    /// completion about half a millisecond.
    let rowsOf (many: bool) (columns: (string * string * string) list) =
        if many then
            let arrays =
                columns
                |> List.map (fun (parameter, _, sqlType) -> $"@{parameter}s::{sqlType}[]")
                |> String.concat ", "

            let names = columns |> List.map (fun (_, column, _) -> column) |> String.concat ", "
            $"unnest({arrays}) AS u({names})"
        else
            let values =
                columns
                |> List.map (fun (parameter, column, sqlType) -> $"@{parameter}::{sqlType} AS {column}")
                |> String.concat ", "

            $"(SELECT {values}) AS u"

    /// The offsets keys of `rowsOf` as conditions on `o` alone, so that PostgreSQL always finds the rows by both
    /// columns of the key: joined only to the unnested rows, it may pick an index scan by group alone and filter
    /// the group's streams one row at a time (it did, with statistics from before the group's offsets existed:
    /// thousands of rows read per acknowledgement).
    let keysOf (many: bool) =
        if many then
            "o.group_id = ANY(@groups::text[]) AND o.stream_id = ANY(@streams::text[])"
        else
            "o.group_id = @group::text AND o.stream_id = @stream::text"

    /// Ends claims inside their completing transaction (group, stream, token each), locking their offsets in key
    /// order; returns the (group, stream) of each claim still held: a claim not returned was lost.
    let Fence (many: bool) =
        """
WITH held AS (
    SELECT o.group_id, o.stream_id
    FROM {offsets} o, """
        + rowsOf
            many
            [
                "group", "group_id", "text"
                "stream", "stream_id", "text"
                "token", "token", "uuid"
            ]
        + """
    WHERE o.group_id = u.group_id AND o.stream_id = u.stream_id AND o.claim_token = u.token
    ORDER BY o.group_id, o.stream_id
    FOR UPDATE OF o
)
UPDATE {offsets} o SET claimed_by = NULL, claim_token = NULL, claimed_at = NULL
FROM held h WHERE o.group_id = h.group_id AND o.stream_id = h.stream_id
RETURNING o.group_id, o.stream_id"""

    /// Whether an acknowledgement moves `acked`: no reset of the offset since the claim.
    [<Literal>]
    let Moves = "(u.epoch < 0 OR o.epoch = u.epoch)"

    let private acknowledgements (many: bool) =
        rowsOf
            many
            [
                "group", "group_id", "text"
                "stream", "stream_id", "text"
                "seq", "seq", "bigint"
                "epoch", "epoch", "bigint"
            ]

    /// Moves groups' offsets in streams forward (group, stream, seq and epoch each) and points each at its next
    /// pending message. After a reset of the offset since the claim (its epoch no longer the offset's) only `high`
    /// moves, so what was processed replays; an epoch of -1 (a unit's acknowledgement) always moves.
    let Acknowledge (many: bool) =
        """
UPDATE {offsets} o SET
    acked = CASE WHEN """
        + Moves
        + """ THEN greatest(o.acked, u.seq) ELSE o.acked END,
    high = greatest(o.high, u.seq),
    next_position = """
        + nextPending ("CASE WHEN " + Moves + " THEN greatest(o.acked, u.seq) ELSE o.acked END")
        + """
FROM {groups} g, """
        + acknowledgements many
        + """
WHERE g.id = o.group_id AND o.group_id = u.group_id AND o.stream_id = u.stream_id AND """
        + keysOf many

    /// Clears the failure of the acknowledging groups once a batch succeeds; skips a group row that is locked (by a
    /// registration, a reset or a failure being recorded), so a completion never waits for a group.
    let Healthy (many: bool) =
        """
UPDATE {groups} SET retry_count = 0, retry_at = NULL, error = NULL
WHERE id IN (SELECT id FROM {groups}
             WHERE id IN (SELECT u.group_id FROM """
        + acknowledgements many
        + """) AND (retry_count > 0 OR retry_at IS NOT NULL)
             ORDER BY id FOR UPDATE SKIP LOCKED)"""

    /// A completion's last statement: acknowledges, clears the groups' failure (`Healthy`), and sets how the
    /// transaction commits: as configured, or asynchronously (@asynchronous) when it stored nothing that others
    /// may act on: losing such a commit in a crash only means that the batches are processed again.
    let Complete (many: bool) =
        "WITH acknowledged AS ("
        + Acknowledge many
        + " RETURNING 1), healthy AS ("
        + Healthy many
        + " RETURNING 1) SELECT set_config('synchronous_commit', CASE WHEN @asynchronous THEN 'off' ELSE current_setting('synchronous_commit') END, true)"

    /// The offset a transaction processes a stream from: created at the group's start when missing, then locked.
    let EnsureOffset =
        """
INSERT INTO {offsets} (group_id, stream_id, acked, high, origin)
SELECT g.id, @stream, s.origin, s.origin, s.origin
FROM {groups} g, LATERAL (SELECT """
        + origin "@stream"
        + """ AS origin) s
WHERE g.id = @group
ON CONFLICT (group_id, stream_id) DO NOTHING"""

    /// Locks the offset without waiting: a row locked by another transaction (a worker completing a batch of
    /// that stream, say) is busy (55P03), which cannot deadlock.
    [<Literal>]
    let LockOffset =
        "SELECT o.acked, o.high, o.claimed_by, g.types FROM {offsets} o JOIN {groups} g ON g.id = o.group_id WHERE o.group_id = @group AND o.stream_id = @stream FOR UPDATE OF o NOWAIT"

    [<Literal>]
    let PendingUpTo =
        "SELECT "
        + MessageColumns
        + " FROM {messages} m WHERE m.stream_id = @stream AND m.seq > @acked AND m.seq <= @upTo AND m.type = ANY(@types) ORDER BY m.seq"

    [<Literal>]
    let StopGroup =
        "UPDATE {groups} SET status = 'stopped', reason = @reason, error = coalesce(@error::jsonb, error), retry_at = NULL WHERE id = @group AND status = 'active' RETURNING 1"

    [<Literal>]
    let StartGroup =
        "UPDATE {groups} SET status = 'active', reason = NULL, error = NULL, retry_at = NULL, retry_count = 0 WHERE id = @group RETURNING 1"

    /// Every offset of the group back to its origin, in key order; each offset's epoch moves, so a batch
    /// claimed before the reset and completed after it does not move `acked`.
    let ResetGroup =
        """
WITH locked AS (SELECT stream_id FROM {offsets} WHERE group_id = @group ORDER BY stream_id FOR UPDATE)
UPDATE {offsets} o SET acked = o.origin, epoch = o.epoch + 1,
    next_position = """
        + nextPending "o.origin"
        + """
FROM {groups} g, locked l WHERE g.id = @group AND o.group_id = @group AND o.stream_id = l.stream_id"""

    [<Literal>]
    let RecordFailure =
        """
UPDATE {groups} SET
    error = @error::jsonb,
    retry_at = CASE WHEN @stop THEN NULL ELSE @retryAt END,
    retry_count = CASE WHEN @stop THEN retry_count ELSE @attempt END,
    status = CASE WHEN @stop THEN 'stopped' ELSE status END,
    reason = CASE WHEN @stop THEN @reason ELSE reason END
WHERE id = @group AND status = 'active' AND retry_count = @attempt - 1 AND (retry_at IS NULL OR retry_at <= @now)
RETURNING 1"""

    [<Literal>]
    let RetryCount = "SELECT retry_count FROM {groups} WHERE id = @group"

    [<Literal>]
    let GroupExists = "SELECT count(*) FROM {groups} WHERE id = @group"

    [<Literal>]
    let GroupIds = "SELECT id FROM {groups} ORDER BY id"

    [<Literal>]
    let Stats =
        """
SELECT g.id, g.status, g.reason, g.error::text, g.retry_at, g.retry_count,
       (SELECT count(*) FROM {offsets} o WHERE o.group_id = g.id),
       (SELECT count(*) FROM {offsets} o WHERE o.group_id = g.id AND o.next_position IS NOT NULL),
       (SELECT count(*) FROM {offsets} o JOIN {messages} m ON m.stream_id = o.stream_id AND m.seq > o.acked
        WHERE o.group_id = g.id AND o.next_position IS NOT NULL AND m.type = ANY(g.types))
FROM {groups} g ORDER BY g.id"""

    // ---- Workers ---------------------------------------------------------------------------------------------

    /// Records the workers as alive and renews the leases of the claims this store holds for them (by token:
    /// a claim its worker forgot is never renewed, so it expires). Rows locked by a completion in progress are
    /// skipped rather than waited for: that completion ends the claim anyway.
    [<Literal>]
    let Heartbeat =
        """
WITH seen AS (
    INSERT INTO {workers} (id, last_seen) SELECT unnest(@workers), @now
    ON CONFLICT (id) DO UPDATE SET last_seen = EXCLUDED.last_seen
    RETURNING 1
),
held AS (
    SELECT group_id, stream_id FROM {offsets}
    WHERE claimed_by = ANY(@workers) AND claim_token = ANY(@tokens)
    ORDER BY group_id, stream_id FOR UPDATE SKIP LOCKED
)
UPDATE {offsets} o SET claimed_at = @now FROM held h WHERE o.group_id = h.group_id AND o.stream_id = h.stream_id"""

    /// Frees expired leases, skipping rows locked by a completion in progress (it ends the claim anyway).
    [<Literal>]
    let Reclaim =
        """
WITH forgotten AS (DELETE FROM {workers} WHERE last_seen < @forget RETURNING 1),
stale AS (
    SELECT group_id, stream_id FROM {offsets}
    WHERE claimed_by IS NOT NULL AND claimed_at < @cutoff
    ORDER BY group_id, stream_id FOR UPDATE SKIP LOCKED
)
UPDATE {offsets} o SET claimed_by = NULL, claim_token = NULL, claimed_at = NULL
FROM stale s WHERE o.group_id = s.group_id AND o.stream_id = s.stream_id"""

    [<Literal>]
    let Notify = "SELECT pg_notify(@channel, @payload)"

    /// First in a batch that need not wait for its commit to reach disk: claims (a claim lost in a crash is
    /// harmless: its completion fails the fence) and notifications (only hints).
    [<Literal>]
    let AsynchronousCommit = "SELECT set_config('synchronous_commit', 'off', true)"

    /// No JIT compilation for the rest of the transaction (a batch's statements share one): the planner's costs
    /// for the group statistics pass its threshold, and compiling took ~90 ms of the ~120 ms the query then took.
    [<Literal>]
    let JitOff = "SELECT set_config('jit', 'off', true)"

    /// The text of a statement for these names.
    let render (names: Names) (template: string) : string =
        template
            .Replace("{schema}", names.Schema)
            .Replace("{prefix}", names.Prefix)
            .Replace("{migrations}", names.Migrations)
            .Replace("{streams}", names.Streams)
            .Replace("{messages}", names.Messages)
            .Replace("{groups}", names.Groups)
            .Replace("{offsets}", names.Offsets)
            .Replace("{scheduled}", names.Scheduled)
            .Replace("{workers}", names.Workers)
            .Replace("{channel}", names.Channel)
