"""How a selection is recorded on its frames, so every later file knows where it came from.

``mlipselect select`` stores, in each selected frame's ``info``, the method, ``n``, seed, the
method's options, the number of excluded frames and the pool with its SHA-256, under keys
``selection_<name>``; labelling, training, evaluation and MD carry them on.
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
    from mlipselect.errors import InputError
    from mlipselect.pool.frames_io import iread_frames

    frames = list(iread_frames(path, require=()))
    made_from = recorded(frames).get("pool_sha256")
    if made_from != checksum or any("pool_index" not in a.info for a in frames):
        raise InputError(f"{path}: not a selection of this pool (its frames record pool "
                         f"SHA-256 {str(made_from)[:12]}..., the pool is {checksum[:12]}...)")
    return [int(a.info["pool_index"]) for a in frames]
