"""The pure core: inputs, events, commands, the fold, queries and the hash chain.

Nothing here imports openpyxl or xlwings (tests/test_boundaries.py enforces it), reads the clock or
touches a file. Read the modules in the order of docs/engine.md.
"""
