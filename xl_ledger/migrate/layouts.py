"""Recognise which layout a legacy sheet uses, and where its header row and columns are.

Four layouts are recognised (the names are the mapping's `layout` values):

* ``purchases`` — one row per package purchase: student, package, date, bought, used, remaining,
  price, paid, expiry. Needs a student column, a quantity column and one package-ish column
  (used / remaining / price / paid / expiry).
* ``running_balance`` — one sheet per student, dates down, + bought, − used, balance. Needs a date
  column, a balance column and an in/out (or signed change) column.
* ``attendance_grid`` — students down, dates across, marks in the cells. Needs a row with at least
  three dates in it, and a column of names to their left.
* ``lesson_log`` — date, student, (duration), (status). Needs a date and a student column.

The header row is found by scoring each of the first HEADER_SCAN_ROWS rows: the row whose cells
match the most known header words wins (title rows, blank rows and merged banners above it score
nothing). Detection only *proposes*: its answer is a Mapping a person can read and correct.
"""

from __future__ import annotations

import datetime as dt
import re

from xl_ledger.migrate.mapping import Mapping
from xl_ledger.migrate.mapping import SheetMapping
from xl_ledger.migrate.sources import LegacySource
from xl_ledger.migrate.sources import SheetGrid
from xl_ledger.migrate.sources import col_letter
from xl_ledger.migrate.values import blank
from xl_ledger.migrate.values import norm_header
from xl_ledger.migrate.units import pack_size
from xl_ledger.migrate.units import unit_of_text

HEADER_SCAN_ROWS = 40

# Header words per field, already in norm_header form. Exact matches beat "contains the word".
_STUDENT = ("student", "student name", "name", "client", "client name", "pupil", "customer", "member", "learner", "alumno", "eleve")
_FAMILY = ("family", "parent", "parent / family", "parent/family", "parent family", "family / parent", "guardian",
           "parents", "parent name", "family name", "household", "parent / guardian", "parent or guardian", "account holder")
_PACKAGE = ("package", "pack", "product", "plan", "package name", "item", "package type", "bundle")
VOCAB: dict[str, dict[str, tuple[str, ...]]] = {
    "purchases": {
        "student": _STUDENT,
        "package": _PACKAGE,
        "purchased_on": ("purchase date", "purchased", "purchased on", "date purchased", "date of purchase", "bought on",
                         "sale date", "date bought", "date", "start date", "start"),
        "quantity": ("bought", "qty", "quantity", "lessons bought", "hours bought", "credits bought", "sessions bought",
                     "total lessons", "total hours", "lessons", "hours", "credits", "sessions", "classes", "size",
                     "lessons purchased", "hours purchased", "# lessons", "# hours", "purchased lessons", "purchased hours",
                     "pack lessons", "pack hours", "pack size", "package size", "credits bought", "pack credits",
                     "lessons in pack", "hours in pack"),
        "last_date": ("last lesson", "last attended", "last class", "last session", "last visit", "last used",
                      "last lesson date", "last seen"),
        "used": ("used", "taken", "lessons used", "hours used", "used so far", "consumed", "attended", "lessons taken", "hours taken"),
        "remaining": ("remaining", "left", "balance", "lessons left", "hours left", "lessons remaining", "hours remaining",
                      "credits left", "remaining balance", "remaining lessons", "remaining hours"),
        "price": ("price", "cost", "amount", "fee", "total price", "price paid", "value"),
        "paid": ("paid", "paid?", "amount paid", "payment", "paid amount", "payment received"),
        "expires_on": ("expiry", "expires", "expiry date", "expiration", "expiration date", "valid until", "expires on", "exp"),
        "note": ("note", "notes", "comment", "comments", "memo"),
        "family": _FAMILY,
    },
    "running_balance": {
        "student": _STUDENT,
        "date": ("date", "day", "lesson date", "when"),
        "note": ("description", "note", "notes", "details", "comment", "what", "item", "lesson"),
        "in": ("in", "+", "bought", "added", "purchased", "credit", "credits in", "hours in", "lessons in", "top up", "top-up", "paid for"),
        "out": ("out", "-", "used", "deducted", "debit", "credits out", "hours out", "lessons out", "taken"),
        "change": ("change", "+/-", "+ / -", "movement", "delta", "adjustment"),
        "balance": ("balance", "running balance", "remaining", "left", "hours left", "lessons left", "total"),
    },
    "lesson_log": {
        "date": ("date", "lesson date", "day", "session date", "class date", "when"),
        "student": _STUDENT,
        # A pack bought on the row's date. Before "credits": in a log a bare "Credits" / "Lessons" column
        # counts each lesson's credits (every row is a lesson), so a pack header must say it is one.
        "quantity": ("pack", "pack size", "package size", "pack lessons", "pack hours", "pack credits", "bought",
                     "lessons bought", "hours bought", "credits bought", "sessions bought", "purchased",
                     "lessons purchased", "hours purchased", "new pack", "top up", "top-up"),
        "package": _PACKAGE,
        "price": ("price", "cost", "fee", "price paid"),
        "paid": ("paid", "paid?", "amount paid", "payment", "paid amount", "payment received"),
        "duration": ("duration", "length", "minutes", "mins", "min", "hours", "hrs", "time", "lesson length", "duration min",
                     "duration mins", "duration minutes", "duration hours", "duration h"),
        "status": ("status", "attendance", "mark", "attended?", "outcome"),
        "credits": ("credits", "lessons", "credit", "units"),
        "note": ("note", "notes", "comment", "comments", "description", "details", "topic"),
        "family": _FAMILY,
    },
    "attendance_grid": {
        "student": _STUDENT,
        "package": _PACKAGE,
        "quantity": ("bought", "lessons bought", "hours bought", "paid for", "package size", "purchased", "qty",
                     "pack lessons", "pack hours", "pack size", "credits", "credits bought", "pack credits", "pack"),
        "used": ("used", "total", "attended", "total used", "taken", "count"),
        "remaining": ("remaining", "left", "balance", "lessons left", "hours left"),
        "family": _FAMILY,
    },
}


def _match_fields(texts: list[str], vocab: dict[str, tuple[str, ...]]) -> dict[str, int]:
    """Assign header cells to fields: exact word matches first, then headers that contain a word."""
    found: dict[str, int] = {}
    used_cols: set[int] = set()
    for exact in (True, False):
        for fld, words in vocab.items():
            if fld in found:
                continue
            for c, t in enumerate(texts):
                if not t or c in used_cols:
                    continue
                hit = t in words if exact else any(re.search(rf"(^|\s){re.escape(w)}($|\s)", t) for w in words if len(w) > 2)
                if hit:
                    found[fld] = c
                    used_cols.add(c)
                    break
    return found


def _row_texts(grid: SheetGrid, r: int) -> list[str]:
    row = grid.rows[r] if r < grid.height else []
    return [norm_header(v) if isinstance(v, str) else "" for v in row]


def _is_dateish(v: object) -> bool:
    if isinstance(v, (dt.date, dt.datetime)):
        return True
    if isinstance(v, str) and re.fullmatch(r"\s*\d{1,4}[/.\-]\d{1,2}([/.\-]\d{2,4})?\s*|\s*\d{1,2}\s+[A-Za-z]{3,9}\.?(\s+\d{2,4})?\s*|\s*[A-Za-z]{3,9}\.?\s+\d{1,2}(,?\s+\d{2,4})?\s*", v):
        return True
    return False


# ----------------------------------------------------------------------------------------------
# Detection


def detect_mapping(source: LegacySource, day_first: bool | None = None) -> Mapping:
    sheets = [detect_sheet(g) for g in source.sheets]
    evidence = [_day_first_evidence(g, s) for g, s in zip(source.sheets, sheets)]
    votes_dmy = sum(e[0] for e in evidence)
    votes_mdy = sum(e[1] for e in evidence)
    global_df = day_first if day_first is not None else votes_dmy > votes_mdy
    for s, (dmy, mdy) in zip(sheets, evidence):
        # A sheet typed by someone else may disagree with the file's majority; then it gets its own.
        if day_first is None and s.layout != "ignore" and (dmy > mdy) != global_df and (dmy or mdy):
            s.day_first = dmy > mdy
    return Mapping(source=source.path.name, sheets=sheets, day_first=global_df)


def detect_sheet(grid: SheetGrid) -> SheetMapping:
    if not grid.rows:
        return SheetMapping(grid.name, "ignore", note="the sheet is empty")
    scan = min(grid.height, HEADER_SCAN_ROWS)
    grid_map = _detect_grid(grid, scan)
    if grid_map is not None:
        return grid_map
    best: tuple[int, int, str, dict[str, int]] | None = None  # (score, -row, layout, fields)
    for r in range(scan):
        texts = _row_texts(grid, r)
        if sum(1 for t in texts if t) < 2:
            continue
        for rank, layout in enumerate(("purchases", "running_balance", "lesson_log")):
            fields = _match_fields(texts, VOCAB[layout])
            if layout in ("purchases", "lesson_log"):
                fields = _pack_column(grid, r, fields)
            if not _satisfies(layout, fields):
                continue
            # Score: fields matched; purchases > running_balance > lesson_log when equal, since the
            # more specific requirement that matched says more about the sheet.
            score = (len(fields), -rank, -r)
            if best is None or score > best[0]:
                best = (score, r, layout, fields)
    if best is None:
        return SheetMapping(grid.name, "ignore", note="no header row with known column names in the first "
                                                      f"{HEADER_SCAN_ROWS} rows; set layout, header_row and columns by hand")
    _, r, layout, fields = best
    raw = grid.rows[r]
    m = SheetMapping(grid.name, layout, header_row=r + 1,
                     columns={f: col_letter(c) for f, c in sorted(fields.items(), key=lambda kv: kv[1])},
                     headers={f: str(raw[c]).strip() for f, c in fields.items()})
    texts = _row_texts(grid, r)
    if layout == "purchases":
        # Only the pack-size column's header says the unit for the whole sheet; otherwise each row's
        # cell or package name says it, or the import asks (units.py). Amounts are never a reason.
        m.unit = unit_of_text(str(raw[fields["quantity"]])) if "quantity" in fields else None
        m.note = "one row per package purchase" + ("" if m.unit else "; the unit is read per row from the pack "
                                                   "cell or the package name (set unit here if neither says it)")
    elif layout == "running_balance":
        amount_fields = [f for f in ("in", "out", "change", "balance") if f in fields]
        # The headers, else what the cells name ("1h30", "90 min", a "10 hour package" line); bare
        # numbers never (1.5 is not "probably hours"): with nothing named, the import asks.
        m.unit = _unit_from_texts([texts[fields[f]] for f in amount_fields])
        if m.unit is None:
            m.unit = _unit_named(v for f in (*amount_fields, "note") if f in fields
                                 for v in _column_sample(grid, r, fields[f]))
        if m.unit is None:
            m.note = 'no header, amount or description names the unit: set unit to "hours" or "lessons"; '
        if "student" not in fields:
            m.student = _balance_owner(grid, r)
        m.note += "running balance: dates down, + bought, - used"
    else:
        if "duration" in fields:
            m.unit = "hours"
            m.duration_bare = _duration_bare(grid, r, fields["duration"], texts[fields["duration"]])
        else:
            m.unit = "lessons"
        m.note = "lesson log: one row per lesson" + ("; a pack-size cell is a purchase on its row's date"
                                                     if "quantity" in fields else "")
    return m


def _pack_column(grid: SheetGrid, header_r: int, fields: dict[str, int]) -> dict[str, int]:
    """A "Package" / "Pack" column that holds numbers (8, "10 lessons") is the pack size, not a name."""
    if "quantity" in fields or "package" not in fields:
        return fields
    sample = _column_sample(grid, header_r, fields["package"], 50)
    numeric = [v for v in sample if (isinstance(v, (int, float)) and not isinstance(v, bool))
               or (isinstance(v, str) and re.fullmatch(r"\s*\d+([.,]\d+)?\s*[a-z ]*", v.lower()))]
    if sample and len(numeric) >= 0.8 * len(sample):
        fields = dict(fields)
        fields["quantity"] = fields.pop("package")
    return fields


def _satisfies(layout: str, f: dict[str, int]) -> bool:
    if layout == "purchases":
        return "student" in f and "quantity" in f and bool({"used", "remaining", "price", "paid", "expires_on"} & set(f))
    if layout == "running_balance":
        return "date" in f and "balance" in f and bool({"in", "out", "change"} & set(f))
    return "date" in f and "student" in f


def _unit_from_texts(texts: list[str]) -> str | None:
    joined = " ".join(texts)
    if re.search(r"\b(hours?|hrs?|h)\b", joined):
        return "hours"
    if re.search(r"\b(lessons?|classes?|sessions?|credits?)\b", joined):
        return "lessons"
    return None


def _balance_owner(grid: SheetGrid, header_r: int) -> str:
    """A running-balance sheet's student: a 'Student: Ana' cell above the header, else the sheet name."""
    for r in range(header_r):
        row = grid.rows[r]
        for c, v in enumerate(row):
            if not isinstance(v, str):
                continue
            m = re.match(r"\s*(student|name|client|pupil)\s*[:\-]\s*(\S.*)$", v, re.I)
            if m:
                return m.group(2).strip()
            if norm_header(v) in ("student", "name", "client", "pupil", "student name"):
                nxt = next((x for x in row[c + 1:] if isinstance(x, str) and x.strip()), None)
                if nxt:
                    return nxt.strip()
    return grid.name.strip()


def _duration_bare(grid: SheetGrid, header_r: int, c: int, header: str) -> str:
    """Whether bare numbers in a duration column are minutes (60, 90) or hours (1, 1.5)."""
    if re.search(r"\bmins?\b|\bminutes?\b", header):
        return "minutes"
    if re.search(r"\b(hours?|hrs?|h)\b", header):
        return "hours"
    numbers = [float(str(v).replace(",", ".")) for v in _column_sample(grid, header_r, c)
               if isinstance(v, (int, float)) or (isinstance(v, str) and re.fullmatch(r"\s*\d+([.,]\d+)?\s*", v))]
    return "hours" if numbers and max(numbers) <= 8 else "minutes"


def _column_sample(grid: SheetGrid, header_r: int, c: int, n: int = 200) -> list:
    return [row[c] for row in grid.rows[header_r + 1: header_r + 1 + n] if c < len(row) and not blank(row[c])]


def _unit_named(values) -> str | None:
    """The one unit the cells name: '1h30', '90 min', '1:30' (a time cell or text), '10 hour package',
    '2 lessons'. None when none names one, or both are named."""
    named = set()
    for v in values:
        if isinstance(v, dt.time) or (isinstance(v, str) and re.fullmatch(r"\s*\d{1,2}:\d\d\s*", v)):
            named.add("hours")
        elif isinstance(v, str):
            size = pack_size(v)
            if size is not None and size.unit is not None:
                named.add(size.unit)
    return named.pop() if len(named) == 1 else None


def _detect_grid(grid: SheetGrid, scan: int) -> SheetMapping | None:
    for r in range(scan):
        row = grid.rows[r]
        date_cols = [c for c, v in enumerate(row) if _is_dateish(v)]
        if len(date_cols) < 3:
            continue
        first, last = date_cols[0], date_cols[-1]
        # the dates must be one run across (a stray date elsewhere in the row does not count)
        if len(date_cols) < (last - first + 1) * 0.6:
            continue
        texts = _row_texts(grid, r)
        fields = _match_fields([t if c < first or c > last else "" for c, t in enumerate(texts)], VOCAB["attendance_grid"])
        fields = _pack_column(grid, r, fields)
        if "student" not in fields:
            # No header word: take the nearest column left of the dates that holds names below.
            cand = [c for c in range(first) if sum(isinstance(grid.value(rr, c), str) and grid.value(rr, c).strip() != ""
                                                   for rr in range(r + 1, min(grid.height, r + 20))) >= 2]
            if not cand:
                continue
            fields["student"] = cand[0]
        title = " ".join(norm_header(v) for rr in range(r) for v in grid.rows[rr] if isinstance(v, str)) + " " + norm_header(grid.name)
        # The pack column's header says the unit first ("Pack (lessons)"), then the title, then the marks.
        pack_head = row[fields["quantity"]] if "quantity" in fields else ""
        unit = unit_of_text(pack_head) if isinstance(pack_head, str) else None
        if unit is None:
            unit = "hours" if re.search(r"\b(hours?|hrs?)\b", title) else None
        # Then what the pack cells and names say ("10 hours"), then the marks: "1h30" names hours; marks
        # that are only X / ✓ / NS count attendances, so lessons. Bare numbers (1, 1.5) never decide.
        body = grid.rows[r + 1: r + 201]
        if unit is None:
            unit = _unit_named(row_[fields[f]] for f in ("quantity", "package") if f in fields
                               for row_ in body if fields[f] < len(row_))
        if unit is None:
            marks = [v for row_ in body for v in row_[first:last + 1] if not blank(v)]
            unit = _unit_named(marks)
            if unit is None and marks and not any(isinstance(v, (int, float)) or (isinstance(v, str) and
                                                  re.search(r"\d", v)) for v in marks):
                unit = "lessons"
        return SheetMapping(
            grid.name, "attendance_grid", header_row=r + 1,
            columns={f: col_letter(c) for f, c in sorted(fields.items(), key=lambda kv: kv[1])},
            headers={f: str(row[c]).strip() for f, c in fields.items()},
            unit=unit, date_columns=f"{col_letter(first)}:{col_letter(last)}",
            note="attendance grid: students down, dates across",
        )
    return None


_DMY_RE = re.compile(r"^\s*(\d{1,2})[/.\-](\d{1,2})[/.\-]\d{2,4}\b")


def _day_first_evidence(grid: SheetGrid, m: SheetMapping) -> tuple[int, int]:
    """Count text dates that can only be day-first (31/01/2025) or only month-first (01/31/2025)."""
    if m.layout == "ignore" or m.header_row is None:
        return 0, 0
    from xl_ledger.migrate.sources import col_index

    if m.layout == "attendance_grid":
        a, b = (col_index(x) for x in m.date_columns.split(":"))
        values = grid.rows[m.header_row - 1][a:b + 1]
    else:
        cols = [col_index(m.columns[f]) for f in ("date", "purchased_on", "expires_on") if f in m.columns]
        values = [row[c] for row in grid.rows[m.header_row:] for c in cols if c < len(row) and isinstance(row[c], str)]
    dmy = mdy = 0
    for v in values:
        if not isinstance(v, str):
            continue
        mt = _DMY_RE.match(v)
        if mt:
            a_, b_ = int(mt.group(1)), int(mt.group(2))
            dmy += a_ > 12 >= b_
            mdy += b_ > 12 >= a_
    return dmy, mdy


__all__ = ["detect_mapping", "detect_sheet", "VOCAB", "HEADER_SCAN_ROWS"]
