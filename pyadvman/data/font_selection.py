"""Choosing the FONTS faces: drop faces that miss a letter or draw it blank (font_glyphs), near-duplicate
faces, and faces whose letters are not legible (symbol or dingbat faces, heavy decoration).

Legibility is judged against the other faces, so it needs no model: each glyph, blurred by a Gaussian of
σ = 1 pixel and normalised (cosine similarity), must have a majority of its 10 nearest glyphs from *other*
faces showing the same letter (with fewer than 200 other faces, one voter per 20 of them and at least one: a
small pool has few glyphs of each style). A symbol face that draws Α, Χ, Δ, ... or pictograms fails."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from pyadvman.data.font_files import FontFace
from pyadvman.data.font_glyphs import LETTERS, FontIdentity, GlyphError, face_identity, render_glyphs
from pyadvman.ops import knn

log = logging.getLogger(__name__)

DUPLICATE_MSE = 1e-3  # faces whose prototypes differ by a mean squared pixel difference below this are one face
LEGIBILITY_NEIGHBOURS = 10  # voters with 200 or more other faces
FACES_PER_VOTER = 20
LEGIBILITY_BLUR = 1.0  # σ in pixels


@dataclass(frozen=True)
class FontSet:
    """The faces kept, their identities and prototypes, and every rejected face with the reason.

    faces: kept faces, ordered by identity (family, style, glyph hash), not by path. identities: one
    FontIdentity per face. prototypes: np.ndarray[F, L, H, W] float32 in [0, 1]. rejected: face label (path,
    "#index" in collections) -> reason ("missing letter 'A'", "duplicate of /usr/share/fonts/.../DejaVuSans.ttf",
    "illegible letters CG").
    """

    faces: tuple[FontFace, ...]
    prototypes: np.ndarray
    rejected: dict[str, str] = field(default_factory=dict)
    identities: tuple[FontIdentity, ...] = ()

    def __len__(self) -> int:
        return len(self.faces)


def _blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32).div(sigma).pow(2).mul(-0.5).exp()
    taps = taps / taps.sum()
    x = images.unsqueeze(1)
    x = F.conv2d(x, taps.view(1, 1, 1, -1), padding=(0, radius))
    return F.conv2d(x, taps.view(1, 1, -1, 1), padding=(radius, 0)).squeeze(1)


def duplicate_of(prototypes: np.ndarray, threshold: float = DUPLICATE_MSE) -> np.ndarray:
    """For each face, the index of an earlier kept face it nearly duplicates, else -1 (greedy, in order).

    Args:
        prototypes: np.ndarray[F, L, H, W] float32.
        threshold: mean squared pixel difference over all letters below which two faces are duplicates.

    Returns:
        np.ndarray[F] int64.
    """
    count = prototypes.shape[0]
    flat = torch.from_numpy(prototypes.reshape(count, -1))
    k = min(count, 16)
    dist2, index = knn(flat, flat, k) if count else (torch.zeros(0, 0), torch.zeros(0, 0, dtype=torch.long))
    close = dist2 / flat.shape[1] < threshold
    result = np.full(count, -1, dtype=np.int64)
    kept = np.zeros(count, dtype=bool)
    for i in range(count):
        earlier = [int(j) for j, c in zip(index[i], close[i]) if c and j < i and kept[j]]
        if earlier:
            result[i] = min(earlier)
        else:
            kept[i] = True
    return result


def illegible_letters(prototypes: np.ndarray, *, neighbours: int | None = None,
                      sigma: float = LEGIBILITY_BLUR) -> np.ndarray:
    """Which letters of each face are not recognised by a vote of the nearest glyphs of the other faces.

    Args:
        prototypes: np.ndarray[F, L, H, W] float32.
        neighbours: glyphs of other faces that vote; None: one per 20 other faces, between 1 and 10.
        sigma: Gaussian blur in pixels applied before the cosine comparison.

    Returns:
        np.ndarray[F, L] bool, True where the majority of the voting glyphs show another letter. With a
        single face nothing can vote and every letter counts as legible.
    """
    faces, letters = prototypes.shape[:2]
    glyphs = torch.from_numpy(prototypes.reshape(faces * letters, *prototypes.shape[2:]))
    glyphs = _blur(glyphs, sigma).flatten(1)
    glyphs = glyphs - glyphs.mean(1, keepdim=True)
    glyphs = glyphs / glyphs.norm(dim=1, keepdim=True).clamp_min(1e-12)
    if neighbours is None:
        neighbours = min(LEGIBILITY_NEIGHBOURS, max(1, (faces - 1) // FACES_PER_VOTER))
    voters = min(neighbours, (faces - 1) * letters)
    if voters == 0:
        return np.zeros((faces, letters), dtype=bool)
    _, index = knn(glyphs, glyphs, min(voters + letters, faces * letters))
    face_of, letter_of = index // letters, index % letters
    own_face = torch.arange(faces).repeat_interleave(letters)[:, None]
    own_letter = torch.arange(letters).repeat(faces)[:, None]
    other = face_of != own_face
    # the first `voters` neighbours from other faces (at most `letters` rows belong to the own face)
    rank = other.cumsum(1)
    voting = other & (rank <= voters)
    agree = (voting & (letter_of == own_letter)).sum(1)
    return (2 * agree <= voting.sum(1)).reshape(faces, letters).numpy()


def select_fonts(faces: Sequence[FontFace], *, size: int = 28, letters: str = LETTERS,
                 progress: bool = True) -> FontSet:
    """Renders every face and keeps the distinct, legible ones (module docstring).

    The rendered faces are ordered by identity (family and style names, then a hash of the prototypes), so
    the result does not depend on where the files are installed or the order they are given in: the first of
    two duplicates in that order stays, and ties in the legibility vote go the same way on every machine.

    Args:
        faces: candidates, e.g. from ``discover_fonts``.
        size: prototype width and height in pixels.
        letters: the characters, one class each.
        progress: show a progress bar while rendering.

    Returns:
        FontSet: the kept faces (by identity) with prototypes [F, len(letters), size, size] and the rejected faces.
    """
    rejected: dict[str, str] = {}
    found: list[tuple[FontIdentity, FontFace, np.ndarray]] = []
    for face in tqdm(faces, desc="rendering fonts", unit="font", disable=not progress):
        try:
            glyphs = render_glyphs(face, size=size, letters=letters)
        except GlyphError as error:
            rejected[face.label] = str(error)
            continue
        found.append((face_identity(face, glyphs), face, glyphs))
    found.sort(key=lambda item: (item[0], item[1].label))
    rendered = [face for _, face, _ in found]
    identities = [identity for identity, _, _ in found]
    prototypes = np.stack([g for _, _, g in found]) if found else np.zeros((0, len(letters), size, size), np.float32)
    duplicates = duplicate_of(prototypes)
    for face, original in zip(rendered, duplicates):
        if original >= 0:
            rejected[face.label] = f"duplicate of {rendered[original].label}"
    distinct = duplicates < 0
    rendered = [face for face, keep in zip(rendered, distinct) if keep]
    identities = [identity for identity, keep in zip(identities, distinct) if keep]
    prototypes = prototypes[distinct]
    illegible = illegible_letters(prototypes)
    for face, bad in zip(rendered, illegible):
        if bad.any():
            rejected[face.label] = "illegible letters " + "".join(c for c, b in zip(letters, bad) if b)
    legible = ~illegible.any(1)
    kept = tuple(face for face, keep in zip(rendered, legible) if keep)
    log.info("fonts: %d faces kept of %d (%d rejected)", len(kept), len(faces), len(rejected))
    return FontSet(kept, np.ascontiguousarray(prototypes[legible]), rejected,
                   tuple(identity for identity, keep in zip(identities, legible) if keep))
