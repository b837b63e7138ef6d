"""The mapping file: saved beside the legacy file, reused on rerun, corrected by hand."""

from __future__ import annotations

import json

import pytest

import legacy_fixtures as lf
from xl_ledger.migrate import LegacyFileError
from xl_ledger.migrate import load_mapping
from xl_ledger.migrate import mapping_path_for
from xl_ledger.migrate import read_legacy
from xl_ledger.migrate import save_mapping
from xl_ledger.migrate.mapping import mapping_from_dict


def test_detected_mapping_is_saved_and_reused(tmp_path):
    path = lf.purchases_xlsx(tmp_path / "tracking.xlsx")
    first = read_legacy(path)
    saved = mapping_path_for(path)
    assert saved.name == "tracking.xlsx.xl-ledger-mapping.json"
    data = json.loads(saved.read_text(encoding="utf-8"))
    assert data["sheets"][0]["columns"]["remaining"] == "F" and data["day_first"] is True
    # A person corrects it: the date order, and an alias joining two spellings they recognise.
    data["aliases"] = {"lopez, ana": "Ana Lopez", "Ana López": "Ana Lopez"}
    saved.write_text(json.dumps(data, indent=2), encoding="utf-8")
    second = read_legacy(path)
    assert json.loads(saved.read_text(encoding="utf-8"))["aliases"] == data["aliases"]  # reused, not overwritten
    assert [p.student for p in second.purchases].count("Ana Lopez") == 3
    assert not second.findings_of("name_variant")
    assert len(first.findings_of("name_variant")) == 1
    assert second.students["Ana Lopez"].cells == ("tracking.xlsx!Packages!A5", "tracking.xlsx!Packages!A8", "tracking.xlsx!Packages!A13")


def test_round_trip(tmp_path):
    res = read_legacy(lf.grid_xlsx(tmp_path / "g.xlsx"), save=False)
    out = save_mapping(res.mapping, tmp_path / "m.json")
    assert load_mapping(out) == res.mapping


def test_edited_column_is_applied(tmp_path):
    path = lf.purchases_xlsx(tmp_path / "t.xlsx")
    read_legacy(path)
    saved = mapping_path_for(path)
    data = json.loads(saved.read_text())
    sheet = data["sheets"][0]
    del sheet["columns"]["expires_on"], sheet["headers"]["expires_on"]  # "ignore the Expiry column"
    saved.write_text(json.dumps(data))
    res = read_legacy(path)
    assert all(p.expires_on is None for p in res.purchases)
    assert not res.findings_of("unreadable_cell")  # I9 "ask Maria" is no longer read


def test_stale_mapping_is_refused(tmp_path):
    path = lf.purchases_xlsx(tmp_path / "t.xlsx")
    read_legacy(path)
    saved = mapping_path_for(path)
    data = json.loads(saved.read_text())
    data["sheets"][0]["columns"]["used"] = "G"  # says Price now
    saved.write_text(json.dumps(data))
    with pytest.raises(LegacyFileError, match='E4|G4') as info:
        read_legacy(path)
    assert "Delete the mapping file" in info.value.message


@pytest.mark.parametrize("bad, words", [
    ({"sheets": [{"sheet": "A", "layout": "pivot", "header_row": 1}]}, "layout"),
    ({"sheets": [{"sheet": "A", "layout": "purchases", "header_row": 0}]}, "header_row"),
    ({"sheets": [{"sheet": "A", "layout": "purchases", "header_row": 1, "columns": {"student": "7"}}]}, "column letter"),
    ({"sheets": [{"sheet": "A", "layout": "purchases", "header_row": 1, "colums": {}}]}, "unknown keys"),
    ({"sheets": [], "aliases": ["x"]}, "aliases"),
    ({"sheets": [{"sheet": "A", "layout": "purchases", "header_row": 1, "undated_purchases_on": "soon"}]},
     "undated_purchases_on must be a date"),
    ({"sheets": [{"sheet": "A", "layout": "lesson_log", "header_row": 1, "pack_repeats": "new"}]},
     'pack_repeats must be "purchase" or "same pack"'),
    ({}, "sheets"),
])
def test_invalid_mapping_messages(bad, words):
    with pytest.raises(LegacyFileError, match=words):
        mapping_from_dict(bad)


def test_invalid_json(tmp_path):
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(LegacyFileError, match="not valid JSON"):
        load_mapping(tmp_path / "m.json")
