"""The mapping: what each legacy sheet is, in a JSON file a person can read and correct.

Detection writes it beside the legacy file (`tracking.xlsx` → `tracking.xlsx.xl-ledger-mapping.json`);
a rerun reads it back instead of guessing again, so a correction made by hand (a wrong column, a
day-first date order, an alias joining two spellings) sticks. Columns are letters as Excel shows
them and header rows are Excel row numbers, so the file can be checked against the sheet by eye.

Example:

    {
      "version": 1,
      "source": "tracking.xlsx",
      "day_first": true,
      "aliases": {"lopez, ana": "Ana Lopez"},
      "corrections": {"Packages!C9": "2025-09-20"},
      "sheets": [
        {"sheet": "Packages", "layout": "purchases", "header_row": 3, "unit": "lessons",
         "columns": {"student": "A", "quantity": "D", "remaining": "F"},
         "headers": {"student": "Student", "quantity": "Lessons bought", "remaining": "Left"}},
        {"sheet": "Notes", "layout": "ignore", "note": "no header row found"}
      ]
    }
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from xl_ledger.migrate.sources import LegacyFileError
from xl_ledger.migrate.sources import col_index

LAYOUTS = ("purchases", "running_balance", "attendance_grid", "lesson_log", "ignore")
UNITS = ("hours", "lessons")
MAPPING_VERSION = 1


@dataclass
class SheetMapping:
    sheet: str
    layout: str
    header_row: int | None = None  # Excel row number (1-based) of the header
    columns: dict[str, str] = field(default_factory=dict)  # field -> column letter
    headers: dict[str, str] = field(default_factory=dict)  # field -> header text seen at detection
    unit: str | None = None  # 'hours' | 'lessons' | None (unknown)
    duration_bare: str = "minutes"  # a bare number in a duration column: 'minutes' or 'hours'
    day_first: bool | None = None  # None: the mapping's day_first
    student: str | None = None  # running_balance: whose sheet this is
    date_columns: str | None = None  # attendance_grid: "C:AF", the columns whose headers are dates
    note: str = ""  # why this layout was chosen (or why ignored)
    yearless_from: str | None = None  # "2025-09-01": a date typed without a year is the first such day from then on
    currency: str | None = None  # the currency the sheet's amounts are in, when a person says so ("USD")
    # "2025-01-10": the day the sheet's purchases that show no date of their own were bought (a person's
    # answer; without it such a row is held, never dated on the import day)
    undated_purchases_on: str | None = None
    # lesson_log: what a pack-size cell that repeats the student's previous row means: "purchase" (each
    # is a new pack) or "same pack" (the pack the lesson drew from; bought where its run starts)
    pack_repeats: str | None = None


@dataclass
class Mapping:
    source: str
    sheets: list[SheetMapping]
    day_first: bool = False
    aliases: dict[str, str] = field(default_factory=dict)
    # "Sheet!C7" -> what the cell means, typed by a person answering a finding ("2025-09-20", "10 lessons",
    # "" for blank). The legacy file is never changed; the import reads this value instead of the cell's.
    corrections: dict[str, str] = field(default_factory=dict)
    version: int = MAPPING_VERSION

    def for_sheet(self, name: str) -> SheetMapping | None:
        return next((s for s in self.sheets if s.sheet == name), None)

    def to_json(self) -> str:
        data = {"version": self.version, "source": self.source, "day_first": self.day_first,
                "aliases": self.aliases, "corrections": self.corrections, "sheets": [_sheet_json(s) for s in self.sheets]}
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _sheet_json(s: SheetMapping) -> dict:
    # Leave out empty/default keys so the file stays short enough to read.
    out = {}
    for key, value in asdict(s).items():
        if value in (None, "", {}) or (key == "duration_bare" and value == "minutes"):
            continue
        out[key] = value
    return out


def mapping_path_for(legacy_path: str | Path) -> Path:
    p = Path(legacy_path)
    return p.with_name(p.name + ".xl-ledger-mapping.json")


def save_mapping(mapping: Mapping, path: str | Path) -> Path:
    """Write atomically (temp file + rename) so a crash never leaves half a mapping."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(mapping.to_json(), encoding="utf-8")
    os.replace(tmp, path)
    return path


def load_mapping(path: str | Path) -> Mapping:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LegacyFileError(path, "the mapping file does not exist.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LegacyFileError(path, f"the mapping file is not valid JSON ({exc}). Fix it, or delete it to detect the layout again.") from None
    return mapping_from_dict(data, path)


def mapping_from_dict(data: object, path: str | Path = "mapping") -> Mapping:
    def bad(msg: str) -> LegacyFileError:
        return LegacyFileError(path, f"{msg}. Fix the mapping file, or delete it to detect the layout again.")

    if not isinstance(data, dict) or not isinstance(data.get("sheets"), list):
        raise bad('the mapping needs a "sheets" list')
    if data.get("version", MAPPING_VERSION) != MAPPING_VERSION:
        raise bad(f"mapping version {data.get('version')} is not supported (expected {MAPPING_VERSION})")
    aliases = data.get("aliases") or {}
    if not isinstance(aliases, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in aliases.items()):
        raise bad('"aliases" must map a spelling to the name to use, like {"lopez, ana": "Ana Lopez"}')
    sheets = []
    known = set(SheetMapping.__dataclass_fields__)
    for i, raw in enumerate(data["sheets"], 1):
        if not isinstance(raw, dict) or not isinstance(raw.get("sheet"), str):
            raise bad(f'sheet entry {i} needs a "sheet" name')
        where = f'sheet "{raw["sheet"]}"'
        unknown = set(raw) - known
        if unknown:
            raise bad(f"{where} has unknown keys {sorted(unknown)}")
        s = SheetMapping(**raw)
        if s.layout not in LAYOUTS:
            raise bad(f'{where}: layout "{s.layout}" is not one of {", ".join(LAYOUTS)}')
        if s.unit is not None and s.unit not in UNITS:
            raise bad(f'{where}: unit "{s.unit}" is not hours or lessons')
        if s.duration_bare not in ("minutes", "hours"):
            raise bad(f'{where}: duration_bare must be "minutes" or "hours"')
        if s.layout != "ignore" and (not isinstance(s.header_row, int) or s.header_row < 1):
            raise bad(f"{where}: header_row must be an Excel row number (1 or more)")
        for fld, letter in s.columns.items():
            try:
                col_index(letter)
            except (ValueError, AttributeError):
                raise bad(f'{where}: column for "{fld}" is "{letter}", not a column letter like C') from None
        if s.date_columns is not None:
            try:
                first, last = s.date_columns.split(":")
                col_index(first), col_index(last)
            except (ValueError, AttributeError):
                raise bad(f'{where}: date_columns must look like "C:AF"') from None
        if s.yearless_from is not None:
            try:
                dt.date.fromisoformat(s.yearless_from)
            except (TypeError, ValueError):
                raise bad(f'{where}: yearless_from must be a date like "2025-09-01"') from None
        if s.undated_purchases_on is not None:
            try:
                dt.date.fromisoformat(s.undated_purchases_on)
            except (TypeError, ValueError):
                raise bad(f'{where}: undated_purchases_on must be a date like "2025-01-10"') from None
        if s.pack_repeats not in (None, "purchase", "same pack"):
            raise bad(f'{where}: pack_repeats must be "purchase" or "same pack"')
        if s.currency is not None and not (isinstance(s.currency, str) and len(s.currency.strip()) == 3):
            raise bad(f'{where}: currency must be a three-letter code like "USD"')
        sheets.append(s)
    corrections = data.get("corrections") or {}
    if not isinstance(corrections, dict) or not all(isinstance(k, str) and "!" in k and isinstance(v, (str, int, float))
                                                    for k, v in corrections.items()):
        raise bad('"corrections" must map a cell to what it means, like {"Packages!C7": "2025-09-20"}')
    return Mapping(source=str(data.get("source", "")), sheets=sheets, day_first=bool(data.get("day_first", False)),
                   aliases=dict(aliases), corrections={k: str(v) for k, v in corrections.items()})
