"""The statement as a PDF (ReportLab: a maintained, pure-Python PDF library with tables that split across
pages and repeat their header row). Written next to the target and renamed over it: a failed render
leaves no half-written file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.pagesizes import landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether
from reportlab.platypus import Paragraph
from reportlab.platypus import SimpleDocTemplate
from reportlab.platypus import Spacer
from reportlab.platypus import Table
from reportlab.platypus import TableStyle

from xl_ledger.statements.document import Document
from xl_ledger.statements.document import money_text
from xl_ledger.statements.document import qty
from xl_ledger.statements.document import what
from xl_ledger.statements.document import who

HEADER = ["Date", "What", "Who", "Change", "Balance", "Recorded by", "Reason", "Source", "Note"]
WIDTHS = [22 * mm, 52 * mm, 32 * mm, 16 * mm, 18 * mm, 24 * mm, 26 * mm, 24 * mm, 63 * mm]
GREY = colors.HexColor("#E8E8E8")


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def story(doc: Document) -> list:
    styles = getSampleStyleSheet()
    small = ParagraphStyle("small", parent=styles["BodyText"], fontSize=8, leading=10)
    heading = ParagraphStyle("package", parent=styles["Heading4"], spaceBefore=0)
    out = [Paragraph(_esc(f"{doc.studio} — statement"), styles["Title"]),
           Paragraph(_esc(f"{doc.title}"), styles["Heading2"]),
           Paragraph(_esc(f"{doc.start} to {doc.end}. Credits per package with a running balance; "
                          f"money in {doc.currency}."), styles["BodyText"]),
           Spacer(1, 4 * mm)]
    summary = [["", "Opening", "Closing"]] + [[f"Total {unit}", qty(o), qty(c)]
                                              for unit, (o, c) in sorted(doc.totals.items())]
    if doc.paid:
        summary.append(["Paid in the period", "", money_text(doc.paid, doc.currency)])
    t = Table(summary, colWidths=[50 * mm, 30 * mm, 40 * mm], hAlign="LEFT")
    t.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"), ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                           ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black), ("FONTSIZE", (0, 0), (-1, -1), 9)]))
    out += [t, Spacer(1, 5 * mm)]
    for s in doc.sections:
        shared = ", shared by the family" if s.shared else ""
        expires = f", expires {s.expires_on}" if s.expires_on else ""
        head = Paragraph(_esc(f"{s.package_id} — {s.product} ({s.unit}{shared}); owner "
                              f"{doc.names.get(s.owner, s.owner)}{expires}; {s.status.replace('_', ' ')}"), heading)
        # The package's heading is the table's first row, repeated with the column header on every page
        # the table runs onto: it is never left alone at the foot of a page.
        rows = [[head] + [""] * (len(HEADER) - 1), HEADER, [str(doc.start), "opening balance", "", "", qty(s.opening), "", "", "", ""]]
        for m in s.lines:
            note = "; ".join(x for x in (m.detail, money_text(m.amount, doc.currency) if m.amount is not None
                                         else "") if x)
            rows.append([str(m.date), Paragraph(_esc(what(m)), small), Paragraph(_esc(who(doc, m)), small),
                         qty(m.change), qty(m.balance), m.recorded_by, m.reason_code or "", m.source,
                         Paragraph(_esc(note), small)])
        rows.append([str(doc.end), "closing balance", "", "", qty(s.closing), "", "", "", ""])
        table = Table(rows, colWidths=WIDTHS, repeatRows=2)
        table.setStyle(TableStyle([
            ("SPAN", (0, 0), (-1, 0)), ("LEFTPADDING", (0, 0), (0, 0), 0),
            ("FONTNAME", (0, 1), (-1, 1), "Helvetica-Bold"), ("FONTSIZE", (0, 1), (-1, -1), 8),
            ("BACKGROUND", (0, 1), (-1, 1), GREY), ("ALIGN", (3, 1), (4, -1), "RIGHT"),
            ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LINEBELOW", (0, 1), (-1, 1), 0.5, colors.black),
            ("FONTNAME", (0, 2), (-1, 2), "Helvetica-Oblique"), ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
            ("LINEABOVE", (0, -1), (-1, -1), 0.5, colors.black),
        ]))
        out += [table, Spacer(1, 4 * mm)]
    box = Table([[Paragraph("<b>Policy</b>", small)]] + [[Paragraph(_esc(p), small)] for p in doc.policy],
                colWidths=[150 * mm], hAlign="LEFT")
    box.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 0.8, colors.black), ("BACKGROUND", (0, 0), (-1, 0), GREY)]))
    out.append(KeepTogether([box]))
    return out


def write_pdf(doc: Document, target: Path) -> None:
    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or ".")
    os.close(fd)
    try:
        page = SimpleDocTemplate(tmp, pagesize=landscape(A4), leftMargin=12 * mm, rightMargin=12 * mm,
                                 topMargin=12 * mm, bottomMargin=12 * mm, title=f"Statement — {doc.title}",
                                 author=doc.studio)

        def footer(canvas, _doc):
            canvas.saveState()
            canvas.setFont("Helvetica", 7)
            canvas.drawString(12 * mm, 7 * mm, f"{doc.studio} · {doc.title} · {doc.start} to {doc.end}")
            canvas.drawRightString(landscape(A4)[0] - 12 * mm, 7 * mm, f"page {canvas.getPageNumber()}")
            canvas.restoreState()

        page.build(story(doc), onFirstPage=footer, onLaterPages=footer)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
