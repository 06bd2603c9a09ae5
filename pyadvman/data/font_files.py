"""Finding font files on the machine: system font folders, fonts shipped in installed Python packages, and
folders the user names. TrueType and OpenType, including the faces inside collections (.ttc/.otc)."""

from __future__ import annotations

import importlib.metadata
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
COLLECTION_SUFFIXES = (".ttc", ".otc")


@dataclass(frozen=True, order=True)
class FontFace:
    """One face: a font file and, for collections, the face index inside it."""

    path: str
    index: int = 0

    @property
    def label(self) -> str:
        """Unique: the path, with "#index" for faces of a collection."""
        return self.path if self.index == 0 else f"{self.path}#{self.index}"

    @property
    def name(self) -> str:
        stem = Path(self.path).stem
        return stem if self.index == 0 else f"{stem}#{self.index}"


def system_font_dirs() -> list[Path]:
    """The usual font folders of Linux (fontconfig), macOS and Windows that exist here."""
    home = Path.home()
    candidates = [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), home / ".fonts",
                  home / ".local/share/fonts", Path(os.environ.get("XDG_DATA_HOME", home / ".local/share")) / "fonts"]
    if sys.platform == "darwin":
        candidates += [Path("/System/Library/Fonts"), Path("/Library/Fonts"), home / "Library/Fonts"]
    if sys.platform == "win32":
        candidates.append(Path(os.environ.get("WINDIR", "C:/Windows")) / "Fonts")
    return [p for p in dict.fromkeys(candidates) if p.is_dir()]


def package_font_files() -> list[Path]:
    """Font files shipped inside installed Python packages (matplotlib ships DejaVu, STIX and others)."""
    found = []
    for dist in importlib.metadata.distributions():
        for file in dist.files or ():
            if file.suffix.lower() in FONT_SUFFIXES:
                path = Path(dist.locate_file(file))
                if path.is_file():
                    found.append(path)
    return found


def _files_under(folder: Path) -> Iterable[Path]:
    for root, _, names in os.walk(folder, followlinks=True):
        for name in names:
            if name.lower().endswith(FONT_SUFFIXES):
                yield Path(root) / name


def _faces_of(path: Path) -> list[FontFace]:
    if path.suffix.lower() not in COLLECTION_SUFFIXES:
        return [FontFace(str(path))]
    from fontTools.ttLib import TTCollection, TTLibError

    try:
        with TTCollection(str(path), lazy=True) as collection:
            count = len(collection.fonts)
    except (OSError, TTLibError, AssertionError):  # unreadable: render_glyphs reports it as such
        count = 1
    return [FontFace(str(path), i) for i in range(count)]


def discover_fonts(font_dirs: Sequence[str | Path] = (), *, system: bool = True,
                   packages: bool = True) -> list[FontFace]:
    """All font faces found, sorted by path, each file once (symbolic links resolved).

    Args:
        font_dirs: extra folders searched recursively (a user's own fonts).
        system: search the system font folders (``system_font_dirs``).
        packages: include fonts shipped in installed Python packages.

    Returns:
        list[FontFace]: sorted, without duplicates.

    Raises:
        FileNotFoundError: a folder in font_dirs does not exist.
    """
    files: list[Path] = []
    for folder in font_dirs:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"font_dirs: folder {str(folder)!r} does not exist")
        files += _files_under(folder)
    if system:
        for folder in system_font_dirs():
            files += _files_under(folder)
    if packages:
        files += package_font_files()
    unique = sorted({str(p.resolve()) for p in files})
    return [face for path in unique for face in _faces_of(Path(path))]
