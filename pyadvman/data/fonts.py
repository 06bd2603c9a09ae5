"""FONTS (docs/papers.md §1): letters A–J of many fonts, each transformed by random affine transforms θ.

The data are rendered by ``FontsRenderer`` (the true manifold), so every image has a known code
(font, letter, θ). Rows are ordered as in the paper: transform t of (font f, letter l) is row
``t·F·L + f·L + l``. The last ``test_transforms`` transforms of every (font, letter) are the test set, the
``validation_transforms`` before them the validation set, the rest the training set; all fonts appear in every
split, which differ in θ. The paper's set (``FONTS_PRESETS["paper"]``): 1000 fonts × 10 letters × 112
transforms, 960,000 training images (the last 10,000 of them for validation) and 160,000 test images.

Generated sets are cached as .npy files (memory-mapped when loaded) with their codes and θ; generation is
resumable and deterministic from the seed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import shutil
from dataclasses import asdict, astuple, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from pyadvman._atomic import write_atomic, write_json_atomic
from pyadvman.data import font_selection
from pyadvman.data.affine_transforms import theta_preset
from pyadvman.data.cache import cache_root, content_key
from pyadvman.data.font_files import FontFace, discover_fonts
from pyadvman.data.font_glyphs import LETTERS, FontIdentity
from pyadvman.data.font_selection import FontSet, select_fonts
from pyadvman.data.fonts_renderer import FontsRenderer
from pyadvman.data.splits import DatasetSplits, Split, check_class_coverage
from pyadvman.errors import UnreadableFileError
from pyadvman.folder_lock import waiting_lock

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 3: fonts ordered, deduplicated and drawn by identity (family, style, glyphs), not by path
_CHUNK = 32768  # images rendered and written per step (the resume granularity)


@dataclass(frozen=True)
class FontsConfig:
    """What a FONTS dataset is made of; the cache key is derived from every field but ``cache_dir``."""

    num_fonts: int | None = None  # fonts used; None = every distinct legible font found (paper: 1000)
    transforms: int = 112  # random transforms per (font, letter); paper: 112
    test_transforms: int = 16  # the last ones form the test set; paper: 16 (160,000 test images)
    validation_transforms: int = 1  # the ones before form the validation set; paper: 1 (10,000 images)
    theta: str = "hard"  # θ preset: "easy", "moderate" or "hard" (docs/papers.md §1)
    size: int = 28  # image width and height in pixels
    seed: int = 0  # draws θ and, when num_fonts is smaller than the fonts found, which fonts
    font_dirs: tuple[str, ...] = ()  # extra folders with .ttf/.otf files (searched besides the system's)
    system_fonts: bool = True  # use system font folders and fonts shipped in Python packages
    cache_dir: str | None = field(default=None, compare=False)  # default $PYADVMAN_CACHE or ~/.cache/pyadvman

    def __post_init__(self) -> None:
        theta_preset(self.theta)
        if self.num_fonts is not None and self.num_fonts < 1:
            raise ValueError(f"num_fonts must be >= 1 or None, got {self.num_fonts}")
        if self.test_transforms < 1 or self.validation_transforms < 0:
            raise ValueError("test_transforms must be >= 1 and validation_transforms >= 0, got "
                             f"{self.test_transforms} and {self.validation_transforms}")
        if self.transforms <= self.test_transforms + self.validation_transforms:
            raise ValueError(f"transforms ({self.transforms}) must exceed test_transforms + validation_transforms "
                             f"({self.test_transforms + self.validation_transforms}) to leave training data")
        if self.size < 8:
            raise ValueError(f"size must be >= 8 pixels, got {self.size}")


FONTS_PRESETS: dict[str, FontsConfig] = {
    "paper": FontsConfig(num_fonts=1000),
    # enough for the quick experiments on a 2-core CPU: 100 fonts × 10 letters × 28 transforms = 28,000 images
    "quick": FontsConfig(num_fonts=100, transforms=28, test_transforms=4, validation_transforms=1),
}


def _candidate_faces(cfg: FontsConfig) -> list[FontFace]:
    return discover_fonts(cfg.font_dirs, system=cfg.system_fonts, packages=cfg.system_fonts)


def _file_stamp(face: FontFace) -> tuple[str, int, int, int]:
    status = os.stat(face.path)
    return face.path, face.index, status.st_size, status.st_mtime_ns


def available_fonts(cfg: FontsConfig = FontsConfig(), *, progress: bool = True) -> FontSet:
    """The distinct legible fonts this machine has for cfg (cached by the font files' paths, sizes, dates)."""
    faces = _candidate_faces(cfg)
    stats = [_file_stamp(f) for f in faces]
    rules = [font_selection.DUPLICATE_MSE, font_selection.LEGIBILITY_NEIGHBOURS, font_selection.FACES_PER_VOTER,
             font_selection.LEGIBILITY_BLUR]
    key = content_key({"faces": stats, "size": cfg.size, "letters": LETTERS, "rules": rules, "version": FORMAT_VERSION})
    path = cache_root(cfg.cache_dir) / f"font-selection-{key}.npz"
    if path.is_file():
        with np.load(path) as data:
            kept = tuple(FontFace(str(p), int(i)) for p, i in zip(data["paths"], data["indices"]))
            identities = tuple(FontIdentity(*row) for row in json.loads(str(data["identities"])))
            return FontSet(kept, data["prototypes"], json.loads(str(data["rejected"])), identities)
    fonts = select_fonts(faces, size=cfg.size, progress=progress)
    write_atomic(path, lambda stream: np.savez(
        stream, paths=np.array([f.path for f in fonts.faces], dtype=str),
        indices=np.array([f.index for f in fonts.faces], dtype=np.int64), prototypes=fonts.prototypes,
        rejected=json.dumps(fonts.rejected), identities=json.dumps([astuple(i) for i in fonts.identities])))
    return fonts


def choose_fonts(fonts: FontSet, cfg: FontsConfig) -> FontSet:
    """cfg.num_fonts fonts drawn without replacement (seeded, from the faces in identity order, so the same
    fonts installed anywhere give the same draw), or all of them.

    Raises:
        ValueError: fewer fonts than asked; the message says how to install more.
    """
    if cfg.num_fonts is None:
        return fonts
    if cfg.num_fonts > len(fonts):
        raise ValueError(
            f"num_fonts: asked for {cfg.num_fonts} fonts, this machine has {len(fonts)} distinct legible fonts. "
            "Install more with `python -m pyadvman.data.debian_fonts --install` (Debian/Ubuntu, about 1,060 "
            "fonts), add folders with font_dirs, or lower num_fonts."
        )
    order = torch.randperm(len(fonts), generator=torch.Generator().manual_seed(cfg.seed))[: cfg.num_fonts]
    order = order.numpy()
    return FontSet(tuple(fonts.faces[i] for i in order), fonts.prototypes[order], fonts.rejected,
                   tuple(fonts.identities[i] for i in order))


def fonts_provenance(fonts: FontSet, pool: int, cfg: FontsConfig) -> dict:
    """What identifies a FONTS set's fonts on any machine: how many were drawn from how large a pool with
    which seed, the θ preset, and each face's family, style and glyph hash (with a SHA-256 over that list)."""
    faces = [asdict(i) for i in fonts.identities]
    digest = hashlib.sha256(json.dumps(faces, sort_keys=True).encode()).hexdigest()
    return {"count": len(faces), "pool": pool, "seed": cfg.seed, "theta": cfg.theta, "sha256": digest,
            "faces": faces}


def fonts_codes(num_fonts: int, num_letters: int, transforms: int) -> np.ndarray:
    """The (font, letter) of every row in the paper's order: np.ndarray[T·F·L, 2] int64."""
    font = np.repeat(np.arange(num_fonts), num_letters)
    letter = np.tile(np.arange(num_letters), num_fonts)
    return np.tile(np.stack([font, letter], 1), (transforms, 1)).astype(np.int64)


def generate_fonts(cfg: FontsConfig = FontsConfig(), *, progress: bool = True) -> Path:
    """Renders the dataset of cfg into the cache (or finds it there) and returns its folder.

    The folder holds ``images.npy`` (float32 [N, 1, H, W] in [0, 1]), ``codes.npy`` (int64 [N, 2]: font, letter),
    ``theta.npy`` (float32 [N, 6]), ``prototypes.npy`` (float32 [F, 10, H, W]) and ``meta.json`` (config,
    fonts, split sizes). An interrupted generation resumes from its last written chunk.

    Raises:
        ValueError: fewer fonts than cfg.num_fonts (see ``choose_fonts``).
    """
    pool = available_fonts(cfg, progress=progress)
    fonts = choose_fonts(pool, cfg)
    faces = [{"path": f.path, "index": f.index, "name": f.name} for f in fonts.faces]
    description = {k: v for k, v in asdict(cfg).items() if k != "cache_dir"}
    provenance = fonts_provenance(fonts, len(pool), cfg)
    # where the fonts were found (font_dirs, system_fonts) is not part of the key: their identities are
    where = ("cache_dir", "font_dirs", "system_fonts")
    key = content_key({"config": {k: v for k, v in description.items() if k not in where},
                       "fonts": provenance["faces"], "version": FORMAT_VERSION})
    final = cache_root(cfg.cache_dir) / f"fonts-{key}"
    if (final / "meta.json").is_file():
        return final
    # processes that start at once (test workers, a study's cells) render it once: the others wait, then read it
    with waiting_lock(final.with_name(final.name + ".lock")):
        if not (final / "meta.json").is_file():
            _render(cfg, fonts, faces, description, provenance, final, progress)
    return final


def _render(cfg: FontsConfig, fonts: FontSet, faces: list[dict], description: dict, provenance: dict, final: Path,
            progress: bool) -> None:
    """Renders FONTS into ``final`` through a ``.partial`` folder that an interrupted run resumes."""
    partial = final.with_name(final.name + ".partial")
    partial.mkdir(exist_ok=True)
    num_fonts, num_letters = fonts.prototypes.shape[:2]
    total = cfg.transforms * num_fonts * num_letters
    codes = fonts_codes(num_fonts, num_letters, cfg.transforms)
    theta = theta_preset(cfg.theta).sample(total, torch.Generator().manual_seed(cfg.seed)).numpy()
    for name, array in (("codes", codes), ("theta", theta), ("prototypes", fonts.prototypes)):
        np.save(partial / f"{name}.npy", array)
    images_path, progress_path = partial / "images.npy", partial / "progress.json"
    done = json.loads(progress_path.read_text())["done"] if progress_path.is_file() else 0
    mode = "r+" if done else "w+"
    images = np.lib.format.open_memmap(images_path, mode=mode, dtype=np.float32,
                                       shape=(total, 1, cfg.size, cfg.size))
    renderer = FontsRenderer(torch.from_numpy(fonts.prototypes))
    codes_t, theta_t = torch.from_numpy(codes), torch.from_numpy(theta)
    with torch.no_grad(), tqdm(total=total, initial=done, desc="rendering FONTS", unit="img",
                               disable=not progress) as bar:
        while done < total:
            rows = slice(done, min(done + _CHUNK, total))
            images[rows] = renderer(codes_t[rows, 0], codes_t[rows, 1], theta_t[rows]).numpy()
            images.flush()
            done = rows.stop
            write_json_atomic({"done": done}, progress_path)
            bar.update(rows.stop - rows.start)
    del images
    test = cfg.test_transforms * num_fonts * num_letters
    validation = cfg.validation_transforms * num_fonts * num_letters
    meta = {"config": description, "fonts": faces, "provenance": provenance, "letters": LETTERS[:num_letters],
            "version": FORMAT_VERSION,
            "splits": {"train": total - test - validation, "validation": validation, "test": test}}
    (partial / "meta.json").write_text(json.dumps(meta, indent=1))
    progress_path.unlink()
    if (final / "meta.json").is_file():  # finished by another process meanwhile (no file locks on this system)
        shutil.rmtree(partial)
        return
    if final.exists():  # a folder without meta.json, left broken
        shutil.rmtree(final)
    os.replace(partial, final)


def load_fonts(cfg: FontsConfig = FontsConfig(), *, progress: bool = True) -> DatasetSplits:
    """FONTS as splits, generating it first when it is not cached.

    Images are memory-mapped copy-on-write (Tensor[N, 1, H, W] float32 in [0, 1]; pages load on use);
    labels are the letters (0 = "A"), ``codes`` the (font, letter) and ``theta`` the transforms.
    ``DatasetSplits.prototypes`` gives the glyphs for ``FontsRenderer``.
    """
    folder = generate_fonts(cfg, progress=progress)
    path = folder / "meta.json"
    try:
        meta = json.loads(path.read_text())
        path = folder / "images.npy"
        images = torch.from_numpy(np.load(path, mmap_mode="c"))
        arrays = {}
        for name in ("codes", "theta", "prototypes"):
            path = folder / f"{name}.npy"
            arrays[name] = torch.from_numpy(np.load(path))
    except (ValueError, OSError, EOFError) as error:
        raise UnreadableFileError(path, f"{type(error).__name__}: {error}", f"the FONTS cache is damaged: delete "
                                  f"{folder} and it is rendered again") from None
    codes, theta = arrays["codes"], arrays["theta"]
    sizes = meta["splits"]
    bounds = np.cumsum([0, sizes["train"], sizes["validation"], sizes["test"]])
    splits = [Split(images[a:b], codes[a:b, 1], codes[a:b], theta[a:b]) for a, b in itertools.pairwise(bounds)]
    data = DatasetSplits("fonts", tuple(meta["letters"]), *splits, prototypes=arrays["prototypes"],
                         provenance={"source": str(folder), "split": "ordered (the paper's: the last transforms "
                                     "of every font and letter are the test set)", "fonts": meta["provenance"]})
    check_class_coverage(data)
    return data


def fonts_config(preset: str = "default", **overrides: object) -> FontsConfig:
    """A FontsConfig from a preset ("default", "quick", "paper") with fields overridden.

    Raises:
        ValueError: an unknown preset. TypeError: an unknown field.
    """
    presets = {"default": FontsConfig(), **FONTS_PRESETS}
    if preset not in presets:
        raise ValueError(f"FONTS preset must be one of {sorted(presets)}, got {preset!r}")
    if "font_dirs" in overrides:
        overrides["font_dirs"] = tuple(str(d) for d in overrides["font_dirs"])
    return replace(presets[preset], **overrides)
