#!/usr/bin/env python3
"""Generates web/emoji-data.json, the emoji picker's data, from Unicode's emoji-test.txt.

Run once when the Unicode data changes and commit the result; the page has no build step, so the
generated file is what ships. The source is Debian's `unicode-data` package:

    scripts/gen-emoji-data.py [/usr/share/unicode/emoji/emoji-test.txt] [web/emoji-data.json]

Kept: fully-qualified emoji, in the file's (CLDR) order, grouped as Unicode groups them. Left out:
the "Component" group (bare skin tones and hair styles are not emoji to send on their own) and
skin-tone variants (the picker offers the default form; 5x fewer entries keeps the file small).
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = Path("/usr/share/unicode/emoji/emoji-test.txt")
DEFAULT_TARGET = ROOT / "web" / "emoji-data.json"

SKIN_TONES = {0x1F3FB, 0x1F3FC, 0x1F3FD, 0x1F3FE, 0x1F3FF}
LINE = re.compile(r"^(?P<codes>[0-9A-F ]+?)\s*;\s*(?P<status>[a-z-]+)\s*#\s*\S+\s+E(?P<since>[\d.]+)\s+(?P<name>.+)$")


def parse(text: str) -> dict:
    version = re.search(r"^# Version: ([\d.]+)", text, re.M)
    groups: list[dict] = []
    group = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("# group:"):
            name = line.split(":", 1)[1].strip()
            group = None if name == "Component" else {"name": name, "emoji": []}
            if group:
                groups.append(group)
            continue
        if not line or line.startswith("#") or group is None:
            continue
        m = LINE.match(line)
        if not m:
            raise ValueError(f"unexpected line in emoji-test.txt: {raw!r}")
        if m["status"] != "fully-qualified":
            continue
        codes = [int(c, 16) for c in m["codes"].split()]
        if SKIN_TONES.intersection(codes):
            continue
        group["emoji"].append(["".join(map(chr, codes)), m["name"].strip().lower()])
    return {
        "source": f"Unicode emoji-test.txt {version[1] if version else '?'}",
        "groups": [{"name": g["name"], "emoji": g["emoji"]} for g in groups if g["emoji"]],
    }


def main() -> int:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_TARGET
    data = parse(source.read_text(encoding="utf-8"))
    # One group per line: small, and a diff after a Unicode update stays readable.
    lines = ['{"source":' + json.dumps(data["source"]) + ',"groups":[']
    for i, g in enumerate(data["groups"]):
        sep = "," if i < len(data["groups"]) - 1 else ""
        lines.append(json.dumps(g, ensure_ascii=False, separators=(",", ":")) + sep)
    lines.append("]}")
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    count = sum(len(g["emoji"]) for g in data["groups"])
    print(f"{target}: {count} emoji in {len(data['groups'])} groups, {target.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
