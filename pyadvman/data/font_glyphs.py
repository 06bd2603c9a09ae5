"""Rendering the letters of one font face into prototypes, as in the paper (docs/papers.md §1): PIL at font size
size − size/4 (21 points for 28×28 images), glyph centred, ink white on black, scaled to [0, 1]."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pyadvman.data.font_files import FontFace

LETTERS = "ABCDEFGHIJ"
# A code point no font maps (a Unicode noncharacter): renders as the face's .notdef glyph.
_MISSING = "\U0010fffe"
MIN_INK_PIXELS = 8.0  # a glyph with less total ink than 8 full pixels counts as blank


class GlyphError(Exception):
    """A face cannot give usable prototypes; the message says why (unreadable, missing or blank letter)."""


def _render(font: ImageFont.FreeTypeFont, char: str, size: int) -> np.ndarray:
    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    x0, y0, x1, y1 = draw.textbbox((0, 0), char, font=font)
    # Centred by the glyph's bounding box (the paper centres the advance box; same result up to a pixel).
    draw.text(((size - (x1 - x0)) // 2 - x0, (size - (y1 - y0)) // 2 - y0), char, font=font, fill=255)
    return np.asarray(image, dtype=np.float32) / 255.0


def render_glyphs(face: FontFace, *, size: int = 28, letters: str = LETTERS) -> np.ndarray:
    """The prototypes of one face.

    Args:
        face: the font file and face index.
        size: image width and height in pixels (the font is drawn at ``int(size - size / 4)`` points).
        letters: the characters to draw, one class each.

    Returns:
        np.ndarray[L, size, size] float32 in [0, 1] (L = len(letters)), ink = 1.

    Raises:
        GlyphError: the file cannot be read, a letter is missing (drawn as the face's .notdef glyph) or blank.
    """
    try:
        font = ImageFont.truetype(face.path, int(size - size / 4), index=face.index)
        missing = _render(font, _MISSING, size)
        glyphs = np.stack([_render(font, char, size) for char in letters])
    except (OSError, ValueError) as error:
        raise GlyphError(f"unreadable: {error}") from None
    for char, glyph in zip(letters, glyphs):
        if glyph.sum() < MIN_INK_PIXELS:
            raise GlyphError(f"blank letter {char!r}")
        if np.array_equal(glyph, missing):
            raise GlyphError(f"missing letter {char!r}")
    return glyphs


@dataclass(frozen=True, order=True)
class FontIdentity:
    """What a face is, whatever path it is installed under: the family and style names its file declares and
    a hash of its rendered prototypes (which tells two versions of one face apart). FONTS orders, deduplicates
    and draws faces by identity, so that machines with the same fonts build the same dataset."""

    family: str
    style: str
    glyphs_sha256: str

    @property
    def name(self) -> str:
        return f"{self.family} {self.style}".strip()


def face_identity(face: FontFace, glyphs: np.ndarray) -> FontIdentity:
    """The identity of a face whose prototypes (np.ndarray[L, S, S] float32, from ``render_glyphs``) are
    ``glyphs``; names a file does not declare are empty."""
    try:
        family, style = ImageFont.truetype(face.path, 12, index=face.index).getname()
    except (OSError, ValueError):
        family, style = "", ""
    digest = hashlib.sha256(np.ascontiguousarray(glyphs, dtype=np.float32).tobytes()).hexdigest()[:16]
    return FontIdentity(family or "", style or "", digest)
