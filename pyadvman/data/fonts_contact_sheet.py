"""``python -m pyadvman.data.fonts_contact_sheet --out DIR``: finds this machine's fonts, keeps the distinct
legible ones and writes DIR/fonts_contact_sheet.png (every kept font, A–J) and DIR/fonts.json (kept faces,
rejected faces with the reason)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pyadvman.data.fonts import FontsConfig, available_fonts
from pyadvman.data.image_tiles import fonts_contact_sheet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyadvman.data.fonts_contact_sheet", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG and the JSON")
    parser.add_argument("--font-dir", action="append", default=[], help="extra font folder (repeatable)")
    parser.add_argument("--no-system-fonts", action="store_true", help="only the --font-dir folders")
    args = parser.parse_args(argv)
    cfg = FontsConfig(font_dirs=tuple(args.font_dir), system_fonts=not args.no_system_fonts)
    fonts = available_fonts(cfg)
    args.out.mkdir(parents=True, exist_ok=True)
    sheet = fonts_contact_sheet(fonts.prototypes, args.out / "fonts_contact_sheet.png")
    report = {"kept": [{"name": f.name, "path": f.path, "index": f.index} for f in fonts.faces],
              "rejected": fonts.rejected}
    (args.out / "fonts.json").write_text(json.dumps(report, indent=1))
    print(f"{len(fonts)} distinct legible fonts ({len(fonts.rejected)} faces rejected): {sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
