"""Apply a Mapping to a LegacySource: read every sheet's rows into neutral records and findings.

Rules shared by all layouts:
* blank rows are separators and are skipped silently;
* a row whose first text says Total / Sum / Subtotal is skipped with a `skipped_total` finding;
* a row that repeats the header, or carries text but none of the row's required values, is skipped
  with a `skipped_row` finding (section titles like "Spring term");
* a cell that cannot be read becomes an `unreadable_cell` finding naming the cell and the value; the
  rest of the row is still read when it makes sense without it;
* a value merged down over several rows (a student's name spanning their purchases) counts for
  every row it covers.
Checks that need only the sheet itself (remaining = bought − used, a running balance that does not
add up, the same row twice) are findings too; comparing with the engine is phase 2's job.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from decimal import Decimal

from xl_ledger.core.numbers import text as num_text
from xl_ledger.core.parse import ParseError
from xl_ledger.migrate.mapping import Mapping
from xl_ledger.migrate.mapping import SheetMapping
from xl_ledger.migrate.names import NameBook
from xl_ledger.migrate.records import Finding
from xl_ledger.migrate.records import LegacyBalanceLine
from xl_ledger.migrate.records import LegacyLesson
from xl_ledger.migrate.records import LegacyPurchase
from xl_ledger.migrate.records import LegacyStatedBalance
from xl_ledger.migrate.records import ReadResult
from xl_ledger.migrate.sources import LegacyFileError
from xl_ledger.migrate.sources import LegacySource
from xl_ledger.migrate.sources import SheetGrid
from xl_ledger.migrate.sources import col_index
from xl_ledger.migrate.sources import col_letter
from xl_ledger.migrate.sources import no_gc
from xl_ledger.migrate.values import blank
from xl_ledger.migrate.values import norm_header
from xl_ledger.migrate.values import read_date
from xl_ledger.migrate.values import read_mark
from xl_ledger.migrate.values import read_minutes
from xl_ledger.migrate.values import read_money
from xl_ledger.migrate.values import read_paid
from xl_ledger.migrate.values import YearlessDate
from xl_ledger.migrate.values import money_currency
from xl_ledger.migrate.values import read_qty
from xl_ledger.migrate.units import Pack
from xl_ledger.migrate.units import pack_size
from xl_ledger.migrate.units import read_pack
from xl_ledger.migrate.units import unit_of_text

_TOTAL_RE = re.compile(r"^\s*(grand\s+|sub\s*)?(totals?|sum|summe|totaal)\b", re.I)
ZERO = Decimal(0)


class _Ctx:
    """Per-read state: where findings go and the names seen."""

    def __init__(self, mapping: Mapping) -> None:
        self.findings: list[Finding] = []
        self.names = NameBook(mapping.aliases)
        self.purchases: list[LegacyPurchase] = []
        self.lessons: list[LegacyLesson] = []
        self.lines: list[LegacyBalanceLine] = []
        self.stated: list[LegacyStatedBalance] = []
        self.families: dict[str, tuple[str, str]] = {}  # student spelling -> (family text, cell)
        self.header_dates: list[dt.date] = []  # a grid's date columns (a date the file shows without a record)

    def family(self, student: str, raw: object, ref: str) -> None:
        """A parent / family / guardian cell: siblings with the same text share a family."""
        if blank(raw):
            return
        text = " ".join(str(raw).split())
        had = self.families.get(student)
        if had is None:
            self.families[student] = (text, ref)
        elif norm_header(had[0]) != norm_header(text):
            self.findings.append(Finding("family_conflict", f'{ref} says {student}\'s family is "{text}", but {had[1]} '
                                                            f'says "{had[0]}". The first was kept; correct the other '
                                                            "(or add a correction to the mapping file) if it is wrong.",
                                         (had[1], ref)))

    def hold(self, kind: str, ref: str, what: str, answer: str, cells, held: str = "row") -> None:
        """A fact the importer cannot know: the row is held (not read) and the import waits for an answer."""
        self.findings.append(Finding(kind, f"{ref}: {what}. The {held} is held: nothing from this file is imported until "
                                           f"it is answered; {answer}.", tuple(dict.fromkeys([ref, *cells]))))

    def unreadable(self, ref: str, value: object, err: Exception, what_next: str) -> None:
        shown = str(value)[:60]
        self.findings.append(Finding("unreadable_cell", f'{ref} holds "{shown}": {_reason(err)}. {what_next}', (ref,)))


def _reason(err: Exception) -> str:
    return str(err).rstrip(".")


def read_with_mapping(source: LegacySource, mapping: Mapping) -> ReadResult:
    with no_gc():
        return _read_all(source, mapping)


def _read_all(source: LegacySource, mapping: Mapping) -> ReadResult:
    ctx = _Ctx(mapping)
    for grid in source.sheets:
        sm = mapping.for_sheet(grid.name)
        if sm is None:
            ctx.findings.append(Finding("ignored_sheet", f'Sheet "{grid.name}" is not in the mapping, so it was not read. '
                                                         "Delete the mapping file to detect again, or add the sheet to it.",
                                        (f"{grid.file_label}!{grid.name}!A1",)))
            continue
        if sm.layout == "ignore":
            if any(not blank(v) for row in grid.rows[:50] for v in row):
                ctx.findings.append(Finding("ignored_sheet", f'Sheet "{grid.name}" was not read: {sm.note or "marked ignore in the mapping"}.',
                                            (f"{grid.file_label}!{grid.name}!A1",)))
            continue
        _check_headers(source, grid, sm)
        day_first = mapping.day_first if sm.day_first is None else sm.day_first
        _fill_merged_down(grid)
        _apply_corrections(ctx, grid, mapping.corrections)
        reader = {"purchases": _read_purchases, "running_balance": _read_balance,
                  "attendance_grid": _read_grid, "lesson_log": _read_log}[sm.layout]
        reader(ctx, grid, sm, day_first)
    missing = {s.sheet for s in mapping.sheets} - {g.name for g in source.sheets}
    for name in sorted(missing):
        ctx.findings.append(Finding("mapping_stale", f'The mapping names sheet "{name}", which the file no longer has.'))
    ctx.findings.extend(ctx.names.variant_findings())
    shown = [*ctx.header_dates, *(ls.date for ls in ctx.lessons), *(ln.date for ln in ctx.lines if ln.date),
             *(d for p in ctx.purchases for d in (p.purchased_on, p.last_date) if d)]
    return ReadResult(mapping, tuple(ctx.purchases), tuple(ctx.lessons), tuple(ctx.lines), tuple(ctx.stated),
                      tuple(ctx.findings), ctx.names.students(), ctx.families, max(shown, default=None))


def _apply_corrections(ctx: _Ctx, grid: SheetGrid, corrections: dict[str, str]) -> None:
    """The mapping's answers to held findings: a cell is read as the person typed it there. The legacy
    file is not changed, and the reconciliation lists every correction beside what the cell held."""
    for ref, value in corrections.items():
        sheet, _, cell = ref.rpartition("!")
        if sheet.rpartition("!")[2] != grid.name:
            continue
        m = re.fullmatch(r"\$?([A-Za-z]{1,3})\$?(\d+)", cell.strip())
        if not m:
            raise LegacyFileError(grid.file_label, f'the correction for "{ref}" does not name a cell like Packages!C7.')
        r, c = int(m.group(2)) - 1, col_index(m.group(1).upper())
        while grid.height <= r:
            grid.rows.append([])
        row = grid.rows[r]
        if len(row) <= c:
            row.extend([""] * (c + 1 - len(row)))
        before = row[c]
        row[c] = value
        if isinstance(before, float) and before.is_integer():
            before = int(before)
        ctx.findings.append(Finding("corrected", f'{grid.ref(r, c)} holds "{str(before)[:60]}"; the mapping\'s correction '
                                                 f'reads it as "{value}".', (grid.ref(r, c),)))


def _check_headers(source: LegacySource, grid: SheetGrid, sm: SheetMapping) -> None:
    """A saved mapping is only reused while the header cells still say what they said."""
    r = sm.header_row - 1
    for fld, expected in sm.headers.items():
        letter = sm.columns.get(fld)
        if letter is None:
            continue
        now = grid.value(r, col_index(letter))
        if norm_header(str(now)) != norm_header(expected):
            raise LegacyFileError(
                source.path,
                f'sheet "{grid.name}" changed since its mapping was saved: {letter}{sm.header_row} said "{expected}" '
                f'and now says "{now}". Delete the mapping file to detect the layout again, or correct the column '
                f'for "{fld}" in it (and its "headers" entry).',
            )


def _fill_merged_down(grid: SheetGrid) -> None:
    # Only vertical merges are filled, and only in their first column: a name merged down over three
    # rows names all three; a banner merged across columns must not copy into number columns.
    for (r0, c0), (r1, _c1) in grid.merged:
        if r1 <= r0:
            continue
        top = grid.value(r0, c0)
        for r in range(r0 + 1, min(r1, grid.height - 1) + 1):
            row = grid.rows[r]
            if c0 < len(row) and blank(row[c0]):
                row[c0] = top


def _cols(sm: SheetMapping) -> dict[str, int]:
    return {f: col_index(letter) for f, letter in sm.columns.items()}


def _get(row: list, c: int | None) -> object:
    if c is None or c >= len(row):
        return ""
    return row[c]


def _skip_row(ctx: _Ctx, grid: SheetGrid, r: int, header_texts: list[str]) -> bool:
    """Blank, totals, repeated header or title-only rows: True if the row is not data."""
    row = grid.rows[r]
    texts = [v for v in row if isinstance(v, str) and v.strip()]
    if not texts and all(blank(v) for v in row):
        return True
    first_text = texts[0] if texts else ""
    if _TOTAL_RE.match(first_text):
        ctx.findings.append(Finding("skipped_total", f'{grid.ref(r, row.index(first_text))}: row {r + 1} is a totals row '
                                                     f'("{first_text.strip()}") and was skipped; totals are recomputed.',
                                    (grid.ref(r, row.index(first_text)),)))
        return True
    normed = [norm_header(v) if isinstance(v, str) else "" for v in row]
    if sum(1 for a, b in zip(normed, header_texts) if a and a == b) >= 2:
        ctx.findings.append(Finding("skipped_row", f"Row {r + 1} of {grid.name} repeats the header and was skipped.",
                                    (grid.ref(r, 0),)))
        return True
    return False


def _skipped(ctx: _Ctx, grid: SheetGrid, r: int, why: str) -> None:
    row = grid.rows[r]
    c = next((i for i, v in enumerate(row) if not blank(v)), 0)
    shown = " | ".join(str(v) for v in row if not blank(v))[:80]
    ctx.findings.append(Finding("skipped_row", f"Row {r + 1} of {grid.name} ({shown}) was skipped: {why}.", (grid.ref(r, c),)))


# ----------------------------------------------------------------------------------------------
# purchases


def _read_purchases(ctx: _Ctx, grid: SheetGrid, sm: SheetMapping, day_first: bool) -> None:
    cols = _cols(sm)
    header_texts = [norm_header(v) if isinstance(v, str) else "" for v in grid.rows[sm.header_row - 1]]
    raw_headers = grid.rows[sm.header_row - 1]
    other_units = _amount_header_units(raw_headers, cols, ("used", "remaining"))
    yearless = _yearless_from(sm)
    seen: dict[tuple, int] = {}
    rows_read: list[tuple[int, dict]] = []
    for r in range(sm.header_row, grid.height):
        row = grid.rows[r]
        if _skip_row(ctx, grid, r, header_texts):
            continue
        raw_student = _get(row, cols["student"])
        if blank(raw_student) or not isinstance(raw_student, str):
            _skipped(ctx, grid, r, "it has no student name")
            continue
        vals: dict[str, object] = {}
        cells = {f: grid.ref(r, c) for f, c in cols.items() if not blank(_get(row, c))}
        label = _get(row, cols.get("package"))
        label = str(label).strip() if not blank(label) else None
        # The pack: its unit and size from the header, the cell, then the package's name (units.py).
        pack = _row_pack(ctx, grid, r, cols, label, cells, header_unit=sm.unit, header=str(sm.headers.get("quantity", "")),
                         other_units=other_units, answer=f'set "unit" for sheet "{grid.name}" in the mapping file, or '
                                                         "add a correction for {cell} such as \"10 lessons\"")
        if pack is None:
            continue
        hours = pack.unit == "hours"
        if pack.quantity is not None:
            vals["quantity"] = pack.quantity
        readers = {
            "purchased_on": lambda v: read_date(v, day_first, yearless),
            "last_date": lambda v: read_date(v, day_first, yearless),
            "expires_on": lambda v: read_date(v, day_first, yearless),
            "used": lambda v: read_qty(v, hours),
            "remaining": lambda v: read_qty(v, hours),
        }
        held = False
        for fld, read in readers.items():
            v = _get(row, cols.get(fld))
            if blank(v):
                continue
            try:
                vals[fld] = read(v)
            except YearlessDate as err:
                if fld == "expires_on":  # an expiry is only reported, never imported: no need to hold the row
                    ctx.unreadable(cells[fld], v, err, "The expiry was not read; legacy expiries are only reported.")
                    cells.pop(fld)
                    continue
                ctx.hold("yearless_date", cells[fld], f'"{str(v).strip()}" has no year',
                         f'type the year into the cell, add a correction for {_short(cells[fld])} such as "2025-09-20", '
                         f'or set "yearless_from" for sheet "{grid.name}" in the mapping file', [cells[fld]])
                held = True
                break
            except ParseError as err:
                ctx.unreadable(cells[fld], v, err, f"The purchase was read without its {fld.replace('_', ' ')}; "
                                                   "fix the cell and run the import again.")
                cells.pop(fld)
        if held or not _amount_units(ctx, grid, r, cols, raw_headers, pack, vals, list(cells.values())):
            continue
        currency = _row_money(ctx, sm, row, cols, cells, vals)
        note_v = _get(row, cols.get("note"))
        note = str(note_v).strip() if not blank(note_v) else None
        if "quantity" not in vals and "purchased_on" not in vals:
            _skipped(ctx, grid, r, "it has neither a quantity nor a purchase date")
            continue
        date_cell = grid.ref(r, cols["purchased_on"]) if "purchased_on" in cols else None
        if "purchased_on" not in vals:
            answered = _undated_answer(ctx, sm, date_cell or grid.ref(r, cols["student"]))
            if answered is not None:
                vals["purchased_on"] = answered
        student = ctx.names.add(raw_student, grid.ref(r, cols["student"]))
        if "family" in cols:
            ctx.family(student, _get(row, cols["family"]), grid.ref(r, cols["family"]))
        # cells are keyed by the record's own field names, so a report can look up p.cells["stated_remaining"]
        cells = {_RECORD_FIELD.get(f, f): ref for f, ref in cells.items()}
        p = LegacyPurchase(student, label, vals.get("purchased_on"), vals.get("quantity"), pack.unit, vals.get("price"),
                           vals.get("paid"), vals.get("expires_on"), vals.get("used"), vals.get("remaining"),
                           cells, grid.ref(r, cols["student"]), currency, vals.get("last_date"), note,
                           shared_hint(label, note), date_cell)
        ctx.purchases.append(p)
        rows_read.append((r, vals))
        key = (student, p.package_label, p.purchased_on, p.quantity, p.price, p.paid)
        if key in seen:
            ctx.findings.append(Finding("duplicate_row", f'Rows {seen[key] + 1} and {r + 1} of {grid.name} are the same purchase '
                                                         f'({student}, {p.quantity} on {p.purchased_on}). Both were read; '
                                                         "delete one in the legacy file if it was entered twice.",
                                        (grid.ref(seen[key], cols["student"]), p.row_cell)))
        else:
            seen[key] = r
    _check_remaining(ctx, grid, sm, rows_read, cols)


def _amount_units(ctx: _Ctx, grid: SheetGrid, r: int, cols: dict[str, int], headers: list, pack: Pack, vals: dict,
                  cells: list[str]) -> bool:
    """Used / left columns headed in the other unit than the pack's ("Hours used" beside a pack named
    "20 lessons"). An hour of a lessons pack is a lesson only if lessons last an hour, which the sheet
    does not say; so the amounts are read in the pack's unit only when the row itself settles it: the
    cell names the pack's unit ("12 lessons", as a correction would), or bought − used = left holds in
    the pack's unit (then the header's word is the sheet's label, or a lesson is one hour: both readings
    give the same numbers). Otherwise the row is held (False)."""
    row = grid.rows[r]
    disputed = []
    for fld in ("used", "remaining"):
        c = cols.get(fld)
        if c is None or fld not in vals:
            continue
        head = _get(headers, c)
        unit = unit_of_text(head) if isinstance(head, str) else None
        if unit is None or unit == pack.unit:
            continue
        said = pack_size(row[c]) if isinstance(row[c], str) else None
        if said is not None and said.unit == pack.unit:
            continue  # the cell itself says it counts the pack's unit
        disputed.append((grid.ref(r, c), head.strip(), unit, vals[fld]))
    if not disputed:
        return True
    ref, head, unit, amount = disputed[0]
    q, u, left = vals.get("quantity", pack.quantity), vals.get("used"), vals.get("remaining")
    if q is not None and u is not None and left is not None and q - u == left:
        ctx.findings.append(Finding("unit_read", f'{ref}: the header "{head}" counts {unit}, but the pack counts '
                                                 f"{pack.unit}; the row's own numbers agree in {pack.unit} ({num_text(q)} − "
                                                 f"{num_text(u)} = {num_text(left)}), so they were read as {pack.unit}.",
                                    tuple(d[0] for d in disputed)))
        return True
    ctx.hold("unit_unclear", ref, f'the header "{head}" counts {unit}, but the pack counts {pack.unit}, and how many '
                                  f"{pack.unit} {num_text(amount)} {unit} make depends on how long a lesson was",
             f"add a correction for {_short(ref)} saying what it means in {pack.unit} (such as "
             + (f'"{num_text(amount / Decimal("1.5"))} lessons" for {num_text(amount)} hours of 90-minute lessons)'
                if pack.unit == "lessons" else
                f'"{num_text(amount * Decimal("1.5"))} hours" for {num_text(amount)} lessons of 90 minutes)'), cells)
    return False


def _row_money(ctx: _Ctx, sm: SheetMapping, row: list, cols: dict[str, int], cells: dict[str, str], vals: dict) -> str | None:
    """A purchase row's price and paid cells into `vals`; returns the currency they name ("GBP" for "£550")."""
    currency = None
    for fld in ("price", "paid"):
        v = _get(row, cols.get(fld))
        if blank(v):
            continue
        code = money_currency(v) if sm.currency is None else sm.currency.strip().upper()
        currency = currency or code
        try:
            vals[fld] = read_money(v) if fld == "price" else read_paid(v, vals.get("price"))
        except ParseError as err:
            what = "its price" if fld == "price" else "the amount paid"
            ctx.unreadable(cells[fld], v, err, f"The purchase was read without {what}.")
            cells.pop(fld)
    return currency


def _undated_answer(ctx: _Ctx, sm: SheetMapping, where: str) -> dt.date | None:
    """The mapping's `undated_purchases_on` for a purchase row that shows no date (a person's answer)."""
    if not sm.undated_purchases_on:
        return None
    day = dt.date.fromisoformat(sm.undated_purchases_on)
    ctx.findings.append(Finding("corrected", f'{where}: the purchase shows no date; the mapping\'s "undated_purchases_on" '
                                             f"for sheet {sm.sheet} dates it {day.isoformat()}.", (where,)))
    return day


def _amount_header_units(raw_headers: list, cols: dict[str, int], fields: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(header, unit) of the amount columns other than the pack size that name a unit ("Hours used")."""
    out = []
    for f in fields:
        c = cols.get(f)
        text = _get(raw_headers, c)
        unit = unit_of_text(text) if isinstance(text, str) else None
        if unit:
            out.append((text.strip(), unit))
    return tuple(out)


def _yearless_from(sm: SheetMapping) -> dt.date | None:
    return dt.date.fromisoformat(sm.yearless_from) if sm.yearless_from else None


def _short(ref: str) -> str:
    """'f.xlsx!Packages!C7' -> 'Packages!C7' (how the mapping's corrections name a cell)."""
    return ref.split("!", 1)[1] if ref.count("!") >= 2 else ref


_SHARED = re.compile(r"\b(family|families|siblings?|brothers?|sisters?|shared?)\b", re.I)


def shared_hint(label: str | None, note: str | None) -> str | None:
    """'Family pack', 'siblings', 'shared': the words that say a pack is for the whole family."""
    for text in (label, note):
        m = _SHARED.search(text or "")
        if m:
            return f'"{text}"'
    return None


_RECORD_FIELD = {"package": "package_label", "used": "stated_used", "remaining": "stated_remaining"}


def _check_remaining(ctx: _Ctx, grid: SheetGrid, sm: SheetMapping, rows: list[tuple[int, dict]], cols: dict[str, int]) -> None:
    """Remaining should be bought − used on the same row. A formula pointing at the wrong row is the
    classic slip (filled down past an inserted row); if the value fits a neighbour row, say so."""
    diffs = {r: v["quantity"] - v["used"] for r, v in rows if "quantity" in v and "used" in v}
    for r, v in rows:
        if r not in diffs or "remaining" not in v or v["remaining"] == diffs[r]:
            continue
        ref = grid.ref(r, cols["remaining"])
        hint = ""
        for other in (r - 1, r + 1, r - 2, r + 2):
            if other in diffs and diffs[other] == v["remaining"]:
                hint = f" It equals bought − used of row {other + 1}: the formula probably points at the wrong row."
                break
        q, u = v["quantity"], v["used"]
        ctx.findings.append(Finding(
            "remaining_mismatch",
            f"{ref} says {v['remaining']} remaining, but row {r + 1} bought {q} and used {u}, which leaves {q - u}.{hint} "
            f"The row is held: nothing from this file is imported until it is answered; correct the cell that is wrong "
            f'in the file, or add a correction for {_short(ref)} (or the bought or used cell) to the mapping file.',
            (ref, grid.ref(r, cols["quantity"]), grid.ref(r, cols["used"])),
        ))


# ----------------------------------------------------------------------------------------------
# running balance


_ADJUST_RE = re.compile(r"adjust|correct|fix|transfer|refund|carried|brought forward|opening|b/f|c/f|write.?off|expired", re.I)
_PURCHASE_RE = re.compile(r"bought|purchase|package|pack\b|top.?up|paid|renew", re.I)


def _read_balance(ctx: _Ctx, grid: SheetGrid, sm: SheetMapping, day_first: bool) -> None:
    if _no_unit(ctx, grid, sm, "not the headers, the amounts or the descriptions"):
        return
    cols = _cols(sm)
    hours = sm.unit == "hours"
    header_texts = [norm_header(v) if isinstance(v, str) else "" for v in grid.rows[sm.header_row - 1]]
    prev: Decimal | None = None
    last: tuple[str, Decimal, str] | None = None
    seen: dict[tuple, int] = {}
    owner_fixed = sm.student
    yearless = _yearless_from(sm)
    dated, undated = False, []  # undated: (index in ctx.lines, row) of this sheet's lines above its first date
    for r in range(sm.header_row, grid.height):
        row = grid.rows[r]
        if _skip_row(ctx, grid, r, header_texts):
            continue
        cells = {f: grid.ref(r, c) for f, c in cols.items() if not blank(_get(row, c))}
        note_v = _get(row, cols.get("note"))
        note = str(note_v).strip() if not blank(note_v) else None
        qty: dict[str, Decimal] = {}
        for fld in ("in", "out", "change", "balance"):
            v = _get(row, cols.get(fld))
            if blank(v):
                continue
            try:
                qty[fld] = read_qty(v, hours)
            except ParseError as err:
                ctx.unreadable(cells[fld], v, err, "That row was skipped; fix the cell and run the import again.")
                qty = {}
                break
        if not qty:
            if not any(cells.get(f) for f in ("in", "out", "change", "balance")):
                _skipped(ctx, grid, r, "it has no amounts")
            continue
        date_v = _get(row, cols.get("date"))
        date = None
        if not blank(date_v):
            try:
                date = read_date(date_v, day_first, yearless)
            except YearlessDate:
                ctx.hold("yearless_date", cells["date"], f'"{str(date_v).strip()}" has no year',
                         f'type the year into the cell, add a correction for {_short(cells["date"])} such as '
                         f'"2025-09-20", or set "yearless_from" for sheet "{grid.name}" in the mapping file', [])
                continue
            except ParseError as err:
                ctx.unreadable(cells["date"], date_v, err, "The line has no date it can be read at (see the "
                                                           "finding about its date).")
        owner_raw = owner_fixed if owner_fixed else _get(row, cols.get("student"))
        if blank(owner_raw):
            _skipped(ctx, grid, r, "it names no student")
            continue
        anchor = cells.get("student") or cells.get("date") or grid.ref(r, 0)
        student = ctx.names.add(str(owner_raw), anchor)
        if "change" in qty:
            delta = qty["change"]
        elif "in" in qty or "out" in qty:
            delta = qty.get("in", ZERO) - abs(qty.get("out", ZERO))
        else:
            # Only a balance: the opening line ("Brought forward 5"), or a line whose +/- is missing.
            delta = qty["balance"] - (prev or ZERO)
        stated = qty.get("balance")
        if note and _ADJUST_RE.search(note) or delta == 0:
            kind = "adjustment"
        elif delta > 0 and (note is None or _PURCHASE_RE.search(note) or "in" in qty):
            kind = "purchase"
        elif delta > 0:
            kind = "adjustment"
        else:
            kind = "lesson"
        line = LegacyBalanceLine(student, date, delta, stated, kind, note, cells, sm.unit)
        if date is not None:
            dated = True
            for i, _r in undated:  # lines above the sheet's first date: carried in, so they hold from that date
                ctx.lines[i] = replace(ctx.lines[i], date=date, dated_by=f"{cells.get('date')}, the sheet's first date")
            undated.clear()
            ctx.lines.append(line)
        elif not dated:
            undated.append((len(ctx.lines), r))
            ctx.lines.append(line)
        else:
            # After dated lines an undated one could be any day since: asked, never the import day.
            where = grid.ref(r, cols["date"])
            ctx.hold("undated", where, "the line has no date, and lines above it have one",
                     f'type the date into the cell or add a correction for {_short(where)} such as "2025-03-01"',
                     [c for c in cells.values()])
        if stated is not None:
            expected = (prev or ZERO) + delta
            if prev is not None and stated != expected:
                ctx.findings.append(Finding(
                    "balance_mismatch",
                    f"{cells['balance']} says the balance is {stated}, but the line before left {prev} and this line "
                    f"changes it by {delta}, which gives {expected}. The stated balance is kept for the comparison.",
                    (cells["balance"],)))
            prev = stated
        else:
            prev = (prev or ZERO) + delta
        key = (student, date, delta, norm_header(note or ""))
        if delta < 0 and key in seen:
            first = seen[key]
            ctx.findings.append(Finding(
                "duplicate_row",
                f"Rows {first + 1} and {r + 1} of {grid.name} both take {abs(delta)} from {student} on {date}"
                f"{' for ' + repr(note) if note else ''}: was it counted twice? Both were read.",
                (grid.ref(first, cols.get("date", 0)), grid.ref(r, cols.get("date", 0)))))
        seen.setdefault(key, r)
        if stated is not None:
            last = (student, stated, cells["balance"])
    for i, r in reversed(undated):  # a sheet without any date: nothing says when its lines happened
        line = ctx.lines.pop(i)
        where = grid.ref(r, cols["date"])
        ctx.hold("undated", where, f"the sheet {grid.name} shows no date for this line or any other",
                 f'type the dates into the sheet or add a correction for {_short(where)} such as "2025-03-01"',
                 list(line.cells.values()))
    if last is not None:
        ctx.stated.append(LegacyStatedBalance(last[0], sm.unit, last[1], last[2]))


# ----------------------------------------------------------------------------------------------
# attendance grid


def _no_unit(ctx: _Ctx, grid: SheetGrid, sm: SheetMapping, what: str) -> bool:
    """A sheet whose amounts nothing names the unit of: held, one finding at its header row."""
    if sm.unit is not None:
        return False
    where = grid.ref(sm.header_row - 1, 0)
    ctx.hold("unit_unclear", where, f'nothing in sheet "{grid.name}" says whether it counts hours or lessons ({what}; '
                                    "numbers like 1.5 are not a reason)",
             f'set "unit" for sheet "{grid.name}" in the mapping file to "hours" or "lessons"', [], held="sheet")
    return True


def _read_grid(ctx: _Ctx, grid: SheetGrid, sm: SheetMapping, day_first: bool) -> None:
    if _no_unit(ctx, grid, sm, "not the pack column's header, the title, the pack cells or the marks"):
        return
    cols = _cols(sm)
    hr = sm.header_row - 1
    first, last = (col_index(x) for x in sm.date_columns.split(":"))
    dates = _grid_dates(ctx, grid, hr, first, last, day_first, _yearless_from(sm))
    header_texts = [norm_header(v) if isinstance(v, str) else "" for v in grid.rows[hr]]
    hours = sm.unit == "hours"
    for r in range(hr + 1, grid.height):
        row = grid.rows[r]
        if _skip_row(ctx, grid, r, header_texts):
            continue
        raw = _get(row, cols["student"])
        if blank(raw) or not isinstance(raw, str):
            if any(not blank(v) for v in row[first:last + 1]):
                _skipped(ctx, grid, r, "it has marks but no student name")
            continue
        student = ctx.names.add(raw, grid.ref(r, cols["student"]))
        if "family" in cols:
            ctx.family(student, _get(row, cols["family"]), grid.ref(r, cols["family"]))
        for c in range(first, min(last, len(row) - 1) + 1):
            v = row[c]
            if blank(v) or c not in dates:
                continue
            ref = grid.ref(r, c)
            lesson = _mark_lesson(student, dates[c], v, hours, ref)
            if lesson is None:
                ctx.findings.append(Finding("unreadable_cell", f'{ref} holds "{str(v)[:40]}", which is not an attendance mark '
                                                               "(X, ✓, a number, NS, LC or C). It was not counted; fix it and run again.",
                                            (ref,)))
                continue
            ctx.lessons.append(lesson)
        _grid_totals(ctx, grid, sm, cols, r, student, hours)


def _grid_dates(ctx: _Ctx, grid: SheetGrid, hr: int, first: int, last: int, day_first: bool,
                yearless: dt.date | None = None) -> dict[int, dt.date]:
    dates: dict[int, dt.date] = {}
    header = grid.rows[hr]
    prev: dt.date | None = None
    year_hint = next((int(m.group()) for rr in range(hr) for v in grid.rows[rr] if isinstance(v, str)
                      for m in [re.search(r"\b(19|20)\d\d\b", v)] if m), None)
    for c in range(first, min(last, len(header) - 1) + 1):
        v = header[c]
        if blank(v):
            continue
        try:
            d = read_date(v, day_first, yearless)
        except YearlessDate:
            # A header like '5 Jan' has no year. The title's year (or the previous column's) says it,
            # rolling over into the next year when the dates wrap; with neither, ask.
            year = prev.year if prev else year_hint
            if year is None:
                ctx.hold("yearless_date", grid.ref(hr, c), f'the date header "{str(v).strip()}" has no year, and '
                                                           "neither the title nor an earlier column says one",
                         f'type the year into the cell, add a correction for {_short(grid.ref(hr, c))} such as '
                         f'"2025-01-05", or set "yearless_from" for sheet "{grid.name}" in the mapping file', [])
                continue
            d = read_date(v, day_first, dt.date(year, 1, 1))
            if prev and d < prev:
                d = d.replace(year=year + 1)
        except ParseError as err:
            ctx.unreadable(grid.ref(hr, c), v, err, "Marks in that column were not read; type a full date there.")
            continue
        dates[c] = d
        prev = d
    ctx.header_dates.extend(dates.values())
    return dates


def _mark_lesson(student: str, date: dt.date, v: object, hours: bool, ref: str) -> LegacyLesson | None:
    unit = "hours" if hours else "lessons"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        amount = read_qty(v)
        if amount <= 0:
            return None
        return LegacyLesson(student, date, amount * 60 if hours else None, None if hours else amount, unit, "attended", ref)
    if isinstance(v, str):
        mark = read_mark(v)
        if mark is None:
            try:
                amount = read_qty(v, hours)
            except ParseError:
                return None
            return LegacyLesson(student, date, amount * 60 if hours else None, None if hours else amount, unit, "attended", ref)
        one = None if hours else Decimal(1)
        return LegacyLesson(student, date, None, one, unit, mark, ref, note=v.strip())
    return None


def _grid_totals(ctx: _Ctx, grid: SheetGrid, sm: SheetMapping, cols: dict[str, int], r: int, student: str, hours: bool) -> None:
    """A grid's own pack-size / 'Used' / 'Left' columns: a purchase without a date, and a stated balance.
    The pack's unit comes from its header, its cell, the package name, then the marks' unit (units.py)."""
    row = grid.rows[r]
    header = grid.rows[sm.header_row - 1]
    label = _get(row, cols.get("package"))
    label = str(label).strip() if not blank(label) else None
    qv = _get(row, cols.get("quantity"))
    if blank(qv) and label is None:
        pack = None
    else:
        head = _get(header, cols.get("quantity"))
        head = head.strip() if isinstance(head, str) else ""
        pack = _row_pack(ctx, grid, r, cols, label, {}, header_unit=unit_of_text(head) if head else None, header=head,
                         other_units=_amount_header_units(header, cols, ("used", "remaining")), fallback=sm.unit,
                         must_be=(sm.unit, f'the marks of sheet "{grid.name}" are read as {sm.unit}'),
                         answer=f'set "unit" for sheet "{grid.name}" in the mapping file, or add a correction for '
                                '{cell} such as "8 lessons"')
        if pack is None:
            return
        if pack.quantity is None:
            pack = None
    vals = {}
    if pack is not None:
        vals["quantity"] = pack.quantity
    for fld in ("used", "remaining"):
        v = _get(row, cols.get(fld))
        if blank(v):
            continue
        try:
            vals[fld] = read_qty(v, hours)
        except ParseError as err:
            ctx.unreadable(grid.ref(r, cols[fld]), v, err, "It was not used.")
    if pack is not None and not _amount_units(ctx, grid, r, cols, header, pack, vals, []):
        return
    if "quantity" in vals:
        cells = {_RECORD_FIELD.get(f, f): grid.ref(r, cols[f]) for f in vals if f in cols}
        if label is not None and "package" in cols:
            cells["package_label"] = grid.ref(r, cols["package"])
        # A grid's "Used" column counts the marks, which are imported as lessons: it is a check, not usage.
        ctx.purchases.append(LegacyPurchase(student, label, _undated_answer(ctx, sm, grid.ref(r, cols["student"])),
                                            vals["quantity"], sm.unit, None, None, None,
                                            None, vals.get("remaining"), cells, grid.ref(r, cols["student"]),
                                            shared_hint=shared_hint(label, None)))
    if "remaining" in vals:
        ctx.stated.append(LegacyStatedBalance(student, sm.unit, vals["remaining"], grid.ref(r, cols["remaining"])))


# ----------------------------------------------------------------------------------------------
# lesson log (the hot path: tens of thousands of rows; keep per-row work small)


def _read_log(ctx: _Ctx, grid: SheetGrid, sm: SheetMapping, day_first: bool) -> None:
    cols = _cols(sm)
    c_date, c_student = cols["date"], cols["student"]
    c_dur, c_status, c_credits, c_note = cols.get("duration"), cols.get("status"), cols.get("credits"), cols.get("note")
    c_family = cols.get("family")
    bare = sm.duration_bare
    unit = sm.unit
    yearless = _yearless_from(sm)
    prefix = f"{grid.file_label}!{grid.name}!"
    p_date, p_student = prefix + col_letter(c_date), prefix + col_letter(c_student)
    p_dur = prefix + col_letter(c_dur) if c_dur is not None else ""
    header_texts = [norm_header(v) if isinstance(v, str) else "" for v in grid.rows[sm.header_row - 1]]
    lessons = ctx.lessons
    first_lesson = len(lessons)
    packs = _LogPacks(ctx, grid, sm, cols, day_first) if "quantity" in cols else None
    one = Decimal(1)
    seen: dict[tuple, int] = {}
    # Logs repeat the same few names and lengths thousands of times: tally names locally and
    # remember each distinct duration value's reading (or its error).
    tally: dict[str, list] = {}  # raw spelling -> [name, cells, count]
    minutes_of: dict[object, object] = {}
    rows = grid.rows
    for r in range(sm.header_row, grid.height):
        row = rows[r]
        n = len(row)
        dv = row[c_date] if c_date < n else ""
        sv = row[c_student] if c_student < n else ""
        if not (isinstance(dv, dt.date) and isinstance(sv, str) and sv):
            # Slow path: text dates, blanks, totals, titles.
            if _skip_row(ctx, grid, r, header_texts):
                continue
            if blank(sv) or not isinstance(sv, str):
                _skipped(ctx, grid, r, "it has no student name")
                continue
            if blank(dv):
                _skipped(ctx, grid, r, "it has no date")
                continue
            try:
                dv = read_date(dv, day_first, yearless)
            except YearlessDate:
                ref = f"{p_date}{r + 1}"
                ctx.hold("yearless_date", ref, f'"{str(dv).strip()}" has no year',
                         f'type the year into the cell, add a correction for {_short(ref)} such as "2025-09-20", '
                         f'or set "yearless_from" for sheet "{grid.name}" in the mapping file', [])
                continue
            except ParseError as err:
                ctx.unreadable(f"{p_date}{r + 1}", dv, err, "The lesson was not read; fix the date and run again.")
                continue
        elif isinstance(dv, dt.datetime):
            dv = dv.date()
        rn = str(r + 1)
        ref = p_date + rn
        t = tally.get(sv)
        if t is None:
            t = tally[sv] = [ctx.names.resolve(sv), [], 0]
        if c_family is not None and c_family < n and row[c_family] != "":
            ctx.family(t[0], row[c_family], prefix + col_letter(c_family) + str(r + 1))
        t[2] += 1
        if len(t[1]) < 50:
            t[1].append(p_student + rn)
        student = t[0]
        if packs is not None and not packs.row(row, r, student, dv):
            continue  # a purchase row without a lesson on it, or a row held
        mark = "attended"
        note = None
        st = row[c_status] if c_status is not None and c_status < n else ""
        if st != "" and not blank(st):
            mark = read_mark(str(st)) if not isinstance(st, (int, float)) else ("attended" if st else None)
            if mark is None:
                ctx.unreadable(prefix + col_letter(c_status) + rn, st, ParseError("is not a status I know"),
                               "The lesson was read as attended; fix the cell if it was not.")
                mark = "attended"
            note = str(st).strip()
        nt = row[c_note] if c_note is not None and c_note < n else ""
        if nt != "" and not blank(nt):
            note = str(nt).strip() if note is None else f"{note}; {str(nt).strip()}"
        minutes = credits = None
        if c_dur is not None:
            v = row[c_dur] if c_dur < n else ""
            if v != "" and not blank(v):
                minutes = minutes_of.get(v) if isinstance(v, (str, float, int)) else None
                if minutes is None:
                    try:
                        minutes = read_minutes(v, bare)
                    except ParseError as err:
                        minutes = err
                    if isinstance(v, (str, float, int)):
                        minutes_of[v] = minutes
                if isinstance(minutes, ParseError):
                    ctx.unreadable(p_dur + rn, v, minutes, "The lesson was read without its length.")
                    minutes = None
        else:
            credits = one
            if c_credits is not None and c_credits < n and not blank(row[c_credits]):
                try:
                    credits = read_qty(row[c_credits])
                except ParseError as err:
                    ctx.unreadable(prefix + col_letter(c_credits) + rn, row[c_credits], err, "One credit was assumed.")
        lessons.append(LegacyLesson(student, dv, minutes, credits, unit, mark, ref, note))
        key = (student, dv, minutes, credits, mark, note)
        first = seen.get(key)
        if first is None:
            seen[key] = r
        else:
            ctx.findings.append(Finding("duplicate_row", f"Rows {first + 1} and {r + 1} of {grid.name} record the same lesson "
                                                         f"({student} on {dv}). Both were read; delete one if it was entered twice.",
                                        (f"{p_date}{first + 1}", ref)))
    for name, cells, count in tally.values():
        ctx.names.record(name, cells, count)
    if packs is not None:
        packs.finish(first_lesson)


class _LogPacks:
    """A lesson log's pack-size column ("Pack (lessons)", "Hours bought", a "Package" of sizes): a cell is
    a purchase on its row's date, read by the one pack reader (_row_pack). The row is also a lesson when
    it has a length, status or credits cell (bought at the start of a lesson) — otherwise it only records
    the purchase. A cell that repeats the student's previous row is asked about (a new pack each time, or
    the pack the lesson drew from?) unless the mapping's `pack_repeats` says which."""

    def __init__(self, ctx: _Ctx, grid: SheetGrid, sm: SheetMapping, cols: dict[str, int], day_first: bool) -> None:
        self.ctx, self.grid, self.sm, self.cols = ctx, grid, sm, cols
        head = _get(grid.rows[sm.header_row - 1], cols["quantity"])
        self.head = head.strip() if isinstance(head, str) else ""
        self.lesson_cols = [cols[f] for f in ("duration", "status", "credits") if f in cols]
        self.mode = sm.pack_repeats
        self.last: dict[str, tuple[str, int]] = {}  # student -> (their previous row's pack cell, that row)
        self.repeats: dict[str, list[tuple[int, int]]] = {}  # student -> (row, the row it repeats)
        self.units: dict[str, set[str]] = {}  # student -> units of their packs in this sheet

    def row(self, row: list, r: int, student: str, date: dt.date) -> bool:
        """Read the row's pack cell; True when the row is also a lesson."""
        c = self.cols["quantity"]
        v = row[c] if c < len(row) else ""
        key = "" if blank(v) else norm_header(str(v))
        prev = self.last.get(student)
        self.last[student] = (key, r)
        if not key:
            return True
        lesson = any(not blank(_get(row, lc)) for lc in self.lesson_cols)
        if prev is not None and prev[0] == key:
            if self.mode == "same pack":
                return True  # the pack the lesson drew from, bought where its run started
            if self.mode != "purchase":
                self.repeats.setdefault(student, []).append((r, prev[1]))
                return False
        if self.mode == "same pack":
            lesson = True  # the column names the pack in use on every lesson row
        grid, cols = self.grid, self.cols
        label = _get(row, cols.get("package"))
        label = str(label).strip() if not blank(label) else None
        cells = {_RECORD_FIELD.get(f, f): grid.ref(r, cc) for f, cc in cols.items()
                 if f in ("quantity", "package", "price", "paid") and not blank(_get(row, cc))}
        timed = "duration" in cols
        pack = _row_pack(self.ctx, grid, r, cols, label, cells, header_unit=unit_of_text(self.head) if self.head else None,
                         header=self.head, fallback=None if timed else "lessons",
                         must_be=None if timed else ("lessons", f'the lessons of sheet "{grid.name}" have no length '
                                                                "to draw hours by"),
                         answer=f'add a correction for {{cell}} such as "10 lessons", or correct the header '
                                f'{_short(grid.ref(self.sm.header_row - 1, cols["quantity"]))} to name the unit '
                                '(such as "Pack (lessons)")')
        if pack is None:
            return False
        if pack.quantity is None or pack.quantity <= 0:
            _skipped(self.ctx, grid, r, "its pack cell names no quantity")
            return lesson
        vals: dict = {}
        currency = _row_money(self.ctx, self.sm, row, cols, cells, vals)
        note_v = _get(row, cols.get("note"))
        note = str(note_v).strip() if not blank(note_v) else None
        self.ctx.purchases.append(LegacyPurchase(
            student, label, date, pack.quantity, pack.unit, vals.get("price"), vals.get("paid"), None, None, None,
            cells, grid.ref(r, cols["student"]), currency, None, note, shared_hint(label, note),
            grid.ref(r, cols["date"])))
        self.units.setdefault(student, set()).add(pack.unit)
        return lesson

    def finish(self, first_lesson: int) -> None:
        grid, sm = self.grid, self.sm
        for student, rows in self.repeats.items():
            r, before = rows[0]
            ref, prev_ref = grid.ref(r, self.cols["quantity"]), grid.ref(before, self.cols["quantity"])
            more = f" (and {len(rows) - 1} more of {student}'s rows)" if len(rows) > 1 else ""
            self.ctx.hold("pack_repeated", ref, f"{student}'s pack cell repeats {_short(prev_ref)}{more}, so it is "
                                                "either a new pack bought that day or the pack the lesson drew from",
                          f'set "pack_repeats" for sheet "{grid.name}" in the mapping file to "same pack" (the column '
                          'names the pack in use; it was bought where its run starts) or "purchase" (each cell is a '
                          "new pack), or clear the repeated cells", [prev_ref])
        # A lessons pack drawn by timed lessons: each lesson takes one lesson (its length is kept).
        lessons = self.ctx.lessons
        for i in range(first_lesson, len(lessons)):
            lesson = lessons[i]
            units = self.units.get(lesson.student)
            if units is not None and len(units) == 1 and lesson.unit not in units:
                lessons[i] = lesson._replace(unit="lessons", credits=lesson.credits or Decimal(1))


def _row_pack(ctx: _Ctx, grid: SheetGrid, r: int, cols: dict[str, int], label: str | None, cells: dict[str, str], *,
              header_unit: str | None, header: str, answer: str, other_units: tuple = (), fallback: str | None = None,
              must_be: tuple[str, str] | None = None) -> Pack | None:
    """The one reader of a row's pack-size cell, in every layout: its size and unit from the header, the
    cell, then the package name (units.read_pack). A pack it cannot read without asking holds the row
    (None); `answer` says how to answer, with {cell} for the pack's cell. An unreadable pack cell is a
    finding and leaves `cells` (the row's cells by field). `must_be`: (unit, why) the layout needs."""
    c = cols.get("quantity")
    value = _get(grid.rows[r], c)
    ref = grid.ref(r, c) if c is not None and not blank(value) else None
    number, text, unreadable = _pack_cell(ctx, value, ref, "The pack was read without it; fix the cell and run the "
                                                           "import again.")
    if unreadable:
        cells.pop("quantity", None)  # the finding names it; the pack's place is its other cells
    pack = read_pack(number, text, label, header_unit=header_unit, header=header, other_units=other_units,
                     fallback=fallback)
    if not pack.kind and must_be is not None and pack.unit != must_be[0]:
        pack = pack._replace(kind="contradiction", why=f"the pack counts {pack.unit}, but {must_be[1]}")
    if not pack.kind:
        return pack
    where = (grid.ref(r, c) if c is not None else None) or (grid.ref(r, cols["package"]) if "package" in cols else
                                                           grid.ref(r, cols["student"]))
    ctx.hold(pack.kind, where, pack.why, answer.replace("{cell}", _short(where)), list(cells.values()))
    return None


def _pack_cell(ctx, value, ref, todo: str) -> tuple:
    """A pack-size cell as (number, text, unreadable): text when it names its own unit ("20 lessons", "10h"),
    a number otherwise; an unreadable cell is a finding at `ref`, and the pack is read without it."""
    if blank(value):
        return None, None, False
    if isinstance(value, str) and pack_size(value) is not None:
        return None, value.strip(), False
    try:
        return read_qty(value), None, False
    except ParseError as err:
        ctx.unreadable(ref, value, err, todo)
        return None, None, True
