"""Student names as typed, and the spellings that probably mean the same person.

The reader never merges two spellings: a wrong merge moves one child's credit onto another's,
which is worse than a duplicate a person can fix. It tidies whitespace only, and reports spellings
that fold to the same key (accents, case, "Last, First" order, punctuation) as a `name_variant`
finding with every spelling and its cells. A person confirms a merge by adding an alias to the
mapping (`"aliases": {"lopez, ana": "Ana Lopez"}`), which the reader then applies.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from xl_ledger.migrate.records import Cell
from xl_ledger.migrate.records import Finding
from xl_ledger.migrate.records import StudentSeen

_SPACES = re.compile(r"\s+")
_NON_WORD = re.compile(r"[^\w\s]")


@lru_cache(maxsize=65536)
def tidy(name: str) -> str:
    """The spelling as typed, with outer and doubled whitespace removed (never anything else)."""
    return _SPACES.sub(" ", name).strip()


@lru_cache(maxsize=65536)
def match_key(name: str) -> str:
    """A key equal for 'Ana López', 'ana lopez', 'Lopez, Ana' and 'LÓPEZ Ana'."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = _NON_WORD.sub(" ", text)
    # Word order is dropped: "lopez, ana" and "Ana Lopez" are one key. Two different people whose
    # names are permutations would be *flagged*, which costs a look, not a wrong merge.
    return " ".join(sorted(text.split()))


class NameBook:
    """Collects every spelling seen, with its cells, and reports the variant groups."""

    def __init__(self, aliases: dict[str, str] | None = None) -> None:
        self._aliases = {tidy(k): tidy(v) for k, v in (aliases or {}).items()}
        self._cells: dict[str, list[Cell]] = {}
        self._count: dict[str, int] = {}

    def resolve(self, raw: str) -> str:
        """The name a spelling stands for: tidied, with the mapping's aliases applied."""
        name = tidy(raw)
        return self._aliases.get(name, name)

    def record(self, name: str, cells: list[Cell], count: int) -> None:
        """Bulk form of `add` for hot loops that tally a sheet's names themselves."""
        have = self._cells.setdefault(name, [])
        have.extend(cells[: max(0, 50 - len(have))])
        self._count[name] = self._count.get(name, 0) + count

    def add(self, raw: str, cell: Cell) -> str:
        """Record a spelling at a cell; return the student name to use (alias applied)."""
        name = tidy(raw)
        name = self._aliases.get(name, name)
        cells = self._cells.get(name)
        if cells is None:
            self._cells[name] = cells = []
        self._count[name] = self._count.get(name, 0) + 1
        if len(cells) < 50:  # a handful of places is enough to find a spelling again
            cells.append(cell)
        return name

    def students(self) -> dict[str, StudentSeen]:
        return {n: StudentSeen(n, match_key(n), tuple(c)) for n, c in self._cells.items()}

    def variant_findings(self) -> list[Finding]:
        groups: dict[str, list[str]] = {}
        for name in self._cells:
            groups.setdefault(match_key(name), []).append(name)
        findings = []
        for names in groups.values():
            if len(names) < 2:
                continue
            names.sort()
            spelled = " / ".join(f'"{n}" ({self._count[n]} rows, first at {self._cells[n][0]})' for n in names)
            cells = tuple(c for n in names for c in self._cells[n][:3])
            findings.append(Finding(
                "name_variant",
                f"These look like one student spelled {len(names)} ways: {spelled}. They are kept apart. "
                f"If they are the same person, add them to \"aliases\" in the mapping file and run again.",
                cells,
            ))
        return findings
