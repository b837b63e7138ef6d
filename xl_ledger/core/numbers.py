"""Decimal discipline: one constructor, named quanta, rounding only at named points."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN
from decimal import ROUND_HALF_UP
from decimal import Decimal
from decimal import InvalidOperation

ZERO = Decimal(0)
ONE = Decimal(1)
CENT = Decimal("0.01")
# Quantities are kept exact (minutes / 60 can be 0.016666...); they are rounded to QTY_Q only when
# shown, and compared with QTY_EPS so that 1/3 + 1/3 + 1/3 counts as 1.
QTY_Q = Decimal("0.0001")
QTY_EPS = Decimal("0.000001")


def D(value: object) -> Decimal:
    """Make a Decimal from int, str or float without binary noise (floats go through repr)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("a yes/no is not a number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            return Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
    raise TypeError(f"cannot make a number of {type(value).__name__}")


def money(x: Decimal) -> Decimal:
    """Round money to cents, half-up: the rule shoppers and accountants expect on receipts."""
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


def qty(x: Decimal) -> Decimal:
    """Round a credit quantity for display and for the Log (4 places, banker's rounding)."""
    return x.quantize(QTY_Q, rounding=ROUND_HALF_EVEN)


def text(x: Decimal | None) -> str:
    """Canonical text of a number: no exponent, no trailing zeros ('1.50' -> '1.5', '0E-4' -> '0')."""
    if x is None:
        return ""
    if x == 0:
        return "0"
    s = format(x.normalize(), "f")
    return s


def is_zero(x: Decimal) -> bool:
    return abs(x) < QTY_EPS
