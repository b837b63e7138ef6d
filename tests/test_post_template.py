"""Ten real posts (new students, sales, lessons, a refund, rejected rows) leave everything the engine
does not own as the template had it: every VBA module with the repository's source (read by oletools),
the ribbon part and its relationship, tables, validations, protection — and LibreOffice still opens
the workbook and prints it."""

from __future__ import annotations

import datetime as dt
import zipfile

import pytest
from post_helpers import NOW
from post_helpers import TEMPLATE
from post_helpers import studio
from post_helpers import type_rows
from test_store_template import contract
from test_store_template import vba_modules

from xl_ledger import post
from xl_ledger.book.filestore import FileStore
from xl_ledger.core.chain import verify
from xl_ledger.excel import sources


@pytest.fixture(scope="module")
def posted(tmp_path_factory):
    path = studio(tmp_path_factory.mktemp("ten"))
    results = []
    for i in range(10):
        day = dt.date(2026, 3, 1) + dt.timedelta(days=7 * i)
        type_rows(path, "Students", {5 + i: {"student_id": f"N{i}", "name": f"New {i}", "family_id": "ROSSI"}})
        type_rows(path, "Actions", {2 + 2 * i: {"action": "sell", "date": day, "student_id": f"N{i}",
                                                "product_id": ("P10", "H10")[i % 2]},
                                    3 + 2 * i: {"action": "refund", "date": day, "student_id": f"N{i}",
                                                "package_id": "PK-9999", "reason_code": "goodwill"}})
        type_rows(path, "Sessions", {2 + i: {"session_id": f"L{i}", "date": day, "student_id": f"N{i}",
                                             "status": "attended", "minutes": 60}})
        results.append(post.post(FileStore(path), now=NOW + dt.timedelta(days=7 * i), operator="owner",
                                 today=day))
    return path, results


def test_ten_posts_applied_and_verify(posted):
    path, results = posted
    assert all(len(r.applied) == 1 for r in results)
    assert sum(len(r.rejected) for r in results) == sum(range(1, 11))  # rejected rows are retried, stay rejected
    log = FileStore(path).read_log()
    assert verify(log) is None and sum(r.new_rows for r in results) == len(log)
    assert len([r for r in FileStore(path).read_sheet("Packages").rows]) == 10


def _expected_module_text(name: str) -> str:
    path = sources.VBA_DIR / name
    text = path.read_bytes().decode("cp1252")
    if path.suffix == ".cls":  # the VBE export header is not stored in the module stream
        text = text.partition("END\r\n")[2]
    return text


def test_every_vba_module_is_the_repository_source(posted):
    path, _ = posted
    got = {name.rsplit(".", 1)[0]: code for name, code in vba_modules(path).items()}
    for name in sources.VBA_SOURCES:
        assert got[name.rsplit(".", 1)[0]] == _expected_module_text(name), name
    assert vba_modules(path) == vba_modules(TEMPLATE)


def test_ribbon_part_relationship_and_parts_kept(posted):
    path, _ = posted
    with zipfile.ZipFile(TEMPLATE) as old, zipfile.ZipFile(path) as new:
        assert new.testzip() is None
        assert new.read("customUI/customUI.xml") == old.read("customUI/customUI.xml")
        assert new.read("_rels/.rels") == old.read("_rels/.rels")
        assert "/2006/relationships/ui/extensibility" in new.read("_rels/.rels").decode()
        assert new.read("xl/vbaProject.bin") == old.read("xl/vbaProject.bin")
        assert sorted(new.namelist()) == sorted(old.namelist())


def test_tables_validations_protection_kept(posted):
    path, _ = posted
    before, after = contract(TEMPLATE), contract(path)
    for sheet in before:
        if sheet == "defined_names":
            assert after[sheet] == before[sheet]
            continue
        b, a = before[sheet], after[sheet]
        assert set(a["tables"]) == set(b["tables"]), sheet
        for name, ref in b["tables"].items():  # tables grew with the typed rows, from the same corner
            assert a["tables"][name].split(":")[0] == ref.split(":")[0], (sheet, name)
        assert {k: a[k] for k in ("validations", "protected", "freeze", "conditional", "widths")} == \
            {k: b[k] for k in ("validations", "protected", "freeze", "conditional", "widths")}, sheet
    assert contract(path)["Sessions"]["tables"]["tblSessions"].endswith("11")


@pytest.mark.libreoffice
def test_libreoffice_opens_and_prints_it(posted, tmp_path):
    from libreoffice import convert

    path, _ = posted
    pdf = convert(path, "pdf", tmp_path)
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5000
