"""What reaches the user's terminal: only our own words.

- `shown(text)`: a name or any other text from a workbook, with control characters escaped (ESC would
  recolour the terminal, CR/LF would fake a line of output, U+202E would reverse the rest of the line).
- `QuietStdout`: when the reader of our output goes away (`xl-ledger post | head`), the rest of the
  output is dropped and the command finishes with its own exit code, instead of a traceback and 1
  (which would say "tampered").
- `no_library_noise()`: a Rust library (calamine) prints its panic message straight to file descriptor
  2 before Python sees the exception; the message is held back while the library runs and dropped when
  the call failed (our own error message says what happened).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import unicodedata

# Format characters that change how the rest of a line is shown: bidi embeddings, overrides and
# isolates, marks, and zero-width characters that hide where a name ends.
_INVISIBLE = set("\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2060\ufeff")


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: object, keep_newlines: bool = False) -> str:
    """`text` safe to print: control and invisible format characters as \\x1b, \\u202e escapes."""
    s = str(text)
    if s.isprintable() and not any(ch in _INVISIBLE for ch in s):
        return s
    return "".join(ch if (ch == "\n" and keep_newlines) or not (unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")
                                                            or ch in _INVISIBLE) else _escape(ch) for ch in s)


class QuietStdout(io.TextIOBase):
    """sys.stdout, except that a closed pipe silences it instead of raising BrokenPipeError."""

    def __init__(self, inner):
        self._inner = inner
        self.closed_pipe = False

    def _silence(self) -> None:
        self.closed_pipe = True
        try:  # later writes and the interpreter's final flush go nowhere, without an error
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._inner.fileno())
            os.close(devnull)
        except (OSError, ValueError, io.UnsupportedOperation):
            pass

    def write(self, s: str) -> int:
        if not self.closed_pipe:
            try:
                return self._inner.write(s)
            except BrokenPipeError:
                self._silence()
        return len(s)

    def flush(self) -> None:
        if not self.closed_pipe:
            try:
                self._inner.flush()
            except BrokenPipeError:
                self._silence()

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._inner.fileno()

    def isatty(self) -> bool:
        return self._inner.isatty()

    @property
    def encoding(self):  # type: ignore[override]
        return getattr(self._inner, "encoding", "utf-8")


@contextlib.contextmanager
def no_library_noise():
    """Hold back what a native library writes to fd 2 while the block runs; drop it if the block
    raised (the caller turns the failure into our own message), pass it on otherwise."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        yield  # no real fd 2 (an embedding host): nothing to hold back
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        failed = True
        try:
            yield
            failed = False
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if not failed:
                held.seek(0)
                noise = held.read()
                if noise:
                    os.write(2, noise)
