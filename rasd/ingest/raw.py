"""The raw layer: every input's bytes, unchanged, under their sha256.

Layout ``raw_dir/<sha256[:2]>/<sha256>``; writes go to a temporary file in the same
folder and are renamed into place, so a crash never leaves a half-written object,
and an object that already exists is not written again.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def raw_path(raw_dir: Path, digest: str) -> Path:
    return Path(raw_dir) / digest[:2] / digest


def _publish(tmp: Path, dest: Path) -> None:
    try:
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def archive_bytes(data: bytes, raw_dir: Path) -> str:
    """Store ``data`` in the raw layer (idempotent); return its sha256."""
    digest = sha256_bytes(data)
    dest = raw_path(raw_dir, digest)
    if dest.exists():
        return digest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    _publish(Path(name), dest)
    return digest


def hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def archive_file(path: Path, raw_dir: Path) -> str:
    """Stream a (possibly large) file into the raw layer without loading it; return its sha256.

    The source file is only read, never moved or modified.
    """
    raw_dir = Path(raw_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    fd, name = tempfile.mkstemp(dir=raw_dir, prefix=".tmp-")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
            for chunk in iter(lambda: src.read(_CHUNK), b""):
                h.update(chunk)
                out.write(chunk)
        digest = h.hexdigest()
        dest = raw_path(raw_dir, digest)
        if dest.exists():
            return digest
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)
        return digest
    finally:
        if tmp.exists():
            tmp.unlink()


__all__ = ["archive_bytes", "archive_file", "hash_file", "raw_path", "sha256_bytes"]
