"""Excel's row limit: a worksheet holds at most 1,048,576 rows (header included).

A workbook whose sheet went past it would be refused or cut short by Excel (and LibreOffice): the rows
past the limit are silently dropped, so a Log would lose its newest rows and nobody would be told. So every
store's commit (book/store.py check_change) refuses a Change that would put any sheet past `ROWS`, before
anything is written, naming the sheet, its row count and what to do; and a post or recompute that leaves a
sheet past `NEAR` of the limit says so in Alerts and in the command's output (`near_alerts`).

A desk of a ledger in PostgreSQL (pg/store.py) keeps only the ledger's most recent rows in its Log mirror,
so its Log sheet never reaches the limit (DECISIONS.md, 2026-12-02 "Excel's row limit").

`ROWS` and `NEAR` are read at call time, so a test can lower them (a million-row workbook is not built in a
unit test).
"""

from __future__ import annotations

from typing import Iterable
from typing import Mapping

from xl_ledger.book.store import StoreError
from xl_ledger.core.kinds import AlertKind

ROWS = 1_048_576  # rows per worksheet in Excel 2007 and later (and LibreOffice 7.x): the header is row 1
NEAR = 0.9  # a sheet past this share of ROWS is reported in Alerts at every post


class SheetFullError(StoreError):
    """A commit would put a sheet past Excel's row limit: refused, nothing written."""


def _todo(book: str, sheet: str, ledger: bool) -> str:
    if sheet == "Log" and not ledger:
        return ("Move the Log to PostgreSQL, where it has no row limit, and keep this workbook as a front desk: "
                f"`xl-ledger ledger-init --ledger postgresql://USER@HOST/DB --from {book}`, then post "
                "with `--ledger postgresql://USER@HOST/DB` (or put the URL in Settings, key `ledger`); "
                "the workbook then keeps only the ledger's most recent Log rows (README: \"Several desks, one "
                "ledger\").")
    if sheet == "Log":
        return "Post fewer rows at once (split the import into parts)."
    return (f"{sheet} is recomputed from the Log, which is intact: read the figures with `xl-ledger balance`, "
            "`history` or `export` (with --ledger when the Log is in PostgreSQL), and keep fewer rows in the "
            "input sheets (move old Sessions and Actions rows to an archive copy of the workbook).")


def check(book: str, rows: Mapping[str, int], *, ledger: bool = False) -> None:
    """Refuse (SheetFullError) when any sheet would hold more than ROWS rows. `rows`: sheet -> the rows it
    would hold after the commit, header included. `ledger`: the Log lives in a database (the message's advice)."""
    for sheet, count in rows.items():
        if count > ROWS:
            raise SheetFullError(
                f"{book}!{sheet} would hold {count:,} rows, past Excel's limit of {ROWS:,} rows per sheet "
                f"(Excel would refuse the file or drop rows past {ROWS:,}). Nothing was written. "
                f"{_todo(book, sheet, ledger)}")


def near(rows: Mapping[str, int]) -> list[tuple[str, int]]:
    """(sheet, rows) for each sheet past NEAR of the limit, in the order given."""
    return [(sheet, count) for sheet, count in rows.items() if count > NEAR * ROWS]


def near_alerts(book: str, rows: Mapping[str, int], *, ledger: bool = False) -> list[tuple[tuple, str]]:
    """(Alerts row, the command's output line) for each sheet past NEAR of the limit. The Alerts message is
    short enough for the printed column (the output line says in full what to do)."""
    out = []
    for sheet, count in near(rows):
        said = f"{sheet} holds {count:,} of Excel's {ROWS:,} rows ({count / ROWS:.0%})"
        short = ("move the Log to PostgreSQL (xl-ledger ledger-init)" if sheet == "Log" and not ledger else
                 "the post's output says what to do")
        out.append(((AlertKind.NOTICE, None, None, f"{book}!{sheet}", f"{said}; past it a post is refused: {short}",
                     f"{count}", f"<= {ROWS}"),
                    f"{book}!{sheet}: {said}; a post that would pass the limit is refused. {_todo(book, sheet, ledger)}"))
    return out


def change_rows(head_seq: int, log_rows_before: int | None, new_log_rows: int,
                sheets: Mapping[str, Iterable], cells: Mapping[str, Mapping[tuple[int, str], object]]
                ) -> dict[str, int]:
    """Rows each sheet a Change touches would hold after it, header included. `log_rows_before`: the Log
    sheet's data rows before the Change (None: the head's seq, a Log that starts at seq 1; False: the Log
    is not in the workbook)."""
    out: dict[str, int] = {}
    if log_rows_before is not False:
        before = head_seq if log_rows_before is None else log_rows_before
        out["Log"] = 1 + before + new_log_rows
    for name, body in sheets.items():
        out[name] = 1 + len(body)  # type: ignore[arg-type]
    for name, updates in cells.items():
        last = max((r for r, _c in updates if isinstance(r, int)), default=0)
        out[name] = max(out.get(name, 0), last)
    return out
