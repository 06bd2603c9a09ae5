"""Reading IDX files (the MNIST / Fashion-MNIST format, optionally gzip-compressed) with numpy."""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from pyadvman.errors import UnreadableFileError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (``.gz`` files are decompressed).

    Returns:
        np.ndarray with the file's shape and dtype (uint8 for images and labels).

    Raises:
        FileNotFoundError: the file does not exist.
        UnreadableFileError (a ValueError): a truncated or corrupt .gz, a header that is not IDX, or a payload
            whose size does not match the header.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise UnreadableFileError(path, f"{type(error).__name__}: {error}", "the gzip file is truncated or "
                                  "corrupt: copy or download it again") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise UnreadableFileError(path, f"not an IDX file, header {data[:4].hex()}", "give the MNIST-style IDX "
                                  "files")
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    dtype = np.dtype(_DTYPES[data[2]])
    offset = 4 + 4 * dims
    expected = math.prod(shape) * dtype.itemsize  # Python integers: a header's product cannot wrap around
    if len(data) - offset != expected:
        raise UnreadableFileError(path, f"header says {shape} ({expected} bytes), file holds {len(data) - offset}",
                                  "the file is truncated or corrupt: copy it again")
    return np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))
