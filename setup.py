"""Build hooks for the optional compiled modules; the project's metadata lives in pyproject.toml.

* ``rasd._acscan``: the C Aho-Corasick scanner (rasd/_acscan.c). Without it rasd uses pyahocorasick
  (rasd.extract.common.new_automaton), with the same results.
* ``rasd._casscan``: the C tokenizer of casualty and number figures (rasd/_casscan.c). Without it rasd uses the
  regular expression of rasd.extract.numbers, with the same tokens.
* ``rasd.extract._cy_<module>``: the extraction modules in TWINS compiled by Cython (pure-Python mode: the
  very same .py source, no type declarations) when Cython is installed ([build-system] requires it). Each
  twin records the sha256 of the source it was built from; the pure module replaces itself with its twin
  only when that matches (rasd.extract.common.compiled_twin), so a stale build is never used.

All are ``optional=True``: without a C compiler (or Cython) the install still succeeds and rasd runs pure.
"""
import hashlib
from pathlib import Path

from setuptools import Extension, setup

# Modules of rasd/extract compiled as twins (the sentence loop and the finders it calls most).
TWINS = ("events", "dates", "event_types", "actors", "places", "casualties", "numbers")
# Generated twin sources (source + its digest) live under build/, never in the package.
_GEN = Path("build") / "cython" / "rasd" / "extract"


def _twins() -> list:
    try:
        from Cython.Build import cythonize
    except ImportError:  # no Cython: the pure modules run
        return []
    _GEN.mkdir(parents=True, exist_ok=True)
    exts = []
    for m in TWINS:
        data = Path("rasd", "extract", f"{m}.py").read_bytes()
        text = data + f"\n_BUILT_FROM = {hashlib.sha256(data).hexdigest()!r}  # sha256 of {m}.py (setup.py)\n".encode()
        gen = _GEN / f"_cy_{m}.py"
        if not gen.is_file() or gen.read_bytes() != text:  # unchanged: Cython and gcc skip it
            gen.write_bytes(text)
        exts.append(Extension(f"rasd.extract._cy_{m}", [str(gen)], optional=True,
                              extra_compile_args=["-O2", "-g0"]))
    # annotation_typing=False: annotations stay documentation (Python semantics exactly, no C ints).
    return cythonize(exts, quiet=True, compiler_directives={
        "language_level": 3, "annotation_typing": False, "binding": True})


setup(ext_modules=[
    Extension("rasd._acscan", ["rasd/_acscan.c"], optional=True),
    Extension("rasd._casscan", ["rasd/_casscan.c"], optional=True),
] + _twins())
