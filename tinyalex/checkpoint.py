"""Checkpoints: ``.npz`` files written atomically and read without pickle.

A checkpoint holds named arrays (parameters, optimizer velocities, ...) and a small JSON
document of everything else (epoch, learning rate, the random generators' states, the
settings). The JSON travels inside the ``.npz`` as a ``uint8`` array under the key
``__meta__``, so loading needs ``allow_pickle=False`` only: a checkpoint from someone else
cannot run code on your machine.

Writing is atomic (``atomic.atomic_write``): a temporary file in the same folder, flushed to
disk, then renamed over the target, so a crash mid-write leaves the previous checkpoint intact,
never a half-written one.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy

from .atomic import atomic_write
from .backend import to_numpy

META_KEY = "__meta__"
ZIP_STARTS = (b"PK\x03\x04", b"PK\x05\x06")  # the first bytes of a zip archive (an empty one)


def save_checkpoint(path, arrays: dict, meta: dict | None = None) -> Path:
    """Write ``arrays`` (name -> NumPy or CuPy array) and ``meta`` (JSON-able) to ``path``."""
    path = Path(path)
    if META_KEY in arrays:
        raise ValueError(f"save_checkpoint: {META_KEY!r} is reserved for the metadata")
    payload = {name: to_numpy(a) for name, a in arrays.items()}
    for name, a in payload.items():
        if a.dtype == object:
            raise ValueError(f"save_checkpoint: array {name!r} has dtype object, which needs pickle")
    payload[META_KEY] = numpy.frombuffer(json.dumps(meta or {}).encode(), dtype=numpy.uint8)
    # What numpy.savez writes, without its keyword arguments: an array named "file" or
    # "allow_pickle" would collide with them.
    with atomic_write(path) as f, zipfile.ZipFile(f, "w", allowZip64=True) as archive:
        for name, a in payload.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                numpy.lib.format.write_array(member, a, allow_pickle=False)
    return path


def load_checkpoint(path, meta_only: bool = False) -> tuple[dict, dict]:
    """Read a checkpoint written by ``save_checkpoint``: returns ``(arrays, meta)``.
    ``meta_only``: read the metadata alone (``arrays`` is then empty), not AlexNet's 0.5 GB."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_checkpoint: no checkpoint at {path}")
    with open(path, "rb") as f:
        start = f.read(4)
    if start not in ZIP_STARTS:  # else numpy.load tries it as a .npy file, or a pickle
        raise ValueError(f"load_checkpoint: {path} is not a tinyalex checkpoint (not an .npz "
                         f"archive: it starts with {start!r})")
    try:
        with numpy.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files
                      if not meta_only or name == META_KEY}
        if stray := [name for name, a in arrays.items() if not isinstance(a, numpy.ndarray)]:
            raise ValueError(f"its entry {stray[0]!r} is not an .npy array")  # numpy gives bytes
        if META_KEY not in arrays:
            raise ValueError(f"no {META_KEY!r} entry")
        meta = json.loads(arrays.pop(META_KEY).tobytes().decode())
        if not isinstance(meta, dict):
            raise ValueError(f"its {META_KEY!r} entry is not a JSON object")
    # An object array (which needs pickle), a truncated or corrupted zip, bad JSON:
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"load_checkpoint: {path} is not a tinyalex checkpoint "
                         f"({type(error).__name__}: {error})") from None
    return arrays, meta
