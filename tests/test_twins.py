"""The compiled twins of the extraction modules (setup.py: Cython, pure-Python mode) give exactly what the
pure modules give, are used only when built from the current source, and the pure modules still run
when no twin is there.
"""
from __future__ import annotations

import ast
import datetime as dt
import importlib
import importlib.util
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from rasd.extract.common import compiled_twin, source_digest

ROOT = Path(__file__).resolve().parent.parent
TWINS = ("events", "dates", "event_types", "actors", "places", "casualties", "numbers")  # = setup.py TWINS


def _built() -> list[str]:
    return [m for m in TWINS if importlib.util.find_spec(f"rasd.extract._cy_{m}") is not None]


def test_setup_compiles_the_listed_modules():
    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    listed = [ast.literal_eval(n.value) for n in tree.body
              if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "TWINS" for t in n.targets)]
    assert listed == [TWINS]


def test_built_twins_are_current_and_used():
    built = _built()
    if not built:
        pytest.skip("no compiled twin built (pip install -e . with Cython)")
    for m in built:
        mod = importlib.import_module(f"rasd.extract.{m}")
        # a twin built from another version of the source is refused: rebuild (make / setup.py build_ext)
        assert mod.__name__ == f"rasd.extract._cy_{m}", f"rasd/extract/{m}.py changed since its twin was built"
        assert mod._BUILT_FROM == source_digest(ROOT / "rasd" / "extract" / f"{m}.py")
        assert not mod.__file__.endswith(".py")


def _write_module(folder: Path, name: str, body: str) -> Path:
    p = folder / f"{name}.py"
    p.write_text(body, encoding="utf-8")
    return p


def test_twin_is_used_only_when_built_from_this_source(tmp_path, monkeypatch):
    pkg = tmp_path / "twinpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    src = _write_module(pkg, "mod", "X = 'pure'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert compiled_twin("twinpkg.mod", str(src)) is None  # no twin

    _write_module(pkg, "_cy_mod", f"X = 'twin'\n_BUILT_FROM = {source_digest(src)!r}\n")
    twin = compiled_twin("twinpkg.mod", str(src))
    assert twin is not None and twin.X == "twin"
    assert compiled_twin("twinpkg._cy_mod", str(pkg / "_cy_mod.py")) is None  # the twin never looks for its own

    src.write_text("X = 'pure, edited'\n", encoding="utf-8")  # the source changed after the build: stale
    assert compiled_twin("twinpkg.mod", str(src)) is None


# Runs the extraction in a fresh interpreter, optionally with every compiled twin hidden (the pure modules).
_RUNNER = r"""
import importlib.abc, pickle, sys
pure = sys.argv[1] == "pure"

class HideTwins(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if "._cy_" in name:
            raise ImportError(name)
        return None

if pure:
    sys.meta_path.insert(0, HideTwins())
from rasd.extract.events import Extractor
import rasd.extract.events as E
arts = pickle.loads(open(sys.argv[2], "rb").read())
ex = Extractor.load()
out = [ex.extract(a) for a in arts]
open(sys.argv[3], "wb").write(pickle.dumps((E.__name__, out)))
"""


def _articles() -> list[dict]:
    from rasd.text.normalize import clean_chars

    arts = []
    for i, p in enumerate(sorted((ROOT / "data" / "sample").glob("*.txt"))):
        text = clean_chars(p.read_text(encoding="utf-8"))
        for pub in (dt.date(2022, 10, 21), None):
            arts.append({"article_id": f"s{i}-{pub}", "doc_key": p.stem, "text": text, "published_at": pub,
                         "outlet": None, "title": text.splitlines()[0], "language": "ar"})
    for f in sorted((ROOT / "tests" / "cases").glob("*.jsonl")):
        for k, line in enumerate(f.read_text(encoding="utf-8").splitlines()):
            if not line.strip():
                continue
            d = json.loads(line)
            text, pub = d.get("req"), (d.get("ctx") or {}).get("published_at")
            if isinstance(text, str) and text.strip():
                text = clean_chars(text)
                arts.append({"article_id": f"{f.stem}-{k}", "doc_key": f"{f.stem}-{k}", "text": text,
                             "published_at": dt.date.fromisoformat(pub[:10]) if pub else None, "outlet": None,
                             "title": text.splitlines()[0], "language": "ar"})
    return arts


@pytest.mark.slow
def test_compiled_equals_pure(tmp_path):
    if "events" not in _built():
        pytest.skip("no compiled twin built (pip install -e . with Cython)")
    arts = _articles()
    assert len(arts) > 200
    inp = tmp_path / "arts.pkl"
    inp.write_bytes(pickle.dumps(arts))
    runner = tmp_path / "run.py"
    runner.write_text(_RUNNER, encoding="utf-8")
    res = {}
    for mode in ("pure", "compiled"):
        out = tmp_path / f"{mode}.pkl"
        subprocess.run([sys.executable, str(runner), mode, str(inp), str(out)], check=True, cwd=ROOT,
                       env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
        res[mode] = pickle.loads(out.read_bytes())
    assert res["pure"][0] == "rasd.extract.events"
    assert res["compiled"][0] == "rasd.extract._cy_events"
    assert sum(map(len, res["pure"][1])) > 100  # the articles do report events
    assert res["compiled"][1] == res["pure"][1]
