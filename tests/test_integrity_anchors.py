"""Issue 12, item 1: the end of the Log is anchored.

Cutting rows off the end used to go unnoticed (0 of 80 trials): the chain of what is left still
verifies. Now every record of the end (the checkpoint's head, the zip comment, the highest applied
Actions log_seq, a receipt kept outside) is checked, and a Log shorter than any of them is refused with
exit 1, the missing range named, nothing written.

Tamper at scale: hundreds of random edits, deletes, inserts, swaps, appended copies and truncations of
a real posted Log, with and without the owner key; each is caught, with the exact row or range named.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import shutil

import openpyxl
import pytest
from post_helpers import NOW
from post_helpers import cli
from post_helpers import studio
from post_helpers import type_rows

from xl_ledger import post
from xl_ledger.book import anchors
from xl_ledger.book.filestore import FileStore
from xl_ledger.core import chain

KEY = b"owner key of the studio"


def _posted(folder, key=None):
    """A real studio after two posts: 2 sales, 6 lessons, then one more sale (Actions row 4)."""
    path = studio(folder)
    type_rows(path, "Actions", {2: {"action": "sell", "student_id": "S1", "product_id": "P10"},
                                3: {"action": "sell", "student_id": "S3", "product_id": "H10"}})
    type_rows(path, "Sessions", {i + 2: {"session_id": f"L{i}", "date": f"2026-03-0{i + 1}", "student_id": "S1",
                                         "status": "attended"} for i in range(6)})
    post.post(FileStore(path), now=NOW, operator="owner", key=key)
    type_rows(path, "Actions", {4: {"action": "sell", "student_id": "S2", "product_id": "P10"}})
    post.post(FileStore(path), now=NOW + dt.timedelta(hours=1), operator="owner", key=key)
    return path


@pytest.fixture(scope="module")
def posted(tmp_path_factory):
    return _posted(tmp_path_factory.mktemp("anchored"))


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    return _posted(tmp_path_factory.mktemp("keyed"), KEY)


def _cut(src, dst, n: int):
    """The last n Log rows deleted as a user would, in Excel (openpyxl saves a new zip: no comment)."""
    shutil.copyfile(src, dst)
    cp = src.with_name(f".{src.name}.xl-ledger-checkpoint")
    shutil.copyfile(cp, dst.with_name(f".{dst.name}.xl-ledger-checkpoint"))  # the checkpoint travels along
    wb = openpyxl.load_workbook(dst, keep_vba=True)
    ws = wb["Log"]
    ws.delete_rows(ws.max_row - n + 1, n)
    wb.save(dst)
    return dst


def test_every_post_prints_a_receipt_and_verify_checks_it(posted, tmp_path):
    path = shutil.copyfile(posted, tmp_path / "studio.xlsm")
    rows = FileStore(path).read_log()
    head = f"{rows[-1][0]}:{rows[-1][chain.HASH][:12]}"
    type_rows(path, "Actions", {5: {"action": "sell", "student_id": "S3", "product_id": "P10"}})
    out = cli("post", str(path), "--today", "2026-03-10")
    assert out.returncode == 0, out.stderr
    m = re.search(r"receipt  Log seq (\d+:[0-9a-f]{12}) ", out.stdout)
    assert m and int(m.group(1).split(":")[0]) == len(rows) + 1, out.stdout
    assert cli("verify", str(path), "--expect", m.group(1)).returncode == 0
    assert cli("verify", str(path), "--expect", head).returncode == 0  # an earlier receipt: still in the Log
    wrong = cli("verify", str(path), "--expect", f"{len(rows)}:{'0' * 12}")
    assert wrong.returncode == 1 and f"studio.xlsm!Log!A{len(rows) + 1} (seq {len(rows)}) has hash" in wrong.stderr
    ahead = cli("verify", str(path), "--expect", f"{len(rows) + 5}:abcdef012345")
    assert ahead.returncode == 1 and f"seq {len(rows) + 2}–{len(rows) + 5} are missing" in ahead.stderr
    bad = cli("verify", str(path), "--expect", "seven")
    assert bad.returncode == 2 and "SEQ:HASH" in bad.stderr


@pytest.mark.parametrize("n", [1, 3])
def test_a_cut_log_is_refused_by_verify_post_recompute_and_import_and_nothing_is_written(posted, tmp_path, n):
    """The reported case: cut one row, `verify` said "intact", the next post overwrote the checkpoint's
    record of the old end, and a posted sale vanished from the balances."""
    import legacy_fixtures as lf

    total = len(FileStore(posted).read_log())
    path = _cut(posted, tmp_path / "studio.xlsm", n)
    before = path.read_bytes()
    missing = f"seq {total}" if n == 1 else f"seq {total - n + 1}–{total}"
    legacy = lf.purchases_xlsx(tmp_path / "tracking.xlsx")
    for args in (("verify", str(path)), ("post", str(path), "--today", "2026-03-10"),
                 ("recompute", str(path), "--today", "2026-03-10"), ("balance", str(path)),
                 ("import", str(legacy), "--into", str(path))):
        out = cli(*args)
        assert out.returncode == 1, (args, out.stdout, out.stderr)
        assert f"studio.xlsm!Log ends at seq {total - n}, but the checkpoint beside it" in out.stderr, out.stderr
        assert f"Log rows {missing} are missing" in out.stderr
    assert path.read_bytes() == before


def test_without_the_checkpoint_the_actions_log_seq_still_anchors_the_end(posted, tmp_path):
    path = _cut(posted, tmp_path / "studio.xlsm", 1)
    total = len(FileStore(posted).read_log())
    (tmp_path / ".studio.xlsm.xl-ledger-checkpoint").unlink(missing_ok=True)
    out = cli("verify", str(path))
    assert out.returncode == 1
    assert f"studio.xlsm!Log ends at seq {total - 1}, but studio.xlsm!Actions!N4 (an applied action's log_seq)" \
           f" records that it reached seq {total}" in out.stderr


def test_the_zip_comment_anchors_a_log_cut_inside_the_zip(posted, tmp_path):
    """A tool that rewrites the Log part but keeps the archive comment (zip utilities do) is caught by
    the comment when neither the checkpoint nor Actions reach that far."""
    import zipfile

    path = tmp_path / "studio.xlsm"
    shutil.copyfile(posted, path)
    comment = zipfile.ZipFile(path).comment
    found = anchors.of_file(path, None)
    assert [a.seq for a in found if "zip comment" in a.what] == [len(FileStore(path).read_log())]
    assert comment.startswith(b"xl-ledger-log/1 ")


# --------------------------------------------------------------------------------- tamper at scale
def _detect(rows, key, recorded):
    """What verify does after reading the Log: the chain, then every recorded end. Returns the message
    naming the row (Log!A<n>) or the missing range, or None."""
    broken = chain.verify(rows, key)
    if broken is not None:
        return f"Log!A{broken.index + 2}"
    head = (rows[-1][chain.SEQ], rows[-1][chain.HASH]) if rows else (0, chain.GENESIS)
    try:
        anchors.check("studio.xlsm", head, recorded, lambda s: rows[s - 1][chain.HASH] if s <= len(rows) else None)
    except anchors.ShortLogError as e:
        return str(e)
    return None


@pytest.mark.parametrize("which", ["plain", "keyed"])
def test_tamper_at_scale_every_change_is_caught_and_named(posted, keyed, which):
    path, key = (posted, None) if which == "plain" else (keyed, KEY)
    rows = [tuple(r) for r in FileStore(path).read_log()]
    recorded = anchors.of_store(FileStore(path), key)
    assert {a.seq for a in recorded} == {len(rows)}  # the checkpoint, the zip comment and Actions agree
    assert _detect(rows, key, recorded) is None
    rng = random.Random(12 if key else 21)
    n, kinds = len(rows), {}
    for trial in range(130):
        kind = rng.choice(["edit", "delete", "insert", "swap", "append", "truncate", "truncate"])
        t = list(rows)
        if kind == "edit":
            i, col = rng.randrange(n), rng.randrange(len(chain.LOG_COLUMNS))
            old = t[i][col]
            new = "9999" if str(old) != "9999" else "1"
            t[i] = t[i][:col] + (new if col != chain.SEQ else int(old) + 1,) + t[i][col + 1:]
            expect = f"Log!A{i + 2}"
        elif kind == "delete":
            i = rng.randrange(n - 1)  # the last row: that is a truncation
            del t[i]
            expect = f"Log!A{i + 2}"
        elif kind == "insert":
            i = rng.randrange(n)
            j = rng.choice([x for x in range(n) if x != i])  # a copy of itself would sit unchanged at i
            t.insert(i, rows[j])
            expect = f"Log!A{i + 2}"
        elif kind == "swap":
            i = rng.randrange(n - 1)
            t[i], t[i + 1] = t[i + 1], t[i]
            expect = f"Log!A{i + 2}"
        elif kind == "append":
            t.append(rows[rng.randrange(n)])
            expect = f"Log!A{n + 2}"
        else:
            k = rng.randint(1, n)
            t = t[:n - k]
            expect = f"Log rows seq {n - k + 1}" + ("" if k == 1 else f"–{n}") + " are missing"
        found = _detect(t, key, recorded)
        assert found is not None and expect in found, (trial, kind, expect, found)
        kinds[kind] = kinds.get(kind, 0) + 1
    assert all(kinds.get(k, 0) >= 5 for k in ("edit", "delete", "insert", "swap", "append", "truncate")), kinds


def test_a_re_sealed_log_without_the_key_does_not_pass_a_keyed_post(keyed, tmp_path):
    """Truncate and append one forged row sealed with plain SHA-256: the keyed chain breaks at it."""
    from xl_ledger.core.journal import Journal
    from xl_ledger.core.journal import row_to_entry

    rows = [tuple(r) for r in FileStore(keyed).read_log()]
    forged = Journal([row_to_entry(r) for r in rows[:-1]]).append(
        [row_to_entry(rows[-1]).event], operator="eve", recorded_at=NOW, sources=["Actions!4"], key=None)
    t = rows[:-1] + [tuple(forged[0])]
    assert _detect(t, KEY, anchors.of_store(FileStore(keyed), KEY)) == f"Log!A{len(rows) + 1}"


# --------------------------------------------------------------------------- item 2: keyed workbooks
def test_a_keyed_workbook_says_so_without_the_key(keyed, tmp_path):
    """Without the key, verify used to accuse the first row of having been "changed after it was
    written", and post said the file was tampered with."""
    path = shutil.copyfile(keyed, tmp_path / "studio.xlsm")
    shutil.copyfile(keyed.with_name(".studio.xlsm.xl-ledger-checkpoint"), tmp_path / ".studio.xlsm.xl-ledger-checkpoint")
    rows = FileStore(path).read_log()
    assert sum('"signed":"owner_key"' in str(r[chain.COL["data"]]) for r in rows) == 1  # recorded once
    before = path.read_bytes()
    for args in (("verify", str(path)), ("post", str(path), "--today", "2026-03-10"), ("balance", str(path))):
        out = cli(*args)
        assert out.returncode == 2, (args, out.stderr)
        assert "signed with the owner's key" in out.stderr and "--key-file" in out.stderr, out.stderr
        assert "changed after it was written" not in out.stderr
    assert path.read_bytes() == before
    key = tmp_path / "owner.key"
    key.write_bytes(KEY)
    assert cli("verify", str(path), "--key-file", str(key)).returncode == 0


def test_a_log_re_sealed_with_plain_sha256_is_not_extended_without_the_key(keyed, tmp_path):
    """A forger re-seals every row with plain SHA-256 (so it verifies without a key) and keeps the rest.
    A post without the key used to accept it and extend it; now the Log's own record refuses it."""
    from xl_ledger.book.store import Change
    from xl_ledger.core.journal import Journal
    from xl_ledger.core.journal import row_to_entry

    path = shutil.copyfile(keyed, tmp_path / "studio.xlsm")
    rows = [tuple(r) for r in FileStore(path).read_log()]
    entries = [row_to_entry(r) for r in rows]
    forged = Journal([]).append([e.event for e in entries], operator="eve", recorded_at=NOW,
                                sources=[e.source for e in entries], key=None)
    assert chain.verify(forged) is None  # a plain check passes the forgery
    # Write the forged Log into a fresh copy of the template (the forger's own file), keeping the inputs.
    (tmp_path / "forger").mkdir()
    fresh = studio(tmp_path / "forger")
    store = FileStore(fresh)
    store.commit(Change(*store.head(), log_rows=tuple(forged)))
    before = fresh.read_bytes()
    with pytest.raises(post.KeyNeeded, match="signed with the owner's key"):
        post.post(FileStore(fresh), now=NOW, operator="owner")
    out = cli("verify", str(fresh))
    assert out.returncode == 2 and "plain SHA-256" in out.stderr, out.stderr
    assert fresh.read_bytes() == before


# ------------------------------------------------------------- item 8: the checkpoint cannot change a number
def test_an_altered_checkpoint_is_named_by_verify_deep_and_undone_by_recompute_cold(posted, tmp_path):
    """Someone logged in as the same OS user (who holds the checkpoint's secret) makes the checkpoint's
    copy of the Log say a 10-lesson sale was 100 lessons. Posts trust the checkpoint while the Log part
    is unchanged, so Packages showed 100 where the Log says 10, through posts and `recompute`; `verify`
    said intact. Now `verify --deep` names the cells and `recompute --cold` rewrites them from the Log."""
    import dataclasses

    from xl_ledger.book import checkpoint

    path = shutil.copyfile(posted, tmp_path / "studio.xlsm")
    checkpoint.copy(posted, path)
    cp = checkpoint.load(path, None)
    assert cp is not None
    rows = checkpoint.unpack_pieces(cp.log_blobs)
    q, kind, pkg = chain.COL["quantity"], chain.COL["kind"], chain.COL["package_id"]
    i = next(i for i, r in enumerate(rows) if r[kind] == "sale" and r[pkg] == "PK-0001")
    rows[i] = rows[i][:q] + ("100",) + rows[i][q + 1:]
    blobs, counts = checkpoint.pack_rows(rows)
    checkpoint.save(path, None, dataclasses.replace(cp, log_blobs=blobs, log_counts=counts, recomputed=None))
    assert cli("recompute", str(path), "--today", "2026-03-10").returncode == 0  # believes the checkpoint
    shown = {r["package_id"]: r for r in dict(FileStore(path).read_sheet("Packages").records()).values()}
    assert str(shown["PK-0001"]["total"]) in ("100", "100.0")  # the altered number is on the sheet
    assert cli("verify", str(path)).returncode == 0  # the Log itself is intact
    deep = cli("verify", str(path), "--deep", "--today", "2026-03-10")
    assert deep.returncode == 1, deep.stdout + deep.stderr
    assert re.search(r"studio\.xlsm!Packages!\w+2 \(total\): shows 100, the Log says 10", deep.stderr), deep.stderr
    assert cli("recompute", str(path), "--cold", "--today", "2026-03-10").returncode == 0
    shown = {r["package_id"]: r for r in dict(FileStore(path).read_sheet("Packages").records()).values()}
    assert str(shown["PK-0001"]["total"]) in ("10", "10.0")
    again = cli("verify", str(path), "--deep", "--today", "2026-03-10")
    assert again.returncode == 0 and "every engine cell is what the Log alone gives" in again.stdout
