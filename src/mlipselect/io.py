"""How every command writes: atomic writes with the user's umask, outputs that are never
replaced or mixed without the user saying so, and the keys that tie a result to its work.

The guarantees (docs/writing.md states them for users):

- a file appears complete or not at all (:class:`atomic_path`);
- an existing output is replaced only when asked (``overwrite``), never when it is one of the
  command's own inputs or inside one (:func:`claim_output`); an output is claimed before the
  work, so two processes never write it at once, and one that appears during the work is left
  alone (:func:`commit_file`);
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlipselect.errors import InputError


class OutputExistsError(InputError):
    """An output that exists and may not be replaced."""


@dataclass(frozen=True)
class Outcome:
    """What a resumable piece of work did to its output: ``computed`` items made now,
    ``reused`` ones taken from earlier work (a cache, a partial result), the ``failed`` ones
    named; ``already`` when the output held this very work and nothing was done."""

    computed: int = 0
    reused: int = 0
    failed: tuple[str, ...] = ()
    already: bool = False


ALREADY = Outcome(already=True)


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
        check_directory(self.path)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part",
                                   dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        TEMPORARIES.add(self.tmp)

    def commit(self) -> None:
        os.chmod(self.tmp, 0o666 & ~umask())
        try:
            commit_file(self.tmp, self.path)
        finally:
            self.discard()  # nothing left where the commit failed; a no-op where it worked

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)
        TEMPORARIES.discard(self.tmp)
        release(self.path)

    def __enter__(self) -> Path:
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def check_directory(out) -> None:
    """``InputError`` unless the directory ``out`` goes into exists and is writable."""
    out = Path(out)
    if not out.parent.is_dir():
        raise InputError(f"{out}: directory '{out.parent}' does not exist")
    if not os.access(out.parent, os.W_OK):
        raise InputError(f"{out}: directory '{out.parent}' is not writable")


def _busy(path) -> OutputExistsError:
    return OutputExistsError(f"{path}: another process is writing it; wait for it to finish "
                             "or stop it, then run again")


def commit_file(finished, out) -> None:
    """Rename the finished file ``finished`` onto ``out`` (same directory). Where this
    process claimed ``out`` without ``--overwrite`` (:func:`claim_output`), a file that
    appeared there since is left untouched, and so is ``finished``, with an
    ``OutputExistsError``; otherwise ``out`` is replaced. Releases the claim."""
    finished, out = Path(finished), Path(out)
    claimed = _CLAIMS.get(_key(out))
    try:
        if claimed is None or claimed.overwrite:
            os.replace(finished, out)
            return
        try:
            os.link(finished, out)  # fails where anything is at out: no check-then-rename race
        except FileExistsError:
            raise OutputExistsError(f"{out}: appeared while this command ran; left untouched "
                                    "(pass --overwrite to replace it)") from None
        finished.unlink()
    finally:
        release(out)


def commit_directory(tmp: Path, out: Path) -> None:
    """Move the finished directory ``tmp`` onto ``out``, with the mode ``mkdir`` would give
    it (``mkdtemp`` makes it private). A directory at ``out`` is replaced only where the
    claim on ``out`` allowed it (``--overwrite``); one that appeared since is left alone."""
    os.chmod(tmp, 0o777 & ~umask())
    claim = _CLAIMS.get(_key(out))
    if out.exists():
        if claim is not None and not claim.overwrite:
            raise OutputExistsError(f"{out}: appeared while this command ran; left untouched "
                                    "(pass --overwrite to replace it)")
        shutil.rmtree(out)
    os.rename(tmp, out)
    release(out)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def _inside(path: Path, directory: Path) -> bool:
    """``path`` lies within ``directory`` (at any depth)."""
    return directory.resolve() in path.resolve().parents


def check_not_input(out, inputs: Iterable) -> None:
    """``OutputExistsError`` when ``out`` is one of the ``inputs`` (None entries are skipped),
    lies inside one (a model directory the command reads, say), or holds one (a directory
    output that would replace its own input)."""
    out = Path(out)
    for path in inputs:
        if path is None:
            continue
        path = Path(path)
        if _same_file(out, path):
            raise OutputExistsError(f"{out}: is also an input of this command; write the output "
                                    "to another path")
        if _inside(out, path) or _inside(path, out):
            inner, outer = (out, path) if _inside(out, path) else (path, out)
            raise OutputExistsError(f"{out}: {inner} lies inside {outer}, and one is an input "
                                    "of this command; write the output elsewhere")


def claim_output(out, overwrite: bool, inputs: Iterable = (),
                 done: Callable[[Path], bool] | None = None) -> bool:
    """Check, before any work, that ``out`` may be written, and claim it (:func:`claim`) until
    the result is committed (:func:`commit_file`, :class:`atomic_path`,
    :func:`commit_directory`); True when it already holds the result of this very work (the
    caller then has nothing to do).

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
        ``out`` is an input, lies inside or holds one, exists (and is not this work's result)
        without ``overwrite``, sits in a missing or read-only directory, or another process
        is writing it.
    """
    out = Path(out)
    check_not_input(out, inputs)
    check_directory(out)
    claim(out, overwrite)
    if not out.exists() or overwrite:
        return False
    release(out)
    if done is not None and done(out):
        return True
    what = ", the result of other work (other inputs or settings)" if done else ""
    raise OutputExistsError(f"{out}: exists{what}; pass --overwrite to replace it, or choose "
                            "another output path")


@dataclass(frozen=True)
class Claim:
    """An output this process is making: the open lock file that says so, and whether it may
    replace what is there (``--overwrite``)."""

    lock: int
    overwrite: bool


_CLAIMS: dict[Path, Claim] = {}
"""The outputs this process has claimed and not yet committed."""

TEMPORARIES: set[Path] = set()
"""Temporary files and directories of writes in progress (:class:`atomic_path`, a model
being trained): what a forced stop removes."""


APPENDING: set[Path] = set()
"""Partial results open for appending (:func:`appending`)."""


def _remove_if_empty(path) -> None:
    """Remove ``path`` if it is an empty file (a partial result with nothing in it yet)."""
    with contextlib.suppress(OSError):  # renamed away, or never there
        if os.stat(path).st_size == 0:
            os.unlink(path)


def abandon_writes() -> None:
    """For a forced stop: remove the temporary files and directories of writes in progress,
    partial results that hold nothing yet, and the claims' lock files."""
    release_all()
    for path in list(APPENDING):
        _remove_if_empty(path)
    for path in list(TEMPORARIES):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
        TEMPORARIES.discard(path)


def _key(out) -> Path:
    out = Path(out)
    return out.parent.resolve() / out.name


def _lock_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.lock")


def claim(out, overwrite: bool) -> None:
    """Claim ``out`` for this process until it is committed or released (:func:`release`): an
    exclusive lock on a hidden ``.NAME.lock`` beside it, which the kernel drops when the
    process dies, however it dies. ``OutputExistsError`` while another process holds it: two
    commands never write one output at once."""
    key = _key(out)
    if key in _CLAIMS:  # claimed again by this process: the latest word on overwriting holds
        _CLAIMS[key] = Claim(_CLAIMS[key].lock, overwrite)
        return
    lock = _lock_path(key)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666 & ~umask())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _busy(out) from None
        try:
            if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                break  # the lock file is still the one on disk: ours
        except FileNotFoundError:
            pass  # its last holder removed it after we opened it: take a fresh one
        os.close(fd)
    _CLAIMS[key] = Claim(fd, overwrite)


def release(out) -> None:
    """Give up the claim on ``out`` (if this process holds one) and remove its lock file."""
    found = _CLAIMS.pop(_key(out), None)
    if found is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(_lock_path(_key(out)))
        os.close(found.lock)


def release_all() -> None:
    """Give up every claim of this process (a command ends, whether or not it wrote)."""
    for out in list(_CLAIMS):
        release(out)


@contextlib.contextmanager
def appending(path):
    """Open ``path`` to append, holding an exclusive lock on it: two processes never append to
    one partial result (a run left over from a killed parent, say). The kernel drops the lock
    when its holder dies, however it dies. A file still empty when the writer ends (it failed
    before its first record) is removed."""
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(path) from None
        APPENDING.add(Path(path))
        try:
            yield fh
        finally:
            APPENDING.discard(Path(path))
            _remove_if_empty(path)


@contextlib.contextmanager
def exclusive_run(directory, what: str):
    """Hold an exclusive lock on ``directory`` (made if missing) while ``what`` runs in it: a
    second run is refused with one line naming the first one's pid. The kernel releases the
    lock when its holder dies, however it dies, so a killed run never blocks the next. On
    entry, temporary files of writes a killed run cut short (``atomic_path``) are removed;
    resumable ``.partial`` results are kept."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".run.lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            raise InputError(f"{directory}: another {what} (pid {fh.read().strip() or '?'}) "
                             "is running on it; wait for it or stop it") from None
        fh.truncate(0)
        fh.write(str(os.getpid()))
        fh.flush()
        for stale in directory.rglob(".*.part"):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        yield


def file_digest(path, block: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(block), b""):
            h.update(chunk)
    return h.hexdigest()


def work_key(settings, files: Iterable = (), arrays: Iterable = ()) -> str:
    """A short digest of what a result is made from: ``settings`` (JSON-serialisable), the
    bytes of the input ``files`` and numpy ``arrays``. Equal keys mean the same work."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in files:
        h.update(file_digest(path).encode())
    for array in arrays:
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:16]
