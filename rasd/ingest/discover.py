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
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not _hidden(d))
        for name in filenames:
            if not _hidden(name):
                p = Path(dirpath) / name
                if p.is_symlink() and not _inside(p, real_root):
                    files.append(p)  # kind "link": quarantined unread (a link could publish /etc/passwd)
                elif p.is_file():
                    files.append(p)
    # Sidecars: <stem>.json in the same folder as a .txt/.html of that stem (suffix case-insensitive).
    by_dir_stem: dict[tuple[Path, str], list[Path]] = {}
    for p in files:
        if p.suffix.lower() == ".json" and not p.is_symlink():
            by_dir_stem.setdefault((p.parent, p.stem), []).append(p)
    sidecars: set[Path] = set()
    items: list[InputItem] = []
    for p in files:
        kind = "link" if p.is_symlink() and not _inside(p, real_root) else TEXT_SUFFIXES.get(p.suffix.lower())
        sidecar = None
        if kind in ("txt", "html"):
            cands = sorted(by_dir_stem.get((p.parent, p.stem), []))
            if cands:
                sidecar = cands[0]
                sidecars.add(sidecar)
        items.append(InputItem(p.relative_to(root).as_posix(), p, kind or "other", sidecar))
    items = [i for i in items if i.path not in sidecars]
    items.sort(key=lambda i: i.source_path)
    return items
