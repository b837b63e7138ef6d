"""The pure core: inputs, events, commands, the fold, queries and the hash chain.

Nothing here imports a spreadsheet library, reads the clock or touches a file (tests/test_layers.py
enforces it). Read the modules in the order of docs/engine.md.
"""
