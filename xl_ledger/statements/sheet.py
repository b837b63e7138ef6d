"""The statement as rows of the printable Statement sheet (same document as the PDF and the CLI text)."""

from __future__ import annotations

from xl_ledger.statements.document import Document
from xl_ledger.statements.document import money_text
from xl_ledger.statements.document import qty
from xl_ledger.statements.document import what
from xl_ledger.statements.document import who

WIDTH = 9  # schema.STATEMENT's columns: date, what, who, change, balance, recorded_by, reason, source, note


def _row(*cells) -> list:
    return list(cells) + [""] * (WIDTH - len(cells))


def rows(doc: Document) -> list[list]:
    out = [_row("", f"{doc.studio} — statement for {doc.title}"),
           _row("", f"{doc.start} to {doc.end}: credits per package with a running balance; money in {doc.currency}"),
           _row()]
    for s in doc.sections:
        shared = ", shared by the family" if s.shared else ""
        expires = f", expires {s.expires_on}" if s.expires_on else ""
        out.append(_row("", f"{s.package_id} — {s.product} ({s.unit}{shared}); owner "
                            f"{doc.names.get(s.owner, s.owner)}{expires}; {s.status.replace('_', ' ')}"))
        out.append(_row(str(doc.start), "opening balance", "", "", s.opening))
        for m in s.lines:
            note = "; ".join(x for x in (m.detail, money_text(m.amount, doc.currency) if m.amount is not None else "")
                             if x)
            out.append(_row(str(m.date), what(m), who(doc, m), m.change, m.balance, m.recorded_by,
                            m.reason_code or "", m.source, note))
        out.append(_row(str(doc.end), "closing balance", "", "", s.closing))
        out.append(_row())
    for unit, (o, c) in sorted(doc.totals.items()):
        out.append(_row("", f"Total {unit}: opening {qty(o)}, closing {qty(c)}"))
    if doc.paid:
        out.append(_row("", f"Paid in the period: {money_text(doc.paid, doc.currency)}"))
    out.append(_row())
    out.append(_row("", "Policy"))
    out.extend(_row("", p) for p in doc.policy)
    return out


def write(store, doc: Document) -> None:
    """Replace the Statement sheet's rows, in one save (the Log is untouched)."""
    from xl_ledger.book.store import Change

    seq, digest = store.head()
    store.commit(Change(expected_seq=seq, expected_hash=digest, sheets={"Statement": rows(doc)}))
