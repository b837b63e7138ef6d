"""Render workbook_template.xlsm to one PNG per printed page, to look at it as a studio owner would.

    python scripts/render_template.py OUTDIR            # the empty template
    python scripts/render_template.py OUTDIR --example  # with a few illustrative rows typed in

Needs LibreOffice (soffice) and poppler (pdftoppm). The example rows are typed with openpyxl into a
copy; the engine sheets' rows are illustrative, not computed by the engine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import openpyxl  # noqa: E402
from libreoffice import convert  # noqa: E402

from xl_ledger import template  # noqa: E402

D = dt.date
EXAMPLE: dict[str, list[list[object]]] = {
    "Students": [["S001", "Ann Lee", "F01", "ann@example.com", "yes"],
                 ["S002", "Ben Lee", "F01", "", "yes"],
                 ["S003", "Cara Diaz", "", "cara@example.com", "yes"]],
    "Products": [["P10", "10 piano lessons", "lessons", 10, 450, "6 months", "purchase", "piano", "none", None,
                  "yes", "deduct", "deduct", 0, "no", "booking", 100, "no", 0, None, "yes"],
                 ["H5", "5 hours tutoring", "hours", 5, 300, "3 months", "purchase", "", "none", None,
                  "no", "deduct", "free", 0, "no", "booking", 100, "no", 0, None, "yes"]],
    "Sessions": [["L001", D(2026, 3, 2), "16:30", 45, "S001", "piano", "attended", "staff", 1, "no", None, ""],
                 ["L002", D(2026, 3, 4), "17:00", 45, "S002", "piano", "late_cancel", "client", 1, "no",
                  dt.datetime(2026, 3, 4, 9, 15), "called in the morning"],
                 ["L003", D(2026, 3, 5), "15:00", 90, "S003", "maths", "scheduled", "staff", 1, "no", None, ""]],
    "Actions": [["sell", D(2026, 3, 1), "S001", "", "P10", None, 450, "", "", None, "", "applied", "", 1],
                ["transfer", D(2026, 3, 3), "S001", "PK0001", "", 2, None, "", "S003", None, "",
                 "rejected", "transfer outside the family needs reason owner_override", None]],
    "Balances": [["S001", "Ann Lee", "F01", "lessons", 8, 0, D(2027, 8, 31)],
                 ["S002", "Ben Lee", "F01", "lessons", 1, 0, D(2027, 1, 2)],
                 ["S003", "Cara Diaz", "", "hours", 0, 1, None]],
    "Packages": [["PK0001", "F01", "P10", "lessons", 10, 1, 0, 8, 360, D(2027, 8, 31), "active"],
                 ["PK0002", "S002", "P10", "lessons", 10, 9, 0, 1, 45, D(2027, 1, 2), "active"],
                 ["PK0003", "S003", "H5", "hours", 5, 3, 0, 2, 120, D(2026, 1, 31), "expired"]],
}  # fmt: skip


def fill_example(src: Path, dst: Path) -> Path:
    wb = openpyxl.load_workbook(src, keep_vba=True)
    for name, rows in EXAMPLE.items():
        ws = wb[name]
        for r, row in enumerate(rows, start=2):
            for c, value in enumerate(row, start=1):
                ws.cell(r, c, value)
        if ws.tables:
            (table,) = ws.tables.values()
            last = table.ref.split(":")[1].rstrip("0123456789")
            table.ref = f"A1:{last}{len(rows) + 1}"
    for ws in wb.worksheets:
        ws.print_options.gridLines = True
    wb.save(dst)
    return dst


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--example", action="store_true")
    parser.add_argument("--dpi", type=int, default=80)
    args = parser.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)
    src = template.template_path()
    if args.example:
        src = fill_example(src, args.outdir / "example.xlsm")
    pdf = convert(src, "pdf", args.outdir)
    subprocess.run(["pdftoppm", "-r", str(args.dpi), "-png", str(pdf), str(args.outdir / "page")], check=True)
    for png in sorted(args.outdir.glob("page-*.png")):
        print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
