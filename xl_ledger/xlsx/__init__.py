"""A small library for the xlsx/xlsm file format: the zip container (`archive`), cells and styles
(`cells`), worksheet XML (`sheet`), the compound file (`cfb`) and the VBA project inside it
(`vba_project`). It knows nothing of the studio ledger and imports nothing from the rest of
`xl_ledger` (tests/test_layers.py holds it to that); `xl_ledger/book/` builds the workbook contract and
the stores on top of it."""
