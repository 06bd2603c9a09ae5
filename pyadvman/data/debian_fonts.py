"""The Debian font packages that give FONTS the paper's 1000 fonts, and the command that installs them.

``python -m pyadvman.data.debian_fonts`` prints the apt-get command; ``--install`` runs it (as root, or
through sudo). On Debian 12 these packages, together with the system's base fonts and matplotlib's, hold
2,173 font faces, of which 1,066 are distinct and legible by the checks of ``pyadvman.data.font_selection``
(measured 2026-11-21). The choice: Latin text faces
(serif, sans, mono, TeX families, Noto), plus display families whose letters stay readable; the selection
drops what is not.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

DEBIAN_FONT_PACKAGES = (
    "fonts-3270", "fonts-adf-accanthis", "fonts-adf-baskervald", "fonts-adf-berenis", "fonts-adf-gillius",
    "fonts-adf-ikarius", "fonts-adf-irianis", "fonts-adf-libris", "fonts-adf-mekanus", "fonts-adf-oldania",
    "fonts-adf-romande", "fonts-adf-solothurn", "fonts-adf-switzera", "fonts-adf-tribun",
    "fonts-adf-universalis", "fonts-adf-verana", "fonts-aenigma", "fonts-agave", "fonts-alee",
    "fonts-allerta", "fonts-anonymous-pro", "fonts-apropal", "fonts-arapey", "fonts-arkpandora",
    "fonts-averia-gwf", "fonts-averia-sans-gwf", "fonts-averia-serif-gwf", "fonts-b612",
    "fonts-babelstone-modern", "fonts-bajaderka", "fonts-bebas-neue", "fonts-beteckna", "fonts-blankenburg",
    "fonts-breip", "fonts-cabin", "fonts-cabinsketch", "fonts-campania", "fonts-cantarell", "fonts-cardo",
    "fonts-cegui", "fonts-century-catalogue", "fonts-cherrybomb", "fonts-clear-sans", "fonts-cmu",
    "fonts-comfortaa", "fonts-comic-neue", "fonts-courier-prime", "fonts-creep2", "fonts-croscore",
    "fonts-crosextra-caladea", "fonts-crosextra-carlito", "fonts-dancingscript", "fonts-dejavu-extra",
    "fonts-dkg-handwriting", "fonts-dosis", "fonts-dustin", "fonts-ebgaramond", "fonts-ebgaramond-extra",
    "fonts-ecolier-court", "fonts-ecolier-lignes-court", "fonts-elstob", "fonts-engadget", "fonts-essays1743",
    "fonts-eurofurence", "fonts-f500", "fonts-fantasma", "fonts-fanwood", "fonts-femkeklaver",
    "fonts-firacode", "fonts-freefont-ttf", "fonts-gamaliel", "fonts-georgewilliams", "fonts-gnutypewriter",
    "fonts-go", "fonts-gotico-antiqua", "fonts-goudybookletter", "fonts-hack", "fonts-havana", "fonts-hermit",
    "fonts-humor-sans", "fonts-inter", "fonts-isabella", "fonts-jetbrains-mono", "fonts-joscelyn",
    "fonts-jsmath", "fonts-junction", "fonts-junicode", "fonts-jura", "fonts-karla", "fonts-karmilla",
    "fonts-katex", "fonts-kaushanscript", "fonts-klee", "fonts-kristi", "fonts-lato", "fonts-league-mono",
    "fonts-league-spartan", "fonts-leckerli-one", "fonts-levien-museum", "fonts-levien-typoscript",
    "fonts-liberation", "fonts-liberation2", "fonts-lindenhill", "fonts-linex", "fonts-linuxlibertine",
    "fonts-lmodern", "fonts-lobster", "fonts-lobstertwo", "fonts-lyx", "fonts-manrope", "fonts-mathjax",
    "fonts-monofur", "fonts-monoid", "fonts-mononoki", "fonts-mplus", "fonts-national-park",
    "fonts-noto-core", "fonts-noto-mono", "fonts-ocr-a", "fonts-ocr-b", "fonts-oflb-euterpe", "fonts-okolaks",
    "fonts-oldstandard", "fonts-open-sans", "fonts-opendin", "fonts-opendyslexic", "fonts-osifont",
    "fonts-oxygen", "fonts-paratype", "fonts-pc-extra", "fonts-play", "fonts-prociono", "fonts-quattrocento",
    "fonts-quicksand", "fonts-radisnoir", "fonts-reggae", "fonts-roadgeek", "fonts-roboto-slab",
    "fonts-roboto-unhinted", "fonts-rocknroll", "fonts-routed-gothic", "fonts-rufscript", "fonts-seto",
    "fonts-sil-andika", "fonts-sil-andikanewbasic", "fonts-sil-charis", "fonts-sil-doulos",
    "fonts-sil-gentium", "fonts-sil-gentium-basic", "fonts-sil-gentiumplus", "fonts-sjfonts",
    "fonts-smiley-sans", "fonts-sora", "fonts-spleen", "fonts-staypuft", "fonts-stick", "fonts-stix",
    "fonts-summersby", "fonts-terminus-otb", "fonts-texgyre", "fonts-tiresias", "fonts-tomsontalks",
    "fonts-train", "fonts-tuffy", "fonts-unikurdweb", "fonts-uniol", "fonts-uralic", "fonts-urw-base35",
    "fonts-vollkorn", "fonts-wine", "fonts-yanone-kaffeesatz", "fonts-yrsa-rasa",
)


def install_command() -> list[str]:
    """``apt-get install -y --no-install-recommends <packages>``, prefixed by sudo when not root."""
    command = ["apt-get", "install", "-y", "--no-install-recommends", *DEBIAN_FONT_PACKAGES]
    if hasattr(os, "geteuid") and os.geteuid() != 0 and shutil.which("sudo"):
        command.insert(0, "sudo")
    return command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyadvman.data.debian_fonts", description=__doc__.split("\n")[0])
    parser.add_argument("--install", action="store_true", help="run the apt-get command instead of printing it")
    args = parser.parse_args(argv)
    command = install_command()
    if not args.install:
        print(" ".join(command))
        return 0
    if shutil.which("apt-get") is None:
        print("debian_fonts: apt-get not found; this command is for Debian and Ubuntu", file=sys.stderr)
        return 1
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
