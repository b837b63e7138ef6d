"""Reminders by email: which are due (rules.py), their text (templates.py), the Outbox sheet (outbox.py),
SMTP (mail.py) and `xl-ledger remind` (command.py)."""
