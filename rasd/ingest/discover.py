"""Find every input under a folder, deterministically, so that each one is accounted for."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TEXT_SUFFIXES = {".txt": "txt", ".text": "txt", ".html": "html", ".htm": "html", ".xhtml": "html",
                 ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True)
class InputItem:
    source_path: str  # POSIX path relative to the input folder
    path: Path
    kind: str  # "txt" | "html" | "jsonl" | "other" | "link" (a symlink leaving the input folder)
    sidecar: Path | None = None  # <stem>.json next to a .txt/.html


def _hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("~$") or name.endswith("~")


def _inside(p: Path, real_root: Path) -> bool:
    try:
        return p.resolve().is_relative_to(real_root)
    except (OSError, RuntimeError):  # a link loop
        return False


def discover(input_dir: Path) -> list[InputItem]:
    """All inputs under ``input_dir`` (recursive, sorted by relative path, hidden files skipped).

    A ``.json`` next to a ``.txt``/``.html`` of the same stem is that file's sidecar, not an
    item. Anything else rasd cannot read is returned with kind ``"other"`` so that it is
    quarantined rather than silently ignored. Symlinked folders are not followed (no loops).
    """
    root = Path(input_dir)
    real_root = root.resolve()
    # (relative posix path, path, leaves the folder?) of every file; os.scandir's entries know file/link type
    # without a stat per file (a 1M-article folder has 1.1M files).
    files: list[tuple[str, Path, bool]] = []
    stack = [(root, "")]
    while stack:
        folder, rel = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            if _hidden(e.name):
                continue
            r = f"{rel}{e.name}"
            if e.is_symlink():
                p = Path(e.path)
                if not _inside(p, real_root):
                    files.append((r, p, True))  # kind "link": quarantined unread (a link could publish /etc/passwd)
                elif p.is_file():
                    files.append((r, p, False))
            elif e.is_dir(follow_symlinks=False):
                stack.append((Path(e.path), r + "/"))
            elif e.is_file(follow_symlinks=False):
                files.append((r, Path(e.path), False))
    # Sidecars: <stem>.json in the same folder as a .txt/.html of that stem (suffix case-insensitive).
    by_dir_stem: dict[tuple[str, str], list[tuple[str, Path]]] = {}
    for r, p, out in files:
        if not out and r[-5:].lower() == ".json":
            d, _, name = r.rpartition("/")
            by_dir_stem.setdefault((d, name[:-5]), []).append((r, p))
    sidecars: set[str] = set()
    items: list[InputItem] = []
    for r, p, out in files:
        d, _, name = r.rpartition("/")
        stem, dot, suffix = name.rpartition(".")
        if not dot or not stem:
            stem, suffix = name, ""
        kind = "link" if out else TEXT_SUFFIXES.get("." + suffix.lower() if suffix else "")
        sidecar = None
        if kind in ("txt", "html"):
            cands = sorted(by_dir_stem.get((d, stem), []))
            if cands:
                sidecar = cands[0][1]
                sidecars.add(cands[0][0])
        items.append(InputItem(r, p, kind or "other", sidecar))
    items = [i for i in items if i.source_path not in sidecars]
    items.sort(key=lambda i: i.source_path)
    return items
