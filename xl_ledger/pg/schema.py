"""The ledger's tables in PostgreSQL, created and upgraded by the product (never by hand).

`xl_ledger_schema` holds one row per applied migration. `ensure(conn)` applies the missing ones in
order, under an advisory lock so that two desks starting at once do not both create the tables.

The Log table is keyed by (studio, seq): that key is the optimistic lock (a second desk appending the
same seq fails on it) and, with the insert trigger that checks each row's prev_hash against the hash of
the row before it (once per statement, over the rows it inserted: migration 2), the fork guard. UPDATE, DELETE and TRUNCATE are refused twice: by triggers, and by
revoking those rights from everyone including the table's owner (a superuser can still bypass both,
which is what `verify` is for).
"""

from __future__ import annotations

from xl_ledger.core.chain import GENESIS
from xl_ledger.core.chain import LOG_COLUMNS

LOG = "xl_ledger_log"
VERSION_TABLE = "xl_ledger_schema"
_LOCK_ID = 0x786C6C67  # pg_advisory_xact_lock id: "xllg"

_TEXT_COLUMNS = ",\n    ".join(f"{c} text NOT NULL DEFAULT ''" for c in LOG_COLUMNS if c != "seq")

MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (1, "the Log table, append-only, chained", f"""
CREATE TABLE xl_ledger_studio (
    studio text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {LOG} (
    studio text NOT NULL REFERENCES xl_ledger_studio (studio),
    seq bigint NOT NULL CHECK (seq >= 1),
    {_TEXT_COLUMNS},
    PRIMARY KEY (studio, seq)
) WITH (autovacuum_vacuum_insert_scale_factor = 0.5);

-- Append-only: every change but INSERT is refused, row by row and for TRUNCATE.
CREATE FUNCTION xl_ledger_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the xl-ledger Log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Correct a mistake by posting a new row (an adjust, a refund...).';
END $$;
CREATE TRIGGER xl_ledger_log_no_change BEFORE UPDATE OR DELETE ON {LOG}
    FOR EACH ROW EXECUTE FUNCTION xl_ledger_refuse();
CREATE TRIGGER xl_ledger_log_no_truncate BEFORE TRUNCATE ON {LOG}
    FOR EACH STATEMENT EXECUTE FUNCTION xl_ledger_refuse();

-- The chain guard: a row must follow the studio's last row (seq + 1, prev_hash = its hash).
CREATE FUNCTION xl_ledger_chain_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    before_hash text;
BEGIN
    IF NEW.seq = 1 THEN
        before_hash := '{GENESIS}';
    ELSE
        SELECT hash INTO before_hash FROM {LOG} WHERE studio = NEW.studio AND seq = NEW.seq - 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'Log seq % of studio % does not follow its last row', NEW.seq, NEW.studio
                USING ERRCODE = 'serialization_failure';
        END IF;
    END IF;
    IF NEW.prev_hash <> before_hash THEN
        RAISE EXCEPTION 'Log seq % of studio %: prev_hash does not match the row before it', NEW.seq, NEW.studio
            USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER xl_ledger_log_chain BEFORE INSERT ON {LOG}
    FOR EACH ROW EXECUTE FUNCTION xl_ledger_chain_guard();

REVOKE UPDATE, DELETE, TRUNCATE ON {LOG} FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON {LOG} FROM CURRENT_USER;
"""),
    (2, "the chain guard checks a whole INSERT or COPY at once", f"""
-- The same guarantee as version 1's row trigger (every row follows the row before it: seq + 1, prev_hash
-- = its hash; the first row's prev_hash is the genesis), checked once per statement over the rows it
-- inserted (a transition table): the new rows checked against each other in one sort, and each studio's
-- first new row against the row before it in the table. Copying a million-row Log in no longer runs a
-- query per row. An exception rolls the whole statement back.
DROP TRIGGER xl_ledger_log_chain ON {LOG};
CREATE FUNCTION xl_ledger_chain_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    -- Within the statement's rows: each follows the one before it (a sort, no lookups).
    SELECT studio, seq, (before_seq <> seq - 1) AS missing INTO bad FROM (
        SELECT studio, seq, prev_hash, lag(seq) OVER w AS before_seq, lag(hash) OVER w AS before_hash
          FROM xl_ledger_new_rows WINDOW w AS (PARTITION BY studio ORDER BY seq)) n
     WHERE before_seq IS NOT NULL AND (before_seq <> seq - 1 OR before_hash <> prev_hash)
     ORDER BY studio, seq LIMIT 1;
    IF NOT FOUND THEN
        -- The first row of each studio's: the genesis, or the row already there before it.
        SELECT f.studio, f.seq, p.seq IS NULL AS missing INTO bad FROM (
            SELECT DISTINCT ON (studio) studio, seq, prev_hash FROM xl_ledger_new_rows ORDER BY studio, seq) f
          LEFT JOIN {LOG} p ON p.studio = f.studio AND p.seq = f.seq - 1
         WHERE CASE WHEN f.seq = 1 THEN f.prev_hash <> '{GENESIS}' ELSE p.seq IS NULL OR p.hash <> f.prev_hash END
         LIMIT 1;
    END IF;
    IF FOUND THEN
        IF bad.missing AND bad.seq > 1 THEN
            RAISE EXCEPTION 'Log seq % of studio % does not follow its last row', bad.seq, bad.studio
                USING ERRCODE = 'serialization_failure';
        END IF;
        RAISE EXCEPTION 'Log seq % of studio %: prev_hash does not match the row before it', bad.seq, bad.studio
            USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER xl_ledger_log_chain AFTER INSERT ON {LOG}
    REFERENCING NEW TABLE AS xl_ledger_new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION xl_ledger_chain_check();
"""),
    (3, "one outbox per ledger: a reminder's key is claimed by the desk that sends it", """
-- `xl-ledger remind --send --ledger`: a desk claims a reminder's key here before it sends the message
-- (pg/outbox.py); the key decides which desk sends it, so two desks never both send it. The claiming desk
-- records what became of the message (sending, sent, failed, unsure, queued again) for the other desks.
-- A claim is never deleted: that would let a message go twice.
CREATE TABLE xl_ledger_outbox (
    studio text NOT NULL REFERENCES xl_ledger_studio (studio),
    key text NOT NULL,
    desk text NOT NULL,
    status text NOT NULL,
    answer text NOT NULL DEFAULT '',
    at text NOT NULL,
    PRIMARY KEY (studio, key)
);
REVOKE DELETE, TRUNCATE ON xl_ledger_outbox FROM PUBLIC;
REVOKE DELETE, TRUNCATE ON xl_ledger_outbox FROM CURRENT_USER;
"""),
)
LATEST = MIGRATIONS[-1][0]


def version(conn) -> int:
    """The schema version in the database (0: none yet)."""
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (VERSION_TABLE,)).fetchone()[0]
    if not exists:
        return 0
    return conn.execute(f"SELECT coalesce(max(version), 0) FROM {VERSION_TABLE}").fetchone()[0]


def ensure(conn) -> int:
    """Create or upgrade the tables to LATEST; returns the version found before (0 for a new database).

    Refuses a database made by a newer xl-ledger (its tables may mean something this one does not know).
    """
    found = version(conn)
    if found == LATEST:
        return found
    if found > LATEST:
        raise RuntimeError(f"the ledger database has schema version {found}, newer than this xl-ledger "
                           f"knows ({LATEST}): upgrade xl-ledger on this machine")
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        conn.execute(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version int PRIMARY KEY, "
                     "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        now = conn.execute(f"SELECT coalesce(max(version), 0) FROM {VERSION_TABLE}").fetchone()[0]
        for number, description, sql in MIGRATIONS:
            if number > now:
                conn.execute(sql)
                conn.execute(f"INSERT INTO {VERSION_TABLE} (version, description) VALUES (%s, %s)",
                             (number, description))
    return found
