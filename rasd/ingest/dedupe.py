"""Exact and near-duplicate detection (syndicated copies, small edits, mirror sites).

Near duplicates: MinHash LSH over word 5-shingles of the normalised text; a candidate counts when its
estimated Jaccard similarity reaches the threshold. Each duplicate points at the first-seen article; only
first-seen articles are indexed, so chains of edits all resolve to the same original.

The signatures are datasketch's ``MinHash(num_perm=128, seed=1, hashfunc=shingle_hash32)`` (its affine32
permutations over a 32-bit polynomial hash of each shingle's code points, ``shingle_hash32``), computed here for a
whole batch of texts at once with numpy, and the LSH banding is datasketch's for the same threshold
(``MinHashLSH(threshold, 128)``: 11 bands of 11 rows), so the decisions are those of ``MinHash``/``MinHashLSH``.
(Until session 5 the shingle hash was datasketch's default SHA-1: one C call per shingle, ~60 % of the MinHash
cost. The two hashes are equally good estimators, but borderline pairs, true Jaccard ~0.77–0.97, flip either way:
186 of 100,000 decisions of the benchmark corpus; ``version()`` changed, so older stored signatures are re-made.) Signatures are plain ``uint32`` rows, so a publication
can store them (``signature_table``) and the next run loads them instead of re-hashing every text
(``DuplicateIndex.add_signatures``); the index of loaded signatures is a few sorted numpy arrays.

In a run, ``rasd.pipeline.ingest_batch`` computes the signatures of each batch on the worker that reads it, and
``clean_articles`` only compares them, a batch at a time, with :class:`BatchIndex` (the same decisions as
``DuplicateIndex``, held in numpy arrays: ~640 bytes per original, so 1M originals fit in ~650 MB).
"""
from __future__ import annotations

import hashlib
import re
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa

from rasd.text.normalize import normalize

NUM_PERM = 128
SHINGLE = 5
SEED = 1
_WORD = re.compile(r"\w+")
_SIG_BYTES = NUM_PERM * 4
_CHUNK = 16384  # shingle hashes permuted at once (a 128 x 16384 uint32 block: 8 MB); 1024–65536


def shingles(text: str, k: int = SHINGLE) -> set[str]:
    """Word k-shingles of the normalised text (the whole text as one shingle when shorter)."""
    words = _WORD.findall(normalize(text))
    if not words:
        return set()
    if len(words) <= k:
        return {" ".join(words)}
    return {" ".join(words[i:i + k]) for i in range(len(words) - k + 1)}


_PERMS: tuple[np.ndarray, np.ndarray] | None = None


def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutations for SEED (``MinHash._init_permutations``), computed the way it does, without
    importing datasketch (its import pulls in scipy: ~0.8 CPU s and ~50 MB in every ingest worker);
    ``tests/test_dedupe.py`` checks them against datasketch."""
    global _PERMS
    if _PERMS is None:
        gen = np.random.RandomState(SEED)
        a = gen.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
        b = gen.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
        _PERMS = (a, b)
    return _PERMS


def _fmix32(hv: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser (datasketch pre-mixes shingle hashes with it)."""
    hv = hv ^ (hv >> np.uint32(16))
    hv = hv * np.uint32(0x85EBCA6B)
    hv = hv ^ (hv >> np.uint32(13))
    hv = hv * np.uint32(0xC2B2AE35)
    return hv ^ (hv >> np.uint32(16))


def _shingle_bytes(text: str, k: int = SHINGLE) -> list[bytes]:
    """The UTF-8 bytes of the word k-shingles, repeats included (a MinHash is the same over the set)."""
    words = _WORD.findall(normalize(text)) if text else []
    if len(words) <= k:
        return [" ".join(words).encode("utf-8")] if words else []
    wb = [w.encode("utf-8") for w in words]
    return [b" ".join(wb[i:i + k]) for i in range(len(wb) - k + 1)]


_WORD_TABLE: np.ndarray | None = None


def _word_chars(cps: np.ndarray) -> np.ndarray:
    """For each code point: does ``_WORD`` count it as a word character? A table of the BMP built from ``_WORD``
    itself (64 KB, ~20 ms once), so the numpy word split of ``_batch_shingles`` is exactly ``_WORD.findall``; the rare
    code points beyond the BMP (emoji, mathematical letters) are asked of ``_WORD`` one distinct code point at a time."""
    global _WORD_TABLE
    if _WORD_TABLE is None:
        table = np.zeros(0x10000, dtype=bool)
        for m in _WORD.finditer("".join(map(chr, range(0x10000)))):
            table[m.start():m.end()] = True
        _WORD_TABLE = table
    astral = cps > 0xFFFF
    if not astral.any():
        return _WORD_TABLE[cps]
    out = _WORD_TABLE[np.where(astral, 0, cps)]
    distinct, inv = np.unique(cps[astral], return_inverse=True)
    out[astral] = np.array([_WORD.fullmatch(chr(c)) is not None for c in distinct.tolist()], dtype=bool)[inv]
    return out


def _shingle_spans(texts: list[str], k: int = SHINGLE, normalized: bool = False
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The word k-shingles of many texts at once, as ``_shingle_bytes`` gives them, without a Python step per word.

    Returns (``cj``, ``lo``, ``hi``, ``counts``): ``cj`` is the code points (``uint32``) of every word of every
    normalised text in order, one space between words (also between texts: a shingle never spans two texts, by its
    bounds); shingle j is ``cj[lo[j]:hi[j]]``, the shingles of text 0 first, then text 1's..., ``counts[i]`` of them
    for text i. ``normalized``: the texts are already ``normalize``d.
    """
    n = len(texts)
    norms = texts if normalized else [normalize(t) if t else "" for t in texts]
    # one non-word separator between texts, so that no word spans two texts
    big = "\n".join(norms)
    cps = np.frombuffer(big.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    isw = _word_chars(cps)
    edge = np.diff(isw.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    wst = np.flatnonzero(edge == 1)  # words: code points [wst, wen) of big
    wen = np.flatnonzero(edge == -1)
    if not len(wst):
        return np.empty(0, np.uint32), np.empty(0, np.int64), np.empty(0, np.int64), np.zeros(n, np.int64)
    # the text of each word (text i starts at code point tst[i] of big)
    tlen = np.fromiter(map(len, norms), dtype=np.int64, count=n)
    tst = np.concatenate([[0], np.cumsum(tlen + 1)[:-1]])
    tid = np.searchsorted(tst, wst, side="right") - 1
    nwords = np.bincount(tid, minlength=n)
    first = np.concatenate([[0], np.cumsum(nwords)[:-1]])  # index of each text's first word
    # cj: the word characters, and the first character of each gap between two words as one space
    keep = isw.copy()
    cj = cps.copy()
    keep[wen[:-1]] = True
    cj[wen[:-1]] = 32
    cj = cj[keep].astype(np.uint32)
    pos = np.cumsum(keep) - 1  # index in cj of each kept code point of big
    cst = pos[wst]
    cen = pos[wen - 1] + 1
    # shingles: in a text of more than k words, one per window of k words; in a shorter one, all its words
    w = np.arange(len(wst))
    nw_of = nwords[tid]
    last = first[tid] + nw_of - 1
    start = np.flatnonzero(np.where(nw_of > k, w + k - 1 <= last, w == first[tid]))
    end = np.where(nw_of[start] > k, start + k - 1, last[start])
    counts = np.bincount(tid[start], minlength=n)
    return cj, cst[start], cen[end], counts


def _batch_shingles(texts: list[str], k: int = SHINGLE, normalized: bool = False
                    ) -> tuple[bytes, np.ndarray, np.ndarray, np.ndarray]:
    """``_shingle_spans`` as UTF-8: (``joined``, ``lo``, ``hi``, ``counts``), shingle j is ``joined[lo[j]:hi[j]]``
    (the reference the tests compare with ``_shingle_bytes``)."""
    cj, lo, hi, counts = _shingle_spans(texts, k, normalized)
    if not len(lo):
        return b"", lo, hi, counts
    blen = 1 + (cj >= 0x80).astype(np.int64) + (cj >= 0x800) + (cj >= 0x10000)
    boff = np.concatenate([[0], np.cumsum(blen)])
    joined = cj.astype("<u4").tobytes().decode("utf-32-le", "surrogatepass").encode("utf-8", "surrogatepass")
    return joined, boff[lo], boff[hi], counts


# The 32-bit shingle hash (dedupe version "poly64"): a polynomial over the shingle's code points modulo 2^64
# (h = sum cp[i] * _Q^i), its length mixed in, then splitmix64's finaliser; the top 32 bits. Computed for a whole
# batch with one prefix sum (a shingle is a slice of ``cj``: (T[hi] - T[lo]) * _Q^-lo), where SHA-1 cost one C call
# per shingle. Collisions of a polynomial hash mod 2^64 need crafted strings of thousands of characters (a shingle is
# five words); a collision would only make two shingles count as one in the Jaccard estimate.
_Q = 0x9E3779B97F4A7C15  # odd, so invertible modulo 2^64
_Q_INV = pow(_Q, -1, 1 << 64)
_LEN_MIX = 0xD6E8FEB86659FD93
_M64 = (1 << 64) - 1


def shingle_hash32(shingle: str) -> int:
    """The hash of one shingle (its words joined by one space), one code point at a time: the reference
    ``_shingle_hashes`` computes in bulk (``tests/test_dedupe.py`` feeds it to datasketch's ``MinHash``)."""
    h, q = 0, 1
    for ch in shingle:
        h = (h + ord(ch) * q) & _M64
        q = (q * _Q) & _M64
    h ^= (len(shingle) * _LEN_MIX) & _M64
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & _M64
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & _M64
    h ^= h >> 31
    return h >> 32


_POW: tuple[np.ndarray, np.ndarray] = (np.ones(1, np.uint64), np.ones(1, np.uint64))


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """_Q^i and _Q^-i modulo 2^64 for i < n (cached, grown by doubling)."""
    global _POW
    if len(_POW[0]) < n:
        m = max(n, 2 * len(_POW[0]), 1 << 16)
        with np.errstate(over="ignore"):
            q = np.full(m, _Q, np.uint64)
            q[0] = 1
            qi = np.full(m, _Q_INV, np.uint64)
            qi[0] = 1
            _POW = (np.multiply.accumulate(q), np.multiply.accumulate(qi))
    return _POW[0][:n], _POW[1][:n]


def _shingle_hashes(cj: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``shingle_hash32`` of every shingle ``cj[lo[j]:hi[j]]`` at once (``uint32``)."""
    p, pinv = _powers(len(cj) + 1)
    with np.errstate(over="ignore"):
        t = np.empty(len(cj) + 1, np.uint64)
        t[0] = 0
        np.cumsum(cj.astype(np.uint64) * p[:len(cj)], out=t[1:])
        h = (t[hi] - t[lo]) * pinv[lo]
        h ^= (hi - lo).astype(np.uint64) * np.uint64(_LEN_MIX)
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return (h >> np.uint64(32)).astype(np.uint32)


_TEXT_CHARS = 1_000_000  # code points of texts shingled at a time by ``signatures`` (~40 MB of temporaries); 1e5–1e8


def signatures(texts: Iterable[str], normalized: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """MinHash signatures of many texts: (``uint32`` matrix n x NUM_PERM, bool mask of texts with shingles).

    Rows of texts without shingles are all 0xFFFFFFFF (never indexed, never matched). ``normalized``: the texts are
    already ``rasd.text.normalize.normalize``d (the same signatures, without normalising them again). Texts are
    shingled in groups of about ``_TEXT_CHARS`` code points (bounded memory for a whole publication's texts)."""
    texts = list(texts)
    n = len(texts)
    out = np.full((n, NUM_PERM), 0xFFFFFFFF, dtype=np.uint32)
    nonempty = np.zeros(n, dtype=bool)
    i = 0
    while i < n:
        j, size = i, 0
        while j < n and (size <= _TEXT_CHARS or j == i):
            size += len(texts[j])
            j += 1
        out[i:j], nonempty[i:j] = _signatures(texts[i:j], normalized)
        i = j
    return out, nonempty


def _signatures(texts: list[str], normalized: bool) -> tuple[np.ndarray, np.ndarray]:
    a, b = _permutations()
    cj, lo, hi, cnt = _shingle_spans(texts, normalized=normalized)
    n = len(texts)
    out = np.full((n, NUM_PERM), 0xFFFFFFFF, dtype=np.uint32)
    if not len(lo):
        return out, np.zeros(n, dtype=bool)
    nonempty = cnt > 0
    hv = _fmix32(_shingle_hashes(cj, lo, hi))  # datasketch's affine32 scheme pre-mixes the input hash with fmix32
    del cj
    ends = np.cumsum(cnt)
    starts = ends - cnt
    docs = np.flatnonzero(nonempty)
    # Permute the hashes of consecutive documents in blocks of about _CHUNK shingles; a min per document. The block
    # is permutations x shingles, so that each document's min runs along contiguous memory (4x faster than the
    # shingles x permutations layout).
    a_col, b_col = a[:, None], b[:, None]
    i = 0
    with np.errstate(over="ignore"):
        while i < len(docs):
            j = i
            lo_ = starts[docs[i]]
            while j < len(docs) and (ends[docs[j]] - lo_ <= _CHUNK or j == i):
                j += 1
            hi_ = ends[docs[j - 1]]
            phv = a_col * hv[None, lo_:hi_]
            phv += b_col
            offs = starts[docs[i:j]] - lo_
            out[docs[i:j]] = np.minimum.reduceat(phv, offs, axis=1).T
            i = j
    return out, nonempty


def signature(text: str) -> np.ndarray | None:
    sig, ok = signatures([text])
    return sig[0] if ok[0] else None


_BAND_PARAMS: dict[float, tuple[int, int]] = {}


def _band_params(threshold: float) -> tuple[int, int]:
    """datasketch's ``MinHashLSH(threshold - 0.1, NUM_PERM)`` bands and rows, computed without importing datasketch
    (its import pulls in scipy: ~1-2 CPU s per run). Like its ``_optimal_param`` (weights 0.5/0.5): the (b, r) with
    b * r <= NUM_PERM minimising the false-positive area below the LSH threshold plus the false-negative area above.
    The integrands are polynomials of degree b * r <= 128, so Gauss-Legendre with 80 nodes integrates them exactly
    (to rounding) where datasketch uses scipy's quad; ``tests/test_dedupe.py`` checks the choice against datasketch."""
    t = max(0.1, min(0.9, threshold - 0.1))
    if t not in _BAND_PARAMS:
        x, w = np.polynomial.legendre.leggauss(80)
        pairs = [(b, r) for b in range(1, NUM_PERM + 1) for r in range(1, NUM_PERM // b + 1)]
        bb = np.asarray([p[0] for p in pairs], dtype=np.float64)[:, None]
        rr = np.asarray([p[1] for p in pairs], dtype=np.float64)[:, None]

        def area(lo: float, hi: float, fn) -> np.ndarray:
            s = (hi - lo) / 2 * x[None, :] + (hi + lo) / 2
            return (hi - lo) / 2 * (fn(s) * w[None, :]).sum(axis=1)

        fp = area(0.0, t, lambda s: 1 - (1 - s ** rr) ** bb)
        fn = area(t, 1.0, lambda s: (1 - s ** rr) ** bb)
        err = fp * 0.5 + fn * 0.5
        _BAND_PARAMS[t] = pairs[int(np.argmin(err))]  # argmin: the first minimum, as datasketch's strict "<"
    return _BAND_PARAMS[t]


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _band_keys(sigs: np.ndarray, b: int, r: int) -> np.ndarray:
    """One 64-bit key per (row, band): a hash of the band's r values (a collision only adds a candidate,
    which the Jaccard check then judges)."""
    with np.errstate(over="ignore"):
        h = np.full((len(sigs), b), 0xCBF29CE484222325, dtype=np.uint64)
        for k in range(r):
            # row k of every band (columns k, r + k, ...): n x b at a time, not an n x b x r uint64 copy (~1 GB at 1M)
            h ^= sigs[:, k: b * r: r]
            h *= _MIX
            h ^= h >> np.uint64(29)
    return h


class DuplicateIndex:
    """Remember articles; tell whether a new one repeats (exactly or nearly) one seen before."""

    def __init__(self, threshold: float = 0.85):
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        self.threshold = threshold
        # LSH only proposes candidates; a lower banding threshold misses fewer of them, and each
        # candidate is then checked against the real threshold (LSH cannot band above ~0.95).
        self.b, self.r = _band_params(threshold)
        # loaded signatures (add_signatures): ids, matrix, per band sorted keys and their row numbers
        self._base_ids: list[str] = []
        self._base_sigs = np.empty((0, NUM_PERM), dtype=np.uint32)
        self._base_keys: list[np.ndarray] = []
        self._base_rows: list[np.ndarray] = []
        # added one by one: rank -> id / signature, per band key -> ranks
        self._ids: list[str] = []
        self._sigs: list[np.ndarray] = []
        self._bands: list[dict[int, list[int]]] = [{} for _ in range(self.b)]
        self._root: dict[str, str] = {}  # article_id -> first-seen article_id (ids added or checked one by one)
        self._base_set: set[str] | None = None

    def __len__(self) -> int:
        return len(self._base_ids) + len(self._ids)

    def __contains__(self, article_id: str) -> bool:
        if article_id in self._root:
            return True
        if self._base_ids and self._base_set is None:
            self._base_set = set(self._base_ids)
        return bool(self._base_set) and article_id in self._base_set

    # ---------------------------------------------------------------- signatures in bulk

    def add_signatures(self, ids: Sequence[str], sigs: np.ndarray) -> None:
        """Index many originals at once from stored signatures (in first-seen order); before any ``add``."""
        if self._ids:
            raise RuntimeError("add_signatures must come before articles are added one by one")
        sigs = np.ascontiguousarray(sigs, dtype=np.uint32)
        self._base_ids = list(self._base_ids) + list(ids)
        self._base_sigs = np.concatenate([self._base_sigs, sigs]) if len(self._base_sigs) else sigs
        self._base_set = None
        keys = _band_keys(self._base_sigs, self.b, self.r)
        self._base_keys, self._base_rows = [], []
        for j in range(self.b):
            order = np.argsort(keys[:, j], kind="stable")
            self._base_keys.append(keys[order, j])
            self._base_rows.append(order)

    def originals(self) -> tuple[list[str], np.ndarray]:
        """Every indexed original (first-seen order) and its signature: what ``signature_table`` stores."""
        if not self._sigs:
            return list(self._base_ids), self._base_sigs
        return self._base_ids + self._ids, np.concatenate([self._base_sigs, np.stack(self._sigs)])

    # ---------------------------------------------------------------- one article

    def _candidates(self, keys: np.ndarray) -> list[int]:
        """Ranks (first-seen order) of the indexed originals sharing a band with ``keys``."""
        found: set[int] = set()
        nb = len(self._base_ids)
        for j in range(self.b):
            k = keys[j]
            if nb:
                bk = self._base_keys[j]
                lo = int(np.searchsorted(bk, k, "left"))
                if lo < nb and bk[lo] == k:
                    hi = int(np.searchsorted(bk, k, "right"))
                    found.update(self._base_rows[j][lo:hi].tolist())
            hit = self._bands[j].get(int(k))
            if hit:
                found.update(nb + x for x in hit)
        return sorted(found)

    def _sig_of(self, rank: int) -> np.ndarray:
        nb = len(self._base_ids)
        return self._base_sigs[rank] if rank < nb else self._sigs[rank - nb]

    def _id_of(self, rank: int) -> str:
        nb = len(self._base_ids)
        return self._base_ids[rank] if rank < nb else self._ids[rank - nb]

    def band_keys(self, sigs: np.ndarray) -> np.ndarray:
        """LSH band keys of many signatures at once (to pass to the ``*_signature`` methods)."""
        return _band_keys(np.atleast_2d(sigs), self.b, self.r)

    def find_signature(self, sig: np.ndarray | None, keys: np.ndarray | None = None) -> str | None:
        """The first-seen original this signature nearly repeats, or None."""
        if sig is None or not len(self):
            return None
        if keys is None:
            keys = _band_keys(sig[None, :], self.b, self.r)[0]
        for rank in self._candidates(keys):  # ascending rank: the first match is the first seen
            if float(np.count_nonzero(self._sig_of(rank) == sig)) / float(NUM_PERM) >= self.threshold:
                return self._id_of(rank)
        return None

    def add_signature(self, article_id: str, sig: np.ndarray | None, keys: np.ndarray | None = None) -> None:
        if article_id in self._root:
            return
        self._root[article_id] = article_id
        if sig is None:
            return
        rank = len(self._ids)
        self._ids.append(article_id)
        self._sigs.append(np.asarray(sig, dtype=np.uint32))
        if keys is None:
            keys = _band_keys(sig[None, :], self.b, self.r)[0]
        for j, k in enumerate(keys.tolist()):
            self._bands[j].setdefault(k, []).append(rank)

    def check_and_add_signature(self, article_id: str, sig: np.ndarray | None, keys: np.ndarray | None = None) -> str | None:
        if article_id in self._root:
            return self._root[article_id]
        if sig is not None and keys is None:
            keys = _band_keys(sig[None, :], self.b, self.r)[0]
        dup = self.find_signature(sig, keys)
        if dup is not None:
            self._root[article_id] = dup
            return dup
        self.add_signature(article_id, sig, keys)
        return None

    # ---------------------------------------------------------------- by text (same decisions)

    def add(self, article_id: str, text: str) -> None:
        """Index an article as an original (e.g. seed with previously published articles)."""
        if article_id not in self._root:
            self.add_signature(article_id, signature(text))

    def find(self, article_id: str, text: str) -> str | None:
        """The first-seen article this one duplicates, without adding it."""
        if article_id in self._root:
            return self._root[article_id]
        return self.find_signature(signature(text))

    def check_and_add(self, article_id: str, text: str) -> str | None:
        """Return the first-seen article_id this one duplicates (exact: same id; near: MinHash), or
        None after indexing it as a new original."""
        if article_id in self._root:
            return self._root[article_id]
        return self.check_and_add_signature(article_id, signature(text))


_ROWS_AT_ONCE = 65536  # signatures gathered at a time from a reordered stored matrix (32 MB)


class BatchIndex:
    """The decisions of :class:`DuplicateIndex`, a batch of signatures at a time, in bounded memory.

    ``check_batch`` judges the rows of a batch in order, as ``check_and_add_signature`` would one by one: a row
    duplicates the first-seen indexed original (lowest rank) sharing an LSH band with it and reaching the
    threshold, else it becomes an original itself. Candidates among the originals indexed before the batch are
    found with numpy (``searchsorted`` in per-band sorted keys), those within the batch by sorting its band keys;
    only the rows with a candidate go through Python. Originals are kept as numpy arrays: signatures in
    per-batch chunks (n x 128 ``uint32``), band keys in a few sorted segments merged as they grow (like a binary
    counter, so at most log2(n) segments) — about 640 bytes per original instead of Python lists and dicts.
    """

    def __init__(self, threshold: float = 0.85):
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        self.threshold = threshold
        self.b, self.r = _band_params(threshold)
        # equal positions a match needs: the least count with count / NUM_PERM >= threshold, as find_signature tests
        self._need = next(c for c in range(NUM_PERM + 1) if float(c) / float(NUM_PERM) >= threshold)
        self._ids: list[str] = []
        self._sig_chunks: list[np.ndarray] = []
        self._chunk_rows: list[np.ndarray | None] = []  # per chunk: its signatures are chunk[rows] (None: in order)
        self._starts: list[int] = []  # rank of each chunk's first row
        self._n = 0
        self._segments: list[tuple[np.ndarray, np.ndarray]] = []  # (keys n x b sorted per band, ranks per band)

    def __len__(self) -> int:
        return self._n

    def band_keys(self, sigs: np.ndarray) -> np.ndarray:
        return _band_keys(np.atleast_2d(sigs), self.b, self.r)

    def _sigs_of(self, ranks: np.ndarray) -> np.ndarray:
        out = np.empty((len(ranks), NUM_PERM), dtype=np.uint32)
        if not len(ranks):
            return out
        starts = np.asarray(self._starts, dtype=np.int64)
        chunk = np.searchsorted(starts, ranks, side="right") - 1
        for c in np.unique(chunk):
            m = chunk == c
            at = ranks[m] - starts[c]
            rows = self._chunk_rows[c]
            out[m] = self._sig_chunks[c][at if rows is None else rows[at]]
        return out

    def _add(self, ids: list[str], sigs: np.ndarray, keys: np.ndarray, rows: np.ndarray | None = None) -> None:
        if not len(ids):
            return
        ranks = np.arange(self._n, self._n + len(ids), dtype=np.int32)  # int32: 2^31 originals is far beyond a run
        self._ids.extend(ids)
        self._sig_chunks.append(sigs if rows is not None else np.ascontiguousarray(sigs, dtype=np.uint32))
        self._chunk_rows.append(rows)
        self._starts.append(self._n)
        self._n += len(ids)
        seg = self._segment(keys, ranks)
        self._segments.append(seg)
        while len(self._segments) > 1 and len(self._segments[-2][0]) <= 2 * len(self._segments[-1][0]):
            (k1, r1), (k2, r2) = self._segments[-2], self._segments.pop()
            # a segment only answers "which ranks have this key" (in any order), so merging is a re-sort
            self._segments[-1] = self._segment(np.concatenate([k1, k2]), np.concatenate([r1, r2]))

    def _segment(self, keys: np.ndarray, ranks: np.ndarray):
        if ranks.ndim == 1:
            ranks = np.repeat(ranks[:, None], self.b, axis=1)
        order = np.argsort(keys, axis=0, kind="stable")
        return np.take_along_axis(keys, order, 0), np.take_along_axis(ranks, order, 0)

    def add_signatures(self, ids: Sequence[str], sigs: np.ndarray, rows: np.ndarray | None = None) -> None:
        """Index many originals at once (stored signatures, in first-seen order). With ``rows``, the i-th original's
        signature is ``sigs[rows[i]]``: a stored matrix is indexed in another order without a copy of it (at 1M
        originals a copy is 512 MB more at the peak)."""
        if rows is None:
            sigs = np.ascontiguousarray(sigs, dtype=np.uint32)
        else:
            rows = np.asarray(rows, dtype=np.int64)
        keys = np.empty((0, self.b), np.uint64)
        if len(ids):
            if rows is None:
                keys = self.band_keys(sigs)
            else:  # a slice of rows at a time: never the whole reordered matrix
                keys = np.concatenate([self.band_keys(sigs[rows[i:i + _ROWS_AT_ONCE]])
                                       for i in range(0, len(rows), _ROWS_AT_ONCE)])
        self._add(list(ids), sigs, keys, rows)

    def originals(self):
        """(ids, signature chunks) of every indexed original in first-seen order; a chunk indexed through ``rows``
        comes as slices of ``_ROWS_AT_ONCE`` rows made as they are iterated."""
        def chunks():
            for c, rows in zip(self._sig_chunks, self._chunk_rows):
                if rows is None:
                    yield c
                else:
                    for i in range(0, len(rows), _ROWS_AT_ONCE):
                        yield c[rows[i:i + _ROWS_AT_ONCE]]
        return self._ids, chunks()

    def check_batch(self, ids: Sequence[str], sigs: np.ndarray, ok: np.ndarray) -> list[str | None]:
        """For each row in order: the id of the first-seen original it nearly repeats, or None after indexing it
        (rows without shingles, ``ok`` False, are never matched nor indexed)."""
        n = len(ids)
        out: list[str | None] = [None] * n
        rows = np.flatnonzero(ok)
        if not len(rows):
            return out
        sigs = np.ascontiguousarray(sigs[rows], dtype=np.uint32)
        keys = self.band_keys(sigs)
        m = len(rows)
        # 1. candidates among the originals indexed before this batch: the lowest matching rank per row
        best = np.full(m, -1, dtype=np.int64)
        pr, pc_ = [], []
        for skeys, sranks in self._segments:
            for j in range(self.b):
                lo = np.searchsorted(skeys[:, j], keys[:, j], "left")
                hi = np.searchsorted(skeys[:, j], keys[:, j], "right")
                hit = np.flatnonzero(hi > lo)
                for i in hit.tolist():
                    pc_.append(sranks[lo[i]:hi[i], j])
                    pr.append(np.full(hi[i] - lo[i], i, dtype=np.int64))
        if pr:
            prow, prank = np.concatenate(pr), np.concatenate(pc_)
            eq = np.count_nonzero(self._sigs_of(prank) == sigs[prow], axis=1)
            good = eq >= self._need
            prow, prank = prow[good], prank[good]
            if len(prow):
                order = np.lexsort((prank, prow))
                prow, prank = prow[order], prank[order]
                first = np.r_[True, prow[1:] != prow[:-1]]
                best[prow[first]] = prank[first]
        # 2. candidates within the batch: pairs (a < b) sharing a band key, reaching the threshold
        within: dict[int, list[int]] = {}
        if m > 1:
            pa_, pb_ = [], []
            for j in range(self.b):
                order = np.argsort(keys[:, j], kind="stable")
                k = keys[order, j]
                same = np.flatnonzero(k[1:] == k[:-1])
                if not len(same):
                    continue
                # each run of equal keys: every pair inside it (runs are tiny: near copies)
                starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
                ends = np.r_[starts[1:], len(k)]
                for s0, e0 in zip(starts.tolist(), ends.tolist()):
                    if e0 - s0 > 1:
                        grp = np.sort(order[s0:e0])
                        for x in range(len(grp)):
                            for y in range(x + 1, len(grp)):
                                pa_.append(grp[x])
                                pb_.append(grp[y])
            if pa_:
                a_, b_ = np.asarray(pa_, dtype=np.int64), np.asarray(pb_, dtype=np.int64)
                eq = np.count_nonzero(sigs[a_] == sigs[b_], axis=1)
                for a, b in zip(a_[eq >= self._need].tolist(), b_[eq >= self._need].tolist()):
                    within.setdefault(b, []).append(a)
        # 3. in order: an earlier original wins (indexed before the batch first, then the batch's own, by rank)
        is_orig = np.zeros(m, dtype=bool)
        for i in range(m):
            if best[i] >= 0:
                out[rows[i]] = self._ids[best[i]]
                continue
            cands = [a for a in within.get(i, ()) if is_orig[a]]
            if cands:
                out[rows[i]] = ids[rows[min(cands)]]
            else:
                is_orig[i] = True
        new = np.flatnonzero(is_orig)
        self._add([ids[rows[i]] for i in new.tolist()], sigs[new], keys[new])
        return out


def write_signature_table(path, ids: Sequence[str], chunks: Iterable[np.ndarray]) -> None:
    """``signature_table`` written chunk by chunk (no copy of all signatures at once)."""
    import pyarrow.parquet as pq

    schema = signature_table([], np.empty((0, NUM_PERM), np.uint32)).schema
    with pq.ParquetWriter(path, schema) as w:
        start = 0
        for c in chunks:
            w.write_table(signature_table(ids[start:start + len(c)], c).cast(schema))
            start += len(c)
        if not start:
            w.write_table(schema.empty_table())


# ---------------------------------------------------------------- storage with a publication


def version() -> str:
    """Stored signatures are reused only while shingling, normalisation and hashing are unchanged."""
    from pathlib import Path

    import rasd.text.normalize as norm

    h = hashlib.sha256(f"{NUM_PERM}/{SHINGLE}/{SEED}/affine32/poly64_32/{_Q:x}/{_LEN_MIX:x}".encode())
    h.update(Path(norm.__file__).read_bytes())
    h.update(_WORD.pattern.encode())
    return h.hexdigest()[:16]


def signature_table(ids: Sequence[str], sigs: np.ndarray) -> pa.Table:
    buf = pa.py_buffer(np.ascontiguousarray(sigs, dtype="<u4").tobytes())
    col = pa.FixedSizeBinaryArray.from_buffers(pa.binary(_SIG_BYTES), len(ids), [None, buf])
    t = pa.table({"article_id": pa.array(list(ids), pa.string()), "minhash": col})
    return t.replace_schema_metadata({"rasd_dedupe_version": version()})


def read_signatures(table: pa.Table) -> tuple[pa.Array, np.ndarray] | None:
    """(article_id array, signature matrix) of a stored table, or None when it was made by other rules."""
    meta = table.schema.metadata or {}
    if meta.get(b"rasd_dedupe_version", b"").decode() != version():
        return None
    ids = table["article_id"].combine_chunks()
    col = table["minhash"].combine_chunks()
    if len(col) == 0:
        return ids, np.empty((0, NUM_PERM), dtype=np.uint32)
    data = np.frombuffer(col.buffers()[1], dtype="<u4")
    start = col.offset * NUM_PERM
    # a read-only view of the Arrow buffer (no copy; "<u4" is uint32 on the little-endian machines we run on)
    sigs = data[start:start + len(col) * NUM_PERM].reshape(len(col), NUM_PERM).view(np.uint32)
    return ids, sigs
