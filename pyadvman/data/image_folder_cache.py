"""An image folder decoded once into memory-mapped float32 files in the cache, so that training reads batches from
disk instead of holding every image in memory (``load_image_folder(..., in_memory=False)``).

The cache entry ``imagefolder-<name>-<key>/`` holds ``train.npy``, ``validation.npy`` and ``test.npy`` (float32
[N, C, H, W] in [0, 1], each split's images in its order) and ``meta.json``; the key covers the files (paths,
sizes, modification times), the splits' order and the decoding options, so a changed folder is decoded again.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from pyadvman.data.cache import cache_root, content_key
from pyadvman.data.image_decoding import PROGRESS_FROM, decode_images, warn_converted
from pyadvman.errors import DataError, UnreadableFileError
from pyadvman.folder_lock import waiting_lock

FORMAT_VERSION = 1
_CHUNK = 1024  # images decoded at a time


def cached_images(root: Path, files: list[Path], order: dict[str, torch.Tensor], color: str,
                  image_size: int | None, cache_dir: str | Path | None = None) -> dict[str, torch.Tensor]:
    """{split: Tensor[n, C, H, W] float32 in [0, 1], memory-mapped copy-on-write} for the splits' file indices
    ``order`` ({split: Tensor[n] int64 into ``files``}), decoding them into the cache first when they are not
    there (processes that start at once decode once; the others wait).

    Raises:
        UnreadableFileError: an image that cannot be decoded, or a damaged cache entry (delete it).
        DataError: images of several sizes with no image_size.
    """
    stamps = [(str(path), (stat := path.stat()).st_size, stat.st_mtime_ns) for path in files]
    key = content_key({"files": stamps, "order": {name: rows.tolist() for name, rows in order.items()},
                       "color": color, "image_size": image_size, "version": FORMAT_VERSION})
    final = cache_root(cache_dir) / f"imagefolder-{root.resolve().name}-{key}"
    if not (final / "meta.json").is_file():
        with waiting_lock(final.with_name(final.name + ".lock")):
            if not (final / "meta.json").is_file():
                _decode_into(final, root, files, order, color, image_size)
    images = {}
    for name in order:
        path = final / f"{name}.npy"
        try:
            images[name] = torch.from_numpy(np.load(path, mmap_mode="c"))
        except (ValueError, OSError, EOFError) as error:
            raise UnreadableFileError(path, f"{type(error).__name__}: {error}", f"the image-folder cache is damaged: "
                                      f"delete {final} and it is decoded again") from None
    return images


def _decode_into(final: Path, root: Path, files: list[Path], order: dict[str, torch.Tensor], color: str,
                 image_size: int | None) -> None:
    """Decodes the splits chunk by chunk into ``final`` through a ``.partial`` folder (started again if a run
    was interrupted)."""
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    first = decode_images(files[:1], color, image_size, root)[0]  # [H, W, C]: the size every image must have
    modes: Counter = Counter()
    total = sum(len(rows) for rows in order.values())
    with tqdm(total=total, desc=f"decoding {root.name} to the cache", unit="img",
              disable=total < PROGRESS_FROM) as bar:
        for name, rows in order.items():
            array = np.lib.format.open_memmap(partial / f"{name}.npy", mode="w+", dtype=np.float32,
                                              shape=(len(rows), first.shape[2], first.shape[0], first.shape[1]))
            for start in range(0, len(rows), _CHUNK):
                chunk = [files[i] for i in rows[start:start + _CHUNK].tolist()]
                pixels = decode_images(chunk, color, image_size, root, modes)
                if pixels.shape[1:] != first.shape:  # decode_images refused mixed sizes within the chunk
                    raise DataError(f"imagefolder {root}: {files[0]} is {first.shape[1]}×{first.shape[0]}, {chunk[0]} "
                                    "is another size; pass image_size=S to resize every image to S × S")
                array[start:start + len(chunk)] = pixels.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
                bar.update(len(chunk))
            array.flush()
            del array
    warn_converted(modes, total, color, root)
    (partial / "meta.json").write_text(json.dumps({"source": str(root), "color": color, "image_size": image_size,
                                                   "counts": {name: len(rows) for name, rows in order.items()},
                                                   "version": FORMAT_VERSION}))
    if final.exists():  # a folder without meta.json, left broken
        shutil.rmtree(final)
    os.replace(partial, final)
