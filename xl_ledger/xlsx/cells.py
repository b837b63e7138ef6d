"""Writing cells as SpreadsheetML text, and finding/adding the styles dates need.

Only the few shapes the file store writes: numbers (`<v>`), inline strings (`t="inlineStr"`, so the
shared-string table is never touched) and dates as Excel serial numbers with a date style.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import re
from decimal import Decimal
from typing import Callable


class CellValueError(ValueError):
    """A value no cell can hold (NaN, an object, a date without a styles part). Stores translate it
    into their own error; this library knows nothing of them."""


def col_letter(index: int) -> str:
    """1 → A, 27 → AA."""
    letters = ""
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


_EPOCH = dt.datetime(1899, 12, 30)  # Excel's day 0 in the 1900 date system (past its 1900 leap bug)
# XML 1.0 forbids most control characters even as &#..; Excel writes them as _xHHHH_ escapes, and a
# literal "_xHHHH_" typed by a user is itself escaped by writing its underscore as _x005F_.
_NEEDS_OOXML_ESCAPE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)")
_BUILTIN_DATE_FORMATS = set(range(14, 23)) | {45, 46, 47}
DATE_FORMAT_ID = 14  # built-in short date
DATETIME_FORMAT_ID = 22  # built-in date + time


def escape_text(text: str) -> str:
    if _NEEDS_OOXML_ESCAPE.search(text):
        text = _NEEDS_OOXML_ESCAPE.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if "\r" in text:  # a raw CR would be normalised to LF by every XML parser
        text = text.replace("\r", "&#13;")
    return text


def plain_text(text: str) -> bool:
    """escape_text leaves `text` as it is, and it needs no xml:space (tested at C speed, for writers of
    many cells). isprintable() is False for every character escape_text rewrites other than &, < and >
    and the underscore of a literal _xHHHH_, and the only whitespace it allows is the space."""
    return (text.isprintable() and "&" not in text and "<" not in text and ">" not in text and "_x" not in text
            and text[:1] != " " and text[-1:] != " ")


def inline_string(ref: str, text: str, style: int | None = None) -> str:
    s = f' s="{style}"' if style else ""
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    return f'<c r="{ref}"{s} t="inlineStr"><is><t{space}>{escape_text(text)}</t></is></c>'


def number_text(value: object) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise CellValueError(f"cannot write {value} into a cell")
        # Normalised, so equal Decimals (1.50 and 1.5) are written alike: the cell holds a number either way,
        # and an unchanged row can keep its bytes (sheet.body_segments).
        # (Not Decimal.normalize: it rounds to the context's 28 digits.)
        if not value:
            return "0"
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CellValueError(f"cannot write {value} into a cell")
        return repr(value)
    return str(int(value))


def excel_serial(value: dt.date) -> str:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        delta = value.replace(microsecond=value.microsecond // 1000 * 1000) - _EPOCH
        return repr(delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400)
    return str((value - _EPOCH.date()).days)


def cell_xml(col: int, row: int, value: object, style: int | None, styles: "StyleBook") -> str:
    """One `<c>` element, or '' for an empty value. Dates get a date style when `style` is not one."""
    ref = f"{col_letter(col)}{row}"
    if value is None or value == "":
        return f'<c r="{ref}" s="{style}"/>' if style else ""
    if isinstance(value, bool):
        return inline_string(ref, "yes" if value else "no", style)
    if isinstance(value, str):
        return inline_string(ref, value, style)
    if isinstance(value, (int, float, Decimal)):
        s = f' s="{style}"' if style else ""
        return f'<c r="{ref}"{s}><v>{number_text(value)}</v></c>'
    if isinstance(value, dt.date):
        is_datetime = isinstance(value, dt.datetime) and value.time() != dt.time(0)
        style = styles.date_style(style or 0, DATETIME_FORMAT_ID if is_datetime else DATE_FORMAT_ID)
        return f'<c r="{ref}" s="{style}"><v>{excel_serial(value)}</v></c>'
    raise CellValueError(f"cannot write a {type(value).__name__} into a cell: {value!r}")


# Where a styles section goes when the part has none: before the first section the schema puts after it.
_AFTER = {"numFmts": r"<fonts\b", "dxfs": r"<tableStyles\b|<colors\b|<extLst\b|</styleSheet>"}


def _items(xml: str, section: str, item: str) -> list[str]:
    """The `item` elements of `section` (fonts/font, fills/fill, borders/border, dxfs/dxf), verbatim."""
    m = re.search(rf"<{section}\b[^>]*?(?:/>|>(.*?)</{section}>)", xml, re.S)
    if not m or not m.group(1):
        return []
    return re.findall(rf"<{item}\b[^>]*?/>|<{item}\b[^>]*?>.*?</{item}>", m.group(1), re.S)


_XF = re.compile(r"<xf\b[^>]*?(?:/>|>.*?</xf>)", re.S)
_ATTR = r'\b{}="([^"]*)"'


def _cell_formats(xml: str) -> dict[int, str]:
    """numFmtId -> format code (as in the part) of the <numFmts> section: the cells' number formats. A
    differential format (<dxf>, a conditional format's look) has a <numFmt> of its own whose id may be
    any, e.g. the id the cells' date format has after openpyxl numbered the formats again."""
    out = {}
    for item in _items(xml, "numFmts", "numFmt"):
        num, code = re.search(_ATTR.format("numFmtId"), item), re.search(_ATTR.format("formatCode"), item)
        if num and code:
            out[int(num.group(1))] = code.group(1)
    return out


class StyleBook:
    """The workbook's cellXfs, enough to tell date styles and to add one when a column lacks it."""

    def __init__(self, xml: bytes | None):
        self.xml = xml.decode("utf-8") if xml else None
        self.changed = False
        self._added: dict[tuple[int, int], int] = {}
        self._formats: dict[int, str] = {}
        self._xfs: list[str] = []
        self._is_date: dict[int, bool] = {}
        if self.xml is None:
            return
        self._formats = _cell_formats(self.xml)
        cell_xfs = re.search(r"<cellXfs\b[^>]*>(.*?)</cellXfs>", self.xml, re.S)
        if cell_xfs:
            self._xfs = _XF.findall(cell_xfs.group(1))

    def format_id(self, style: int) -> int:
        if 0 <= style < len(self._xfs):
            m = re.search(_ATTR.format("numFmtId"), self._xfs[style])
            return int(m.group(1)) if m else 0
        return 0

    def is_date(self, style: int) -> bool:
        if style not in self._is_date:  # asked once per date cell: remember the answer per style
            self._is_date[style] = self._is_date_uncached(style)
        return self._is_date[style]

    def _is_date_uncached(self, style: int) -> bool:
        fmt = self.format_id(style)
        if fmt in _BUILTIN_DATE_FORMATS:
            return True
        code = self._formats.get(fmt)
        if not code:
            return False
        code = re.sub(r'"[^"]*"|\[[^\]]*\]|\\.', "", code)  # quoted text, [colors]/[h], escapes
        return bool(re.search(r"[dmyhs]", code, re.I))

    def date_style(self, style: int, format_id: int) -> int:
        """`style` itself when it already shows a date, else a copy of it with a date format."""
        if self.is_date(style):
            return style
        key = (style, format_id)
        if key in self._added:
            return self._added[key]
        if self.xml is None or not self._xfs:
            raise CellValueError("the workbook has no styles part; cannot write a date")
        base = self._xfs[style] if style < len(self._xfs) else self._xfs[0]
        xf = re.sub(r'\s(numFmtId|applyNumberFormat)="[^"]*"', "", base)
        xf = xf.replace("<xf", f'<xf numFmtId="{format_id}" applyNumberFormat="1"', 1)
        # An equal xf added by an earlier write is taken again: one more per post would make rows written
        # now differ from equal rows kept from then (and Excel caps a workbook's cell formats).
        index = self._added[key] = self._xfs.index(xf) if xf in self._xfs else self._add_xf(xf)
        return index

    # ---- adopting another styles part's styles (an engine sheet laid out again from the template)
    def adopt(self, other: "StyleBook", style: int, code: Callable[[str], str] = lambda c: c) -> int:
        """The index in this book of a cell style equal to `other`'s `style` (its number format, font, fill,
        border and alignment), added when none is; `code` maps a custom number format's code first (the
        template's money format to the workbook's currency). Equal parts are reused, so adopting twice
        adds nothing the second time."""
        if self.xml is None or other.xml is None or not 0 <= style < len(other._xfs):
            return 0
        xf = other._xfs[style]
        ids = {}
        num = other.format_id(style)
        if num >= 164 and num in other._formats:
            ids["numFmtId"] = self._format_for(code(html.unescape(other._formats[num])))
        for attr, section, item in (("fontId", "fonts", "font"), ("fillId", "fills", "fill"),
                                    ("borderId", "borders", "border")):
            m = re.search(_ATTR.format(attr), xf)
            theirs = _items(other.xml, section, item)
            if m and int(m.group(1)) < len(theirs):
                ids[attr] = self._element_index(section, item, theirs[int(m.group(1))])
        ids["xfId"] = 0  # the Normal cell style: the template's named styles are not carried over
        for attr, value in ids.items():
            xf = re.sub(r'\b%s="[^"]*"' % attr, f'{attr}="{value}"', xf, count=1)
        if xf in self._xfs:
            return self._xfs.index(xf)
        return self._add_xf(xf)

    def codes(self) -> list[str]:
        """The custom number format codes the workbook has."""
        return [html.unescape(c) for c in self._formats.values()]

    def adopt_dxf(self, other: "StyleBook", index: int) -> int:
        """The index in this book of `other`'s differential format `index` (a conditional format's look)."""
        theirs = _items(other.xml or "", "dxfs", "dxf")
        if self.xml is None or not 0 <= index < len(theirs):
            return index
        return self._element_index("dxfs", "dxf", theirs[index])

    def _format_for(self, code: str) -> int:
        for num, known in self._formats.items():
            if html.unescape(known) == code:
                return num
        # Past every id in the part, differential formats' too (a reader may take them for one space).
        num = max([163, *self._formats, *map(int, re.findall(r'<numFmt\b[^>]*?numFmtId="(\d+)"', self.xml))]) + 1
        quoted = _escape_attribute(code)
        self._append("numFmts", f'<numFmt numFmtId="{num}" formatCode="{quoted}"/>')
        self._formats[num] = quoted
        return num

    def _element_index(self, section: str, item: str, element: str) -> int:
        mine = _items(self.xml, section, item)
        if element in mine:
            return mine.index(element)
        self._append(section, element)
        return len(mine)

    def _append(self, section: str, element: str) -> None:
        """`element` added at the end of `section` (created, in its schema place, when missing), count kept."""
        xml = self.xml
        m = re.search(rf"<{section}\b([^>]*?)(/?)>", xml)
        if m is None:
            at = re.search(_AFTER.get(section, r"</styleSheet>"), xml)
            xml = xml[:at.start()] + f'<{section} count="0"></{section}>' + xml[at.start():]
        elif m.group(2):
            xml = xml[:m.start()] + f"<{section}{m.group(1)}></{section}>" + xml[m.end():]
        end = xml.index(f"</{section}>")
        xml = xml[:end] + element + xml[end:]
        count = len(_items(xml, section, section[:-1]))
        xml = re.sub(rf'(<{section}\b[^>]*?)\s*count="\d+"', rf'\1 count="{count}"', xml, count=1)
        if f"<{section} count=" not in xml and not re.search(rf"<{section}\b[^>]*count=", xml):
            xml = xml.replace(f"<{section}", f'<{section} count="{count}"', 1)
        self.xml, self.changed = xml, True

    def _add_xf(self, xf: str) -> int:
        self._xfs.append(xf)
        self.xml = re.sub(r"(<cellXfs\b[^>]*?)\s*count=\"\d+\"", rf'\1 count="{len(self._xfs)}"', self.xml, count=1)
        self.xml = self.xml.replace("</cellXfs>", xf + "</cellXfs>", 1)
        self.changed = True
        return len(self._xfs) - 1

    def replace_format_codes(self, is_old: Callable[[str], bool], new: str) -> bool:
        """Give every custom number format whose code `is_old` the code `new` (the studio changed its
        currency: each money cell shows the new one). True when something changed."""
        if self.xml is None:
            return False
        quoted = _escape_attribute(new)

        def swap(m: re.Match) -> str:
            code = html.unescape(m.group(2))
            return m.group(1) + quoted + m.group(3) if code != new and is_old(code) else m.group(0)

        xml = re.sub(r'(<numFmt\b[^>]*formatCode=")([^"]*)("[^>]*>)', swap, self.xml)
        if xml == self.xml:
            return False
        self.xml, self.changed = xml, True
        self._formats = _cell_formats(self.xml)
        return True

    def to_bytes(self) -> bytes:
        assert self.xml is not None
        return self.xml.encode("utf-8")


class RowWriter:
    """Whole rows of an engine sheet as XML text, fast: per column the reference letters and style
    attribute are worked out once, and a text or date seen before reuses its encoded form (ids, units,
    statuses and dates repeat on nearly every row). The output is exactly what `cell_xml` gives per cell;
    any value type this fast path does not know goes through `cell_xml` itself."""

    def __init__(self, ncols: int, col_style: dict[int, int], styles: StyleBook):
        self.styles = styles
        self.letters = [col_letter(c) for c in range(1, ncols + 1)]
        self.style = [col_style.get(c) for c in range(1, ncols + 1)]
        self.attr = [f' s="{s}"' if s else "" for s in self.style]
        self.texts: list[dict[str, str]] = [{} for _ in range(ncols)]  # per column: text -> '…>…</c>'
        self.dates: list[dict[dt.date, str]] = [{} for _ in range(ncols)]  # per column: date -> ' s=…>…</c>'

    def row(self, r: int, values) -> str:
        rs = str(r)
        out = []
        for c, v in enumerate(values):
            t = type(v)
            if t is str and v:
                tail = self.texts[c].get(v)
                if tail is None:
                    tail = self.texts[c][v] = inline_string("", v, self.style[c])[len('<c r=""'):]
                out.append(f'<c r="{self.letters[c]}{rs}"{tail}')
            elif t is Decimal or t is int:
                out.append(f'<c r="{self.letters[c]}{rs}"{self.attr[c]}><v>{number_text(v)}</v></c>')
            elif v is None or t is str:
                if self.style[c]:
                    out.append(f'<c r="{self.letters[c]}{rs}" s="{self.style[c]}"/>')
            elif t is dt.date:
                tail = self.dates[c].get(v)
                if tail is None:
                    tail = self.dates[c][v] = cell_xml(1, 1, v, self.style[c], self.styles)[len('<c r="A1"'):]
                out.append(f'<c r="{self.letters[c]}{rs}"{tail}')
            elif isinstance(v, str) and v:  # a str subclass (a StrEnum status or kind): its text
                tail = self.texts[c].get(v)
                if tail is None:
                    tail = self.texts[c][str(v)] = inline_string("", str(v), self.style[c])[len('<c r=""'):]
                out.append(f'<c r="{self.letters[c]}{rs}"{tail}')
            else:
                out.append(cell_xml(c + 1, r, v, self.style[c], self.styles))
        return f'<row r="{rs}">{"".join(out)}</row>' if out else ""


def _escape_attribute(text: str) -> str:
    """xml.sax.saxutils.escape(text, {'"': "&quot;"}), without importing it: saxutils imports urllib.request,
    and with it http, email and ssl, 25 ms of every command's start-up."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
