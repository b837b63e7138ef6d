"""What a long command is doing, on one line of stderr that updates in place.

Only on a terminal (piped or redirected output stays clean, so scripts and logs see the result alone),
and only once the command has run for `after` seconds: a daily post is done before anyone would read
it. `Progress` is called with each step's name; a timer shows the current step when the threshold
passes mid-step, and `done()` clears the line.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Callable
from typing import Iterator
from typing import Optional
from typing import TextIO

AFTER = float(os.environ.get("XL_LEDGER_PROGRESS_AFTER") or 2.0)  # seconds before anything is shown


class Progress:
    def __init__(self, stream: Optional[TextIO] = None, after: float = AFTER):
        self.stream = stream or sys.stderr
        self.on = bool(getattr(self.stream, "isatty", lambda: False)())
        self.current = ""
        self.shown = False
        self._lock = threading.Lock()
        self._timer: Optional[threading.Timer] = None
        if self.on:
            self._timer = threading.Timer(after, self._start)
            self._timer.daemon = True
            self._timer.start()

    def __call__(self, what: str) -> None:
        with self._lock:
            self.current = what
            if self.shown:
                self._write(what)

    def _start(self) -> None:
        with self._lock:
            self.shown = True
            if self.current:
                self._write(self.current)

    def _write(self, what: str) -> None:
        self.stream.write(f"\r\x1b[2Kxl-ledger: {what}…")
        self.stream.flush()

    def done(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            if self.shown:
                self.stream.write("\r\x1b[2K")
                self.stream.flush()
            self.shown = False
            self.on = False


@contextlib.contextmanager
def shown() -> Iterator[Progress]:
    """A Progress for one command, its line cleared however the command ends (an error included)."""
    progress = Progress()
    try:
        yield progress
    finally:
        progress.done()


def prefixed(say: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    """`say`, with each step named inside a larger one ("post 2 of 3: applying Actions")."""
    return lambda what: say(f"{prefix}{what}")
