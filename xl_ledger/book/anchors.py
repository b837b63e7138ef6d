"""The end of the Log is anchored: every record of where the Log ended is checked against it.

Cutting rows off the end of the Log leaves a chain that still verifies, so the chain alone cannot see
it. But the workbook and its surroundings record the end in several places, each written by a post:

- the checkpoint beside the workbook (its head: seq and hash, MAC'd with the owner key or the user's
  secret);
- the zip comment of the workbook (the Log's append state: seq and hash), while no other program has
  saved the file;
- the Actions sheet: an applied row's `log_seq` names a Log row that must exist;
- the "as of Log seq N" mark every post and recompute writes on the Dashboard (its `log` line: the seq,
  and the first 16 hex digits of that row's hash), which survives a save in Excel (that drops the zip
  comment), a deleted checkpoint and a post of lessons only (no Actions row);
- a receipt kept outside the file (`post` prints one; `verify --expect SEQ:HASH` checks it).

A Log shorter than any of them is refused (exit 1) with the missing range and what recorded it, before
anything is written; a Log whose row at an anchored seq has another hash was rewritten, and is refused
the same way. `post`, `recompute` and `import` check after opening the Log, `verify` after checking the
chain.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from typing import Iterable
from typing import Optional

from xl_ledger.book.store import SheetData
from xl_ledger.book.store import StoreError

HASH_SHOWN = 12  # hex digits of a hash in a receipt: enough to tell any two Logs apart in practice


class ShortLogError(StoreError):
    """The Log ends before a recorded end, or differs at an anchored row: cut or rewritten. Exit 1."""


@dataclass(frozen=True)
class Anchor:
    what: str  # where the end was recorded, in words a user can find it by
    seq: int
    hash: Optional[str] = None  # full or a prefix (a receipt), or None when only the seq was recorded


def of_file(path: Path, key: Optional[bytes], cp=None) -> list[Anchor]:
    """The checkpoint's head and the zip comment's, for a workbook on disk. `cp`: a checkpoint already
    loaded (CheckpointedLog has one), so a large one is not read twice."""
    from xl_ledger.book import checkpoint
    from xl_ledger.book import xlsx_log

    out = []
    if cp is None:
        cp = checkpoint.load(path, key, pieces=False)  # the head is in the checkpoint file itself
    if cp is not None:
        out.append(Anchor(f"the checkpoint beside it ({checkpoint.path_for(path).name})", int(cp.head[0]),
                          str(cp.head[1])))
    try:
        with zipfile.ZipFile(path) as z:
            comment = z.comment
    except (OSError, zipfile.BadZipFile):
        comment = b""
    if comment.startswith(xlsx_log.MAGIC):
        try:
            state = json.loads(comment[len(xlsx_log.MAGIC):])
            out.append(Anchor("the workbook's zip comment (written by the last post)", int(state["seq"]),
                              str(state["hash"])))
        except (ValueError, KeyError, TypeError):
            pass
    return out


def of_actions(sheet: SheetData) -> list[Anchor]:
    """The applied Actions row with the highest `log_seq`: that Log row must exist."""
    best: Optional[tuple[int, int]] = None
    if "log_seq" not in sheet.headers:
        return []
    for row, raw in sheet.records():
        if str(raw.get("status") or "").strip().lower() != "applied":
            continue
        try:
            seq = int(float(raw.get("log_seq")))
        except (TypeError, ValueError, OverflowError):
            continue
        if best is None or seq > best[1]:
            best = (row, seq)
    if best is None:
        return []
    return [Anchor(f"{sheet.where(best[0], 'log_seq')} (an applied action's log_seq)", best[1])]


_MARK_HASH = re.compile(r"hash ([0-9a-f]{8,64})")


def of_dashboard(sheet: SheetData) -> list[Anchor]:
    """The Dashboard's "as of Log seq N" mark (core/dashboard.py writes it; section `log`, the seq in
    `quantity`, the hash in `item`): the Log the sheets were computed from reached seq N."""
    if "section" not in sheet.headers or "quantity" not in sheet.headers:
        return []
    for row, raw in sheet.records():
        if str(raw.get("section") or "").strip() != "log":
            continue
        try:
            seq = int(float(raw.get("quantity")))
        except (TypeError, ValueError, OverflowError):
            return []
        m = _MARK_HASH.search(str(raw.get("item") or ""))
        return [Anchor(f'{sheet.where(row, "quantity")} (the Dashboard\'s "as of Log seq" mark)', seq,
                       m.group(1) if m else None)]
    return []


def of_store(log, key: Optional[bytes]) -> list[Anchor]:
    """Every anchor an opened Log's store has: file anchors for a workbook on disk, Actions, and the
    Dashboard's mark."""
    store = getattr(log, "store", log)
    path = getattr(store, "path", None)
    out = of_file(Path(path), key, getattr(log, "cp", None)) if path is not None else []
    out += getattr(store, "recorded_ends", list)()  # a shared ledger's: the workbook's mirror of it (pg/store.py)
    for name, read in (("Actions", of_actions), ("Dashboard", of_dashboard)):
        try:
            out += read(log.read_sheet(name))  # an open Log reads Actions once for the anchor check and the post
        except StoreError:
            pass  # no such sheet: a post says so if it needs it; without it there is no anchor there
    return out


def check(book: str, head: tuple[int, str], anchors: Iterable[Anchor],
          hash_at: Optional[Callable[[int], Optional[str]]] = None, ledger: Optional[str] = None) -> None:
    """Raise ShortLogError for the first anchor the Log does not reach or does not match. `ledger`: the Log
    is a shared ledger's (pg/), named so; the message is the same, the remedy is the database's backup."""
    seq, last_hash = int(head[0]), str(head[1])
    for a in sorted(anchors, key=lambda a: -a.seq):
        if a.seq > seq:
            missing = f"seq {seq + 1}" if a.seq == seq + 1 else f"seq {seq + 1}–{a.seq}"
            recorded = f"seq {a.seq}" + (f" (hash {a.hash[:HASH_SHOWN]})" if a.hash else "")
            restore = ("Restore the ledger database from a backup that has them (rows were removed from it "
                       "behind its triggers)." if ledger else
                       "Restore the workbook from a backup that has them. If you restored an older copy on "
                       "purpose, delete the checkpoint file beside it and post again.")
            raise ShortLogError(
                f"{ledger or book + '!Log'} ends at seq {seq}, but {a.what} records that it reached {recorded}: "
                f"Log rows {missing} are missing (cut off the end). Nothing was written. {restore}")
        if a.hash:
            found = last_hash if a.seq == seq else (hash_at(a.seq) if hash_at is not None else None)
            if found is not None and not found.startswith(a.hash):
                raise ShortLogError(
                    f"{book}!Log!A{a.seq + 1} (seq {a.seq}) has hash {found[:HASH_SHOWN]}, but {a.what} records "
                    f"hash {a.hash[:HASH_SHOWN]} for that row: the Log was rewritten from there on. Nothing was "
                    "written. Restore the workbook from a backup.")


def receipt(head: tuple[int, str]) -> str:
    """`SEQ:HASH` as `post` prints it and `verify --expect` takes it."""
    return f"{int(head[0])}:{str(head[1])[:HASH_SHOWN]}"


def parse_receipt(text: str) -> Anchor:
    seq, sep, digest = text.strip().partition(":")
    if not sep or not seq.isdigit() or not digest or any(c not in "0123456789abcdef" for c in digest.lower()) \
            or len(digest) < 8:
        raise ValueError(text)
    return Anchor("the receipt you kept (--expect)", int(seq), digest.lower())


def check_open(log, key: Optional[bytes]) -> None:
    """After a store's open_log: the Log reaches every end recorded around it."""
    check(log.name, log.head, of_store(log, key), lambda seq: _hash_at(log, seq), ledger_of(log))


def ledger_of(log_or_store) -> Optional[str]:
    """How a shared ledger's Log is named in messages (pg/store.py), or None for a workbook's own Log."""
    return getattr(getattr(log_or_store, "store", log_or_store), "log_label", None)


def _hash_at(log, seq: int) -> Optional[str]:
    entries = log.entries()
    return entries[seq - 1].hash if 1 <= seq <= len(entries) else None
