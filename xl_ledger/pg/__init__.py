"""The ledger in PostgreSQL: several workbooks (front desks) on one Log. See pg/store.py."""
