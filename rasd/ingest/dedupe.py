"""Exact and near-duplicate detection (syndicated copies, small edits, mirror sites).

Near duplicates: MinHash LSH (datasketch) over word 5-shingles of the normalised text;
a candidate counts when its estimated Jaccard similarity reaches the threshold.
Each duplicate points at the first-seen article; only first-seen articles are indexed,
so chains of edits all resolve to the same original.
"""
from __future__ import annotations

import re

from datasketch import MinHash, MinHashLSH

from rasd.text.normalize import normalize

NUM_PERM = 128
SHINGLE = 5
_WORD = re.compile(r"\w+")


def shingles(text: str, k: int = SHINGLE) -> set[str]:
    """Word k-shingles of the normalised text (the whole text as one shingle when shorter)."""
    words = _WORD.findall(normalize(text))
    if not words:
        return set()
    if len(words) <= k:
        return {" ".join(words)}
    return {" ".join(words[i:i + k]) for i in range(len(words) - k + 1)}


def minhash(text: str) -> MinHash:
    m = MinHash(num_perm=NUM_PERM, seed=1)
    m.update_batch([s.encode("utf-8") for s in sorted(shingles(text))])
    return m


class DuplicateIndex:
    """Remember articles; tell whether a new one repeats (exactly or nearly) one seen before."""

    def __init__(self, threshold: float = 0.85):
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        self.threshold = threshold
        # LSH only proposes candidates; a lower banding threshold misses fewer of them, and each
        # candidate is then checked against the real threshold (LSH cannot band above ~0.95).
        self._lsh = MinHashLSH(threshold=max(0.1, min(0.9, threshold - 0.1)), num_perm=NUM_PERM)
        self._hashes: dict[str, MinHash] = {}
        self._order: dict[str, int] = {}  # first-seen rank of each indexed article
        self._root: dict[str, str] = {}  # article_id -> first-seen article_id

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, article_id: str) -> bool:
        return article_id in self._root

    def add(self, article_id: str, text: str) -> None:
        """Index an article as an original (e.g. seed with previously published articles)."""
        if article_id in self._root:
            return
        self._root[article_id] = article_id
        if not shingles(text):
            return
        m = minhash(text)
        self._hashes[article_id] = m
        self._order[article_id] = len(self._order)
        self._lsh.insert(article_id, m)

    def find(self, article_id: str, text: str) -> str | None:
        """The first-seen article this one duplicates, without adding it."""
        if article_id in self._root:
            return self._root[article_id]
        if not shingles(text) or not self._hashes:
            return None
        m = minhash(text)
        hits = [k for k in self._lsh.query(m) if self._hashes[k].jaccard(m) >= self.threshold]
        if not hits:
            return None
        return min(hits, key=self._order.__getitem__)

    def check_and_add(self, article_id: str, text: str) -> str | None:
        """Return the first-seen article_id this one duplicates (exact: same id; near: MinHash), or
        None after indexing it as a new original."""
        dup = self.find(article_id, text)
        if dup is not None:
            self._root.setdefault(article_id, dup)
            return dup
        self.add(article_id, text)
        return None
