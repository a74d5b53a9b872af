"""How every command writes: atomic writes with the user's umask, outputs that are never
replaced or mixed without the user saying so, and the keys that tie a result to its work.

The guarantees (docs/writing.md states them for users):

- a file appears complete or not at all (:class:`atomic_path`);
- an existing output is replaced only when asked (``overwrite``), never when it is one of the
  command's own inputs (:func:`claim_output`);
- a resumable result records the work it is the result of (:func:`work_key`): a rerun of the
  same work resumes or does nothing, a rerun of other work is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from mlipselect.errors import InputError


class OutputExistsError(InputError):
    """An output that exists and may not be replaced."""


def umask() -> int:
    """The process's file-creation mask (read without changing it, from /proc where it can)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class atomic_path:  # noqa: N801 - used like a function: `with atomic_path(p) as tmp:`
    """A temporary path beside ``path`` that is renamed onto ``path`` only on success.

    As a context manager it yields the temporary path, commits when the block ends without
    error and discards otherwise, so an interrupted or failed write never leaves a file at
    ``path`` that looks complete. The committed file has the mode a plain ``open`` would give
    it (0666 less the umask), so collaborators read it as they read the user's other files.
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
        os.chmod(self.tmp, 0o666 & ~umask())
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


def commit_directory(tmp: Path, out: Path) -> None:
    """Move the finished directory ``tmp`` onto ``out`` (replacing a directory there), with
    the mode ``mkdir`` would give it (``mkdtemp`` makes it private)."""
    os.chmod(tmp, 0o777 & ~umask())
    if out.is_dir():
        shutil.rmtree(out)
    os.replace(tmp, out)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def check_not_input(out, inputs: Iterable) -> None:
    """``OutputExistsError`` when ``out`` is one of the ``inputs`` (None entries are skipped)."""
    for path in inputs:
        if path is not None and _same_file(Path(out), Path(path)):
            raise OutputExistsError(f"{out}: is also an input of this command; write the output "
                                    "to another path")


def claim_output(out, overwrite: bool, inputs: Iterable = (),
                 done: Callable[[Path], bool] | None = None) -> bool:
    """Check, before any work, that ``out`` may be written; True when it already holds the
    result of this very work (the caller then has nothing to do).

    Parameters
    ----------
    out : path
        The output (a file or a directory).
    overwrite : bool
        The user asked for an existing output to be replaced (``--overwrite``), even one that
        holds this work's result.
    inputs : iterable of path
        The command's input files: ``out`` may never be one of them, ``overwrite`` or not.
    done : callable, optional
        ``done(out)`` says whether an existing ``out`` is the finished result of the same
        work (same inputs and settings); resumable commands pass it, so that a rerun of
        finished work does nothing.

    Raises
    ------
    OutputExistsError
        ``out`` is an input, or exists (and is not this work's result) without ``overwrite``.
    """
    out = Path(out)
    check_not_input(out, inputs)
    if not out.exists() or overwrite:
        return False
    if done is not None and done(out):
        return True
    what = ", the result of other work (other inputs or settings)" if done else ""
    raise OutputExistsError(f"{out}: exists{what}; pass --overwrite to replace it, or choose "
                            "another output path")


@contextlib.contextmanager
def appending(path):
    """Open ``path`` to append, holding an exclusive lock on it: two processes never append to
    one partial result (a run left over from a killed parent, say). The kernel drops the lock
    when its holder dies, however it dies."""
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputExistsError(f"{path}: another process is writing it; wait for it to "
                                    "finish or stop it, then run again") from None
        yield fh


def file_digest(path, block: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(block), b""):
            h.update(chunk)
    return h.hexdigest()


def work_key(settings: dict, files: Iterable = (), arrays: Iterable = ()) -> str:
    """A short digest of what a result is made from: ``settings`` (JSON-serialisable), the
    bytes of the input ``files`` and numpy ``arrays``. Equal keys mean the same work."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in files:
        h.update(file_digest(path).encode())
    for array in arrays:
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:16]
