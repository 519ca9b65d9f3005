"""The IDX file format of MNIST and Fashion-MNIST (gzip-compressed or plain).

An IDX file is a header followed by the array's elements in row-major order:

    bytes 0, 1      zero
    byte 2          element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                    0x0D float32, 0x0E float64 (multi-byte types are big-endian)
    byte 3          the number of dimensions, d
    4 * d bytes     the size of each dimension, big-endian uint32
    the rest        prod(sizes) elements
"""

from __future__ import annotations

import gzip
import math
import zlib

import numpy as np

from .errors import DataError

__all__ = ["read_idx"]

DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path) -> bytes:
    """The file's bytes, decompressed when it starts with the gzip magic (whatever its name)."""
    with open(path, "rb") as f:
        raw = f.read()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as error:
        raise DataError(f"read_idx: {path} is a truncated or corrupt gzip file ({error})") from None


def read_idx(path) -> np.ndarray:
    """Read an IDX file into an array of its shape, in native byte order.

    Raises ``DataError`` (a ``ValueError``) naming the file when the magic number or type code
    is wrong, or when the data are shorter or longer than the header's sizes say (nothing is
    silently cut).
    """
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in DTYPES:
        raise DataError(
            f"read_idx: {path} is not an IDX file: expected the magic bytes 00 00 <type> <ndim> "
            f"with <type> one of {', '.join(f'{c:02x}' for c in DTYPES)}; got {raw[:4].hex(' ') or 'nothing'}"
        )
    dtype, ndim = np.dtype(DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"read_idx: {path} is truncated: its header needs {header} bytes for "
                        f"{ndim} dimensions, the file has {len(raw)}")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: no int64 overflow
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "longer than its header says"
        raise DataError(f"read_idx: {path} is {state}: shape {shape} of {dtype.name} needs "
                        f"{expected:,} bytes with the header, the file has {len(raw):,}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))
