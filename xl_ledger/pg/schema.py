"""The ledger's tables in PostgreSQL, created and upgraded by the product (never by hand).

`xl_ledger_schema` holds one row per applied migration. `ensure(conn)` applies the missing ones in
order, under an advisory lock so that two desks starting at once do not both create the tables.

The Log table is keyed by (studio, seq): that key is the optimistic lock (a second desk appending the
same seq fails on it) and, with the insert trigger that checks each row's prev_hash against the hash of
the row before it, the fork guard. UPDATE, DELETE and TRUNCATE are refused twice: by triggers, and by
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
