"""One error format for the whole product: where, the value, what is wrong, what to do.

    studio.xlsm!Sessions!D14: "ninety"
      minutes: "ninety" is not a number of minutes.
      Type the lesson length in minutes, e.g. 90.

Problems are values (collected and all shown), in the style of beancount's errors.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """Where a value came from: a sheet, its 1-based Excel row, and a column name (optional)."""

    sheet: str
    row: int | None = None
    column: str | None = None
    book: str | None = None
    letter: str | None = None  # the column letter when the adapter knows it (D)

    def cell(self) -> str:
        """`studio.xlsm!Sessions!D14`, or `Sessions row 14` when the column letter is unknown."""
        prefix = f"{self.book}!" if self.book else ""
        if self.row is None:
            return f"{prefix}{self.sheet}"
        if self.letter:
            return f"{prefix}{self.sheet}!{self.letter}{self.row}"
        return f"{prefix}{self.sheet}!A{self.row}" if self.column is None else f"{prefix}{self.sheet} row {self.row}"

    def human(self) -> str:
        """`Sessions row 14, minutes` — the form used inside messages."""
        text = self.sheet if self.row is None else f"{self.sheet} row {self.row}"
        return f"{text}, {self.column}" if self.column else text

    def short(self) -> str:
        """The Log's `source` column: `Sessions!14`."""
        return self.sheet if self.row is None else f"{self.sheet}!{self.row}"


@dataclass(frozen=True)
class Problem:
    source: Source
    message: str
    remedy: str = ""
    value: object = None

    def __str__(self) -> str:
        return format_problem(self)


def format_problem(p: Problem) -> str:
    head = p.source.cell()
    if p.value not in (None, ""):
        head += f": {str(p.value)[:60]!r}".replace("'", '"') if isinstance(p.value, str) else f": {p.value}"
    lines = [head, f"  {p.source.human()}: {p.message}" if p.source.column else f"  {p.message}"]
    if p.remedy:
        lines.append(f"  {p.remedy}")
    return "\n".join(lines)


def one_line(p: Problem) -> str:
    """The message written into a rejected row's `message` cell."""
    text = p.message
    if p.source.column and not text.startswith(p.source.column):
        text = f"{p.source.column}: {text}"
    return f"{text} {p.remedy}".strip()

