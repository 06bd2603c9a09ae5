"""A real colour image folder from a Debian package: Stellarium's photographs of deep-sky objects, sorted by object
type (galaxy, nebula, globular cluster, open cluster) into root/<type>/<image>.png.

The photographs (credited astrophotographers, free to reuse with credit; see the package's copyright file) are
PNG files of 128 to 1,024 pixels in RGB, palette, RGBA and grayscale; their type comes from Stellarium's object
catalogue. Messier (m*), NGC (n*) and IC (ic*) images only; 446 images in stellarium-data 0.22.2.

    apt-get download stellarium-data && dpkg-deb -x stellarium-data_*.deb stellarium
    python docs/examples/stellarium_image_folder.py stellarium deep-sky
    pyadvman data imagefolder --dataset-options '{"root": "deep-sky", "image_size": 32}' --figure deep-sky.png
"""

from __future__ import annotations

import gzip
import re
import shutil
import struct
import sys
from pathlib import Path

CATALOGUE_FOLDER = "usr/share/stellarium/nebulae/default"
# Stellarium's Nebula::NebulaType codes -> the classes here (quasars, star clouds, associations, ... left out)
CLASS_OF_TYPE = {0: "galaxy", 1: "galaxy", 2: "galaxy", 3: "galaxy", 6: "open_cluster", 7: "globular_cluster",
                 **{code: "nebula" for code in range(10, 19)}}
# of the 29 catalogue designations after each record's position and shape, these are strings; the rest numbers
_STRING_DESIGNATIONS = {14, 17, 18, 19, 20, 21, 22, 23}
_NGC, _IC, _MESSIER = 0, 1, 2


class _Reader:
    """Big-endian Qt data stream: 32-bit unsigned integers and UTF-16 strings with a byte-length prefix."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def skip(self, count: int) -> None:
        self.at += count

    def number(self) -> int:
        (value,) = struct.unpack_from(">I", self.data, self.at)
        self.at += 4
        return value

    def string(self) -> str:
        length = self.number()
        if length == 0xFFFFFFFF:  # a null string
            return ""
        text = self.data[self.at:self.at + length].decode("utf-16-be")
        self.at += length
        return text


def object_types(catalogue: Path) -> dict[str, int]:
    """{"m31": type, "n224": type, "ic434": type, ...} from Stellarium's catalog.dat (gzip, format 3.16).

    Raises:
        ValueError: the record numbers do not run 1, 2, 3, ... (another catalogue format).
    """
    reader = _Reader(gzip.decompress(catalogue.read_bytes()))
    version, edition = reader.string(), reader.string()
    types: dict[str, int] = {}
    record = 0
    while reader.at < len(reader.data):
        record += 1
        if reader.number() != record:
            raise ValueError(f"{catalogue} (version {version} {edition}): record {record} is not where format "
                             "3.16 puts it; this script reads that format only")
        reader.skip(32)  # right ascension, declination, two magnitudes
        kind = reader.number()
        reader.string()  # morphological type
        reader.skip(16 + 4 + 48)  # axes, orientation, surface brightness, distances, redshift, parallax, ...
        designations = [reader.string() if index in _STRING_DESIGNATIONS else reader.number() for index in range(29)]
        for prefix, index in (("n", _NGC), ("ic", _IC), ("m", _MESSIER)):
            if designations[index]:
                types[f"{prefix}{designations[index]}"] = kind
    return types


def build(package_root: Path, out: Path) -> dict[str, int]:
    """Copies the typed Messier, NGC and IC photographs into out/<class>/; returns the images per class."""
    source = package_root / CATALOGUE_FOLDER
    types = object_types(source / "catalog.dat")
    counts: dict[str, int] = {}
    for image in sorted(source.glob("*.png")):
        match = re.match(r"(m|n|ic)(\d+)", image.name)
        label = CLASS_OF_TYPE.get(types.get(f"{match[1]}{int(match[2])}")) if match else None
        if label is None:
            continue
        (out / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(image, out / label / image.name)
        counts[label] = counts.get(label, 0) + 1
    return counts


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(build(Path(sys.argv[1]), Path(sys.argv[2])))
