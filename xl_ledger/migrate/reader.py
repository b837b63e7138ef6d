"""One call for phase 2: open a legacy file, reuse or detect its mapping, read it.

Nothing is written unless the whole read succeeded: a hostile or broken file raises
LegacyFileError from `open_legacy` before detection, so no mapping file appears beside it.
"""

from __future__ import annotations

from pathlib import Path

from xl_ledger.migrate.extract import read_with_mapping
from xl_ledger.migrate.layouts import detect_mapping
from xl_ledger.migrate.mapping import Mapping
from xl_ledger.migrate.mapping import load_mapping
from xl_ledger.migrate.mapping import mapping_path_for
from xl_ledger.migrate.mapping import save_mapping
from xl_ledger.migrate.records import ReadResult
from xl_ledger.migrate.sources import DEFAULT_LIMITS
from xl_ledger.migrate.sources import Limits
from xl_ledger.migrate.sources import open_legacy


def read_legacy(
    path: str | Path,
    *,
    mapping: Mapping | None = None,
    day_first: bool | None = None,
    reuse_saved: bool = True,
    save: bool = True,
    limits: Limits = DEFAULT_LIMITS,
) -> ReadResult:
    """Read a legacy file into neutral records.

    Mapping precedence: an explicit `mapping`, else the saved one beside the file (when
    `reuse_saved`), else detection (with `day_first` forcing the date order when given). With
    `save`, a detected mapping is written beside the file for the next run to reuse and for a
    person to correct; a reused or explicit one is left as it is.
    """
    path = Path(path)
    source = open_legacy(path, limits)
    saved_path = mapping_path_for(path)
    detected = False
    if mapping is None and reuse_saved and saved_path.exists():
        mapping = load_mapping(saved_path)
    if mapping is None:
        mapping = detect_mapping(source, day_first=day_first)
        detected = True
    result = read_with_mapping(source, mapping)
    if save and detected:
        save_mapping(mapping, saved_path)
    return result
