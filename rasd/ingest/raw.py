"""The raw layer: every input's bytes, unchanged, under their sha256.

Layout ``raw_dir/<sha256[:2]>/<sha256>``; writes go to a temporary file in the same
folder and are renamed into place, so a crash never leaves a half-written object,
and an object that already exists is not written again.
"""
from __future__ import annotations

import hashlib
import itertools
import os
import tempfile
from pathlib import Path

_CHUNK = 1 << 20
# Temporary names: unique per process (pid) and per write (counter); O_EXCL refuses a leftover of a crashed run.
_SEQ = itertools.count()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def raw_path(raw_dir: Path, digest: str) -> Path:
    return Path(raw_dir) / digest[:2] / digest


def archive_bytes(data: bytes, raw_dir: Path) -> str:
    """Store ``data`` in the raw layer (idempotent); return its sha256.

    Called once per input file and JSONL line, so it makes only the system calls it needs: a stat of the
    object, the creation of a temporary file beside it (its folder is created only when that fails),
    one write, and the rename into place. Same objects and modes (0600) as ``tempfile.mkstemp`` gave.
    """
    digest = hashlib.sha256(data).hexdigest()
    folder = os.path.join(raw_dir, digest[:2])
    dest = os.path.join(folder, digest)
    if os.path.exists(dest):
        return digest
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = os.path.join(folder, f".tmp-{os.getpid()}-{next(_SEQ)}")
        try:
            fd = os.open(tmp, flags, 0o600)
            break
        except FileNotFoundError:
            os.makedirs(folder, exist_ok=True)
        except FileExistsError:
            continue
    try:
        with open(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
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
