"""A statement as a document: one section per package, opening and closing balances, the studio's policy.

Built from core/movements (the same lines as `history`), for the CLI's text, the PDF and the Statement
sheet. A shared family pack is one section; each sibling's use is its own line, with the sibling's name.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Optional

from xl_ledger.core.movements import Movement
from xl_ledger.core.movements import Statement
from xl_ledger.core.numbers import ZERO
from xl_ledger.core.parse import parse_validity


@dataclass
class Section:
    package_id: str
    product: str
    owner: str
    unit: str
    shared: bool
    opening: Decimal
    closing: Decimal
    expires_on: Optional[dt.date]
    status: str
    lines: list[Movement] = field(default_factory=list)


@dataclass
class Document:
    studio: str
    currency: str
    title: str  # "Family F-001: Ella Diaz, Leo Diaz" or "Ella Diaz (S-008)"
    start: dt.date
    end: dt.date
    names: dict  # student_id -> name
    sections: list[Section]
    totals: dict  # unit -> (opening, closing)
    policy: list[str]
    paid: Decimal  # money paid in during the period (sales, top-ups), less refunds


def qty(q: Decimal) -> str:
    q = q.normalize() if q else ZERO
    return f"{q:f}" if q else "0"


def money_text(amount: Decimal, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def build(stmt: Statement, *, studio: str, currency: str, names: dict, title: str, settings,
          products: list) -> Document:
    sections = []
    # Bought packages first (in sale order), make-up credits after them.
    for pid, pkg in sorted(stmt.packages.items(), key=lambda kv: (kv[0].startswith("MK-"), kv[0])):
        lines = [m for m in stmt.lines if m.package_id == pid]
        opening, closing = stmt.opening.get(pid, ZERO), stmt.closing.get(pid, ZERO)
        if not lines and not opening and not closing:
            continue  # nothing happened to it in the period and nothing is left: not the family's concern
        sections.append(Section(pid, pkg.product.name, pkg.owner, pkg.unit, pkg.product.shared, opening, closing,
                                pkg.expires_on, pkg.status, lines))
    totals: dict[str, tuple[Decimal, Decimal]] = {}
    for s in sections:
        o, c = totals.get(s.unit, (ZERO, ZERO))
        totals[s.unit] = (o + s.opening, c + s.closing)
    paid = sum((m.amount for s in sections for m in s.lines if m.amount is not None), ZERO)
    return Document(studio, currency, title, stmt.start, stmt.end, names, sections, totals,
                    policy(settings, products), paid)


def policy(settings, products: list) -> list[str]:
    """The rules behind the lines, in the studio's words: late cancels, no-shows, expiry."""
    hours = settings.late_cancel_hours
    out = [f"A lesson cancelled less than {hours} hours before it starts is a late cancel."]
    late = {p.late_cancel for p in products}
    noshow = {p.no_show for p in products}
    out.append("A late cancel uses the lesson's credit." if late == {"deduct"} else
               "A late cancel is free." if late == {"free"} else
               "A late cancel uses the lesson's credit, except on: " +
               ", ".join(p.name for p in products if p.late_cancel == "free") + ".")
    out.append("A missed lesson (no-show) uses its credit." if noshow == {"deduct"} else
               "A missed lesson (no-show) is free." if noshow == {"free"} else
               "A no-show uses its credit, except on: " + ", ".join(p.name for p in products if p.no_show == "free")
               + ".")
    for p in products:
        v = parse_validity(p.validity) if p.validity else None
        if p.period in ("month", "week") and p.per_period:
            # An allowance: each period's credits lapse at that period's end (fold: lot by lot).
            out.append(f"{p.name}: {qty(p.per_period)} {p.unit} a {p.period}; what is not used in a {p.period} "
                       f"expires at its end" + (f"; the package runs {v.count} {v.unit}." if v else "."))
            continue
        if v is None:
            out.append(f"{p.name}: credit does not expire.")
        else:
            start = "first lesson" if p.validity_starts == "first_use" else "purchase"
            out.append(f"{p.name}: credit is valid {v.count} {v.unit} from the {start}; a freeze moves the "
                       f"expiry by the days frozen; what is left after the last valid day expires.")
    if settings.makeup_validity_days:
        out.append(f"A lesson the studio cancels gives a make-up credit valid {settings.makeup_validity_days} days "
                   f"(at most {settings.makeup_max_per_quarter} a quarter).")
    return out


def who(doc: Document, m: Movement) -> str:
    sid = m.student_id or m.owner
    return doc.names.get(sid, sid)


def what(m: Movement) -> str:
    text = str(m.kind)
    if m.session_id:
        text += f" {m.session_id}" + (f" {m.session_time}" if m.session_time else "")
    return text


def text(doc: Document) -> str:
    out = [f"{doc.studio} — statement for {doc.title}", f"{doc.start} to {doc.end}; credits, running balance per "
           f"package; money in {doc.currency}", ""]
    for s in doc.sections:
        shared = ", shared by the family" if s.shared else ""
        expires = f", expires {s.expires_on}" if s.expires_on else ""
        out.append(f"{s.package_id}  {s.product} ({s.unit}{shared}), owner {doc.names.get(s.owner, s.owner)}"
                   f"{expires}, {s.status.replace('_', ' ')}")
        out.append(f"  {doc.start}  opening balance{'':<36}{qty(s.opening):>8}")
        for m in s.lines:
            extra = "; ".join(x for x in (m.detail, f"reason {m.reason_code}" if m.reason_code else "",
                                          money_text(m.amount, doc.currency) if m.amount is not None else "",
                                          f"by {m.recorded_by}" if m.recorded_by else "", m.source) if x)
            out.append(f"  {m.date}  {what(m)[:28]:<28} {who(doc, m)[:16]:<16} {qty(m.change):>6} "
                       f"{qty(m.balance):>8}  {extra}")
        out.append(f"  {doc.end}  closing balance{'':<36}{qty(s.closing):>8}")
        out.append("")
    for unit, (o, c) in sorted(doc.totals.items()):
        out.append(f"Total {unit}: opening {qty(o)}, closing {qty(c)}")
    if doc.paid:
        out.append(f"Paid in the period: {money_text(doc.paid, doc.currency)}")
    out.append("")
    out.append("Policy")
    out.extend(f"  - {p}" for p in doc.policy)
    return "\n".join(out)
