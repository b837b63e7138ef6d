"""`xl-ledger statement BOOK (--family F | --student S) [--from D] [--to D] [--pdf OUT]`."""

from __future__ import annotations

from pathlib import Path

from xl_ledger.statements import document
from xl_ledger.statements import load


def make(ledger: load.Ledger, family_id=None, student_id=None, start=None, end=None) -> document.Document:
    """The document for a family (every package its members own) or a student (what they can use)."""
    students = ledger.scopes.students
    if family_id:
        members = load.family(ledger, family_id)
        title = f"Family {family_id}: " + ", ".join(students[s].name for s in members)
        stmt = load.movements_for(ledger, members, start, end or ledger.today, family=True)
    else:
        sid = load.student(ledger, student_id)
        title = f"{students[sid].name} ({sid})"
        stmt = load.movements_for(ledger, [sid], start, end or ledger.today, family=False)
    names = {sid: s.name for sid, s in students.items()}
    products = sorted({p.product.product_id: p.product for p in stmt.packages.values()
                       if not p.package_id.startswith("MK-")}.values(), key=lambda p: p.product_id)
    return document.build(stmt, studio=ledger.settings.studio_name, currency=ledger.settings.currency, names=names,
                          title=title, settings=stmt.state.settings, products=products)


def cmd_statement(args) -> int:
    from xl_ledger.cli import CliError

    ledger = load.read_ledger(args)
    start, end = load.period(args, ledger)
    doc = make(ledger, args.family, args.student, start, end)
    if args.sheet:
        from xl_ledger.statements import sheet

        sheet.write(cli_store(args), doc)
        print(f"Filled {ledger.name}!Statement: {doc.title}, {doc.start} to {doc.end}. Print that sheet, or "
              "open it in Excel.")
    if args.pdf:
        target = Path(args.pdf)
        if not target.parent.exists() if str(target.parent) else False:
            raise CliError(f"--pdf {args.pdf}", "names a folder that does not exist.",
                           "Give a path in an existing folder, e.g. statement.pdf.")
        from xl_ledger.statements.pdf import write_pdf

        write_pdf(doc, target)
        print(f"Wrote {target}: {doc.title}, {doc.start} to {doc.end}, "
              + ", ".join(f"closing {document.qty(c)} {u}" for u, (_o, c) in sorted(doc.totals.items())))
        return 0
    if not args.sheet:
        print(document.text(doc))
    return 0


def cli_store(args):
    from xl_ledger.cli import open_store

    return open_store(args.path, args)  # the shared ledger (pg/) when --ledger or Settings name one
