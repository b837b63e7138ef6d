"""What a family is shown: `history` and `statement` (movements with running balances), and the PDF."""
