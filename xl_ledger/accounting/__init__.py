"""The accountant's month-end outside the core: journal exports (one small module per format)."""
