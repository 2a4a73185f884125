"""IDX files, the format of MNIST and Fashion-MNIST: a checked reader.

Format: two zero bytes, a type byte (0x08 = uint8, ...), the number of dimensions d, then d
big-endian uint32 sizes, then the values in row-major order: an image file is (N, rows, cols)
uint8, a label file (N,) uint8.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["read_idx"]

_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (the format of MNIST and Fashion-MNIST), gzip-compressed or not.

    Returns a read-only numpy array of the shape the header announces (native byte order).
    Raises ``ValueError`` when the file is not IDX (bad magic number), is truncated (fewer bytes
    than the header announces), has trailing bytes, or its gzip stream is corrupt (bad CRC, cut
    short); ``FileNotFoundError`` when it is missing.
    """
    path = Path(path)
    with open(path, "rb") as f:  # FileNotFoundError propagates as is
        head = f.read(2)
    try:
        if head == b"\x1f\x8b":  # the gzip magic number
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise ValueError(f"{path} is truncated or corrupt (gzip: {err})") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES or raw[3] == 0:
        raise ValueError(
            f"{path} is not an IDX file: bad magic number {raw[:4].hex() or 'none'} (expected "
            "00 00, a type byte 08/09/0b/0c/0d/0e and the number of dimensions)"
        )
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated: its header announces {ndim} dimensions")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "corrupt (trailing bytes)"
        raise ValueError(
            f"{path} is {what}: the header announces shape {shape} ({expected:,} bytes in all), "
            f"the file has {len(raw):,} bytes"
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    if dtype.byteorder == ">":
        arr = arr.astype(dtype.newbyteorder("="))
    arr.setflags(write=False)
    return arr


def idx_file(folder: Path, stem: str) -> Path | None:
    """``folder/stem.gz`` or ``folder/stem``, whichever exists (None if neither)."""
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None
