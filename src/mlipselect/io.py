"""File conventions shared by every command: atomic writes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


class atomic_path:  # noqa: N801 - used like a function: `with atomic_path(p) as tmp:`
    """A temporary path beside ``path`` that is renamed onto ``path`` only on success.

    As a context manager it yields the temporary path, commits when the block ends without
    error and discards otherwise, so an interrupted or failed write never leaves a file at
    ``path`` that looks complete.
    """

    def __init__(self, path):
        self.path = Path(path)
        parent = self.path.parent
        if not parent.is_dir():
            raise FileNotFoundError(f"{self.path}: directory '{parent}' does not exist")
        if not os.access(parent, os.W_OK):
            raise PermissionError(f"{self.path}: directory '{parent}' is not writable")
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=parent)
        os.close(fd)
        self.tmp = Path(tmp)

    def commit(self) -> None:
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)

    def __enter__(self) -> Path:
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()
