"""What a path given on the command line is, in words: a missing file, a folder, a pipe and a device
each get their own message (all of them used to read "does not exist", or hang reading /dev/zero).

`not_a_file(path)` never opens the path (opening a FIFO blocks until someone writes to it)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Optional


def not_a_file(path: str | os.PathLike) -> Optional[str]:
    """Why `path` cannot be read as a workbook file, or None when it is a regular file."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if os.path.islink(path):
            return "is a link to a file that does not exist."
        return "does not exist."
    except PermissionError:
        return "cannot be looked at (permission denied)."
    except OSError as e:
        return f"cannot be looked at ({e.strerror})."
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a folder, not a file."
    if stat.S_ISFIFO(mode):
        return "is a pipe (FIFO), not a file; a workbook must be a file on disk."
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a file; a workbook must be a file on disk."
    if stat.S_ISSOCK(mode):
        return "is a socket, not a file."
    return "is not a regular file."


def describe(path: str | os.PathLike) -> str:
    return Path(path).name or str(path)
