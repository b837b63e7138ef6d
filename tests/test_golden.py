"""Golden workbooks: tests/golden/<case>.json (inputs typed into a fresh template) → after one post,
the Packages and Balances sheets must equal tests/golden/<case>.packages.csv / .balances.csv.

The CSVs are text, reviewed by hand when (re)generated — the numbers in them are checked against the
hand-worked examples (24 h − 3.5 h = 20.5 h; refund after use = unused × unit value − fee; a freeze
pushes expiry by its days; a cancel inside late_cancel_hours is a late cancel). Regenerate after an
intended change with `python tests/test_golden.py --regenerate` and read the diff.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from post_helpers import NOW  # noqa: E402
from post_helpers import fresh  # noqa: E402
from post_helpers import type_rows  # noqa: E402

from xl_ledger import post  # noqa: E402
from xl_ledger.book import schema  # noqa: E402
from xl_ledger.book.filestore import FileStore  # noqa: E402

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.json"))
DATE_COLUMNS = {"date", "cancelled_at"}


def _cell(column: str, value):
    if column in DATE_COLUMNS and isinstance(value, str):
        return dt.datetime.fromisoformat(value) if " " in value else dt.date.fromisoformat(value)
    return value


def build_and_post(spec: dict, folder: Path) -> Path:
    path = fresh(folder)
    store = FileStore(path)
    if spec.get("settings"):
        rows = {r: {"value": spec["settings"][row["key"]]} for r, row in store.read_sheet("Settings").records()
                if row["key"] in spec["settings"]}
        type_rows(path, "Settings", rows)
    for sheet in ("Products", "Students", "Sessions", "Actions"):
        rows = spec.get(sheet.lower(), [])
        if rows:
            type_rows(path, sheet, {i + 2: {k: _cell(k, v) for k, v in row.items()} for i, row in enumerate(rows)})
    today = dt.date.fromisoformat(spec["today"])
    result = post.post(FileStore(path), now=NOW, operator="owner", today=today)
    assert result.rejected == [], result.rejected
    return path


def sheet_csv(path: Path, sheet: str) -> str:
    headers = schema.BY_NAME[sheet].headers[:-1]  # without the `check` fingerprint
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(headers)
    for _, row in FileStore(path).read_sheet(sheet).records():
        w.writerow(["" if row[h] is None else row[h] for h in headers])
    return out.getvalue()


@pytest.mark.parametrize("case", CASES)
def test_golden(case, tmp_path):
    spec = json.loads((GOLDEN / f"{case}.json").read_text())
    path = build_and_post(spec, tmp_path)
    for sheet in ("Packages", "Balances"):
        expected = (GOLDEN / f"{case}.{sheet.lower()}.csv").read_text()
        assert sheet_csv(path, sheet) == expected, f"{case}: {sheet} differs from the golden CSV"


def test_every_case_has_its_csvs():
    assert len(CASES) >= 5
    for case in CASES:
        for sheet in ("packages", "balances"):
            assert (GOLDEN / f"{case}.{sheet}.csv").exists(), (case, sheet)


if __name__ == "__main__" and sys.argv[1:] == ["--regenerate"]:
    import tempfile

    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            path = build_and_post(json.loads((GOLDEN / f"{case}.json").read_text()), Path(tmp))
            for sheet in ("Packages", "Balances"):
                (GOLDEN / f"{case}.{sheet.lower()}.csv").write_text(sheet_csv(path, sheet))
        print("regenerated", case)
