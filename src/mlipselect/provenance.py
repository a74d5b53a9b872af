"""How a selection is recorded on its frames, so every later file knows where it came from.

``mlipselect select`` stores, in each selected frame's ``info``, the method, ``n``, seed, the
method's options, the number of excluded frames and the index file they came from (path and
SHA-256), and the pool with its SHA-256, under keys ``selection_<name>``; labelling, training,
evaluation and MD carry them on. In an extended selection each frame keeps the provenance of
the selection that chose it.
"""

from __future__ import annotations

PREFIX = "selection_"


def record(frames, **provenance) -> None:
    """Store ``provenance`` (``method``, ``n``, ``seed``, ...) in each frame's ``info``; keys
    whose value is ``None`` are left out."""
    tagged = {PREFIX + key: value for key, value in provenance.items() if value is not None}
    for atoms in frames:
        atoms.info.update(tagged)


def recorded(frames) -> dict:
    """The selection the frames came from (``{"method", "n", "seed", ...}``), or ``{}`` when
    they carry none or disagree (frames merged from several selections)."""
    found = [{k[len(PREFIX):]: v for k, v in atoms.info.items() if k.startswith(PREFIX)}
             for atoms in frames]
    if not found or any(f != found[0] for f in found):
        return {}
    return {k: v.item() if hasattr(v, "item") else v for k, v in found[0].items()}


def selection_rows(path, checksum: str) -> list[int]:
    """The pool rows of a selection file made from the pool with ``checksum``; ``InputError``
    for a file made from another pool."""
    return [int(a.info["pool_index"]) for a in selection_frames(path, checksum)]


def selection_frames(path, checksum: str) -> list:
    """The frames of a selection file, each checked to come from the pool with
    ``checksum``."""
    from mlipselect.errors import InputError
    from mlipselect.pool.frames_io import iread_frames

    frames = list(iread_frames(path, require=()))
    for atoms in frames:
        made_from = atoms.info.get(PREFIX + "pool_sha256")
        if made_from != checksum or "pool_index" not in atoms.info:
            raise InputError(f"{path}: not a selection of this pool (its frames record pool "
                             f"SHA-256 {str(made_from)[:12]}..., the pool is {checksum[:12]}...)")
    return frames


def carried_exclusion(base, given: dict | None, where) -> dict | None:
    """The test set an extension of the selection ``base`` (its frames) must exclude: the one
    ``base`` was selected without, identified by the SHA-256 of its index file.

    ``given`` (``{"exclude": path, "exclude_sha256": digest}`` of the index file the user
    named, or None) must be that one; without it, the recorded file is carried over when it
    is still there unchanged. ``InputError`` when they conflict, or when ``base`` excluded
    frames it does not identify and no file is given."""
    from pathlib import Path

    from mlipselect.errors import InputError
    from mlipselect.io import file_digest

    digests = {atoms.info.get(PREFIX + "exclude_sha256") for atoms in base}
    counts = {int(atoms.info.get(PREFIX + "excluded", 0)) for atoms in base}
    if len(digests) > 1:
        raise InputError(f"{where}: its frames were selected excluding different test sets")
    recorded_digest = digests.pop()
    if recorded_digest is None:
        if counts - {0} and given is None:
            raise InputError(f"{where}: was selected excluding {max(counts)} frames without "
                             "recording which; pass the same --exclude to extend it")
        return given
    if given is not None:
        if given["exclude_sha256"] != recorded_digest:
            raise InputError(f"{where}: was selected excluding another test set (SHA-256 "
                             f"{recorded_digest[:12]}...) than {given['exclude']}; an "
                             "extension must exclude the same frames")
        return given
    path = base[0].info.get(PREFIX + "exclude")
    if path is None or not Path(path).is_file() or file_digest(path) != recorded_digest:
        raise InputError(f"{where}: was selected excluding the test set {path} (SHA-256 "
                         f"{recorded_digest[:12]}...), which is not there unchanged; pass "
                         "it with --exclude")
    return {"exclude": path, "exclude_sha256": recorded_digest}
