"""Exact and near-duplicate detection."""
from __future__ import annotations

import pytest

from rasd.ingest.dedupe import DuplicateIndex, shingles

# Written for these tests: one report, a syndicated copy with small edits, and an unrelated report.
ORIGINAL = (
    "قتل مدنيان وأصيب ثلاثة آخرون بجروح، صباح اليوم الاثنين، جراء قصف مدفعي لقوات النظام استهدف بلدة كنصفرة "
    "في ريف إدلب الجنوبي، بحسب ما أفاد الدفاع المدني السوري. وقال الدفاع المدني إن فرقه أسعفت المصابين إلى "
    "مشفى قريب، وعملت على إخماد حريق اندلع في أحد المنازل نتيجة القصف. وتتعرض قرى جبل الزاوية وريف إدلب "
    "الجنوبي لقصف شبه يومي من قوات النظام المتمركزة في المنطقة، رغم اتفاق وقف إطلاق النار الموقع في آذار "
    "من العام الماضي، ما دفع عشرات العائلات إلى النزوح نحو المخيمات القريبة من الحدود التركية. وكانت بلدة "
    "البارة المجاورة قد تعرضت لقصف مماثل الأسبوع الماضي أدى إلى إصابة طفلين بجروح متفاوتة."
)
# A mirror site: diacritics, a different hamza spelling, one sentence cut short at the end.
SYNDICATED = (
    ORIGINAL.replace("قتل مدنيان", "قُتل مدنيان").replace("أفاد", "افاد")
    .replace(" أدى إلى إصابة طفلين بجروح متفاوتة.", ".")
)
OTHER = (
    "اندلعت اشتباكات عنيفة بين مسلحين محليين وعناصر من قوات النظام في بلدة اليادودة بريف درعا الغربي، "
    "ما أدى إلى مقتل عنصرين وإصابة ثلاثة آخرين، وفق ما أفاد مصدر محلي. وقال المصدر إن الاشتباكات بدأت بعد "
    "محاولة القوات مداهمة منزل أحد المطلوبين في البلدة، قبل أن تنسحب باتجاه مدينة درعا. وتشهد محافظة درعا "
    "منذ اتفاق التسوية عام 2018 حالة من الفلتان الأمني وعمليات اغتيال متكررة تطال مدنيين وعسكريين."
)
# Same topic and place, different report: must not be merged.
SAME_TOPIC = (
    "أصيب ثلاثة مدنيين بجروح، مساء الأربعاء، جراء قصف صاروخي لقوات النظام استهدف بلدة كنصفرة في ريف إدلب "
    "الجنوبي، وفق ما أفاد ناشطون محليون. وقال الناشطون إن القصف تزامن مع تحليق لطائرات الاستطلاع الروسية "
    "في أجواء المنطقة، فيما ردت فصائل المعارضة باستهداف مواقع لقوات النظام في ريف معرة النعمان الشرقي."
)


def test_exact_duplicate_returns_the_same_id():
    idx = DuplicateIndex(0.85)
    assert idx.check_and_add("a1", ORIGINAL) is None
    assert idx.check_and_add("a1", ORIGINAL) == "a1"
    assert "a1" in idx and len(idx) == 1


def test_near_duplicate_points_to_the_first_seen():
    idx = DuplicateIndex(0.85)
    assert idx.check_and_add("first", ORIGINAL) is None
    assert idx.check_and_add("mirror", SYNDICATED) == "first"
    assert idx.check_and_add("other", OTHER) is None
    assert idx.check_and_add("topic", SAME_TOPIC) is None
    # The duplicate's id now resolves too, and only originals are indexed.
    assert idx.check_and_add("mirror", SYNDICATED) == "first"
    assert len(idx) == 3


def test_seeding_with_published_articles():
    idx = DuplicateIndex(0.85)
    idx.add("old", ORIGINAL)
    idx.add("old", OTHER)  # adding an id twice keeps the first text
    assert idx.check_and_add("new", SYNDICATED) == "old"
    assert idx.check_and_add("new2", OTHER) is None


def test_first_seen_wins_among_several_matches():
    idx = DuplicateIndex(0.7)
    idx.add("b", ORIGINAL)
    idx.add("a", SYNDICATED)  # would also match, but was seen later (and was not checked)
    assert idx.find("c", ORIGINAL + " ") == "b"


def test_threshold_and_determinism():
    with pytest.raises(ValueError):
        DuplicateIndex(0)
    with pytest.raises(ValueError):
        DuplicateIndex(1.5)
    results = []
    for _ in range(2):
        idx = DuplicateIndex(0.85)
        idx.add("x", ORIGINAL)
        results.append(idx.find("y", SYNDICATED))
    assert results == ["x", "x"]
    strict = DuplicateIndex(0.99)
    strict.add("x", ORIGINAL)
    assert strict.find("y", SYNDICATED) is None


def test_empty_and_short_texts():
    idx = DuplicateIndex(0.85)
    assert idx.check_and_add("e", "") is None
    assert idx.check_and_add("e2", "   ") is None  # empty texts never match each other
    assert idx.check_and_add("s1", "قصف على إدلب") is None
    assert idx.check_and_add("s2", "قصفٌ على ادلب") == "s1"  # normalised before shingling
    assert shingles("") == set()
    assert shingles("واحد اثنان ثلاثة أربعة خمسة ستة") == {"واحد اثنان ثلاثه اربعه خمسه", "اثنان ثلاثه اربعه خمسه سته"}


def test_signatures_are_datasketch_minhashes_and_survive_storage():
    import numpy as np
    from datasketch import MinHash

    from rasd.ingest.dedupe import read_signatures, shingle_hash32, signature_table, signatures

    texts = [ORIGINAL, "", SYNDICATED, "قصف على إدلب", OTHER, SAME_TOPIC] * 40  # several permutation blocks
    sigs, ok = signatures(texts)
    for t, s, o in zip(texts, sigs, ok):
        assert o == bool(shingles(t))
        if o:
            m = MinHash(num_perm=128, seed=1, hashfunc=lambda b: shingle_hash32(b.decode("utf-8")))
            m.update_batch([x.encode("utf-8") for x in sorted(shingles(t))])
            assert (m.hashvalues == s).all()
    ids = [f"a{i}" for i in range(len(texts))]
    got_ids, got = read_signatures(signature_table(ids, sigs))
    assert got_ids.to_pylist() == ids and np.array_equal(got, sigs)


def test_stored_signatures_give_the_same_decisions_as_texts():
    from rasd.ingest.dedupe import signatures

    by_text = DuplicateIndex(0.85)
    by_text.add("old", ORIGINAL)
    by_text.add("other", OTHER)
    loaded = DuplicateIndex(0.85)
    sigs, _ = signatures([ORIGINAL, OTHER])
    loaded.add_signatures(["old", "other"], sigs)
    for idx in (by_text, loaded):
        assert idx.check_and_add("new", SYNDICATED) == "old"
        assert idx.check_and_add("topic", SAME_TOPIC) is None
        assert idx.check_and_add("again", SAME_TOPIC + " ") == "topic"
        assert len(idx) == 3
    ids, stored = loaded.originals()
    assert ids == ["old", "other", "topic"] and stored.shape == (3, 128)


@pytest.mark.parametrize("batch", [1, 7, 64, 1000])
def test_batch_index_decides_as_the_one_by_one_index(batch):
    """BatchIndex (numpy, a batch at a time) gives DuplicateIndex's answer for every row, whatever the batch size:
    near copies (within and across batches, copies of copies), rows without shingles, a seeded base."""
    import numpy as np

    from rasd.ingest.dedupe import NUM_PERM, BatchIndex

    rng = np.random.default_rng(5)
    base = rng.integers(0, 2**32, size=(40, NUM_PERM), dtype=np.uint32)
    rows = [rng.integers(0, 2**32, size=NUM_PERM, dtype=np.uint32) for _ in range(150)]
    pool = [*base, *rows]
    for _ in range(350):  # copies of earlier rows with 0-40 positions changed (threshold 0.85: at most 19)
        src = pool[rng.integers(len(pool))].copy()
        pos = rng.choice(NUM_PERM, size=int(rng.integers(0, 41)), replace=False)
        src[pos] = rng.integers(0, 2**32, size=len(pos), dtype=np.uint32)
        rows.append(src)
        pool.append(src)
    order = rng.permutation(len(rows))
    sigs = np.stack([rows[i] for i in order])
    ok = rng.random(len(sigs)) > 0.05
    ids = [f"a{i}" for i in range(len(sigs))]

    one = DuplicateIndex(0.85)
    one.add_signatures([f"b{i}" for i in range(len(base))], base)
    want = [one.check_and_add_signature(a, s if k else None) for a, s, k in zip(ids, sigs, ok)]

    idx = BatchIndex(0.85)
    idx.add_signatures([f"b{i}" for i in range(len(base))], base)
    got = []
    for s in range(0, len(ids), batch):
        got += idx.check_batch(ids[s:s + batch], sigs[s:s + batch], ok[s:s + batch])
    assert got == want
    assert sum(d is not None for d in want) > 100 and sum(d is None for d in want) > 100
    assert any(d is not None and d.startswith("b") for d in want)  # matches against the seeded base too
    o_ids, o_chunks = idx.originals()
    w_ids, w_sigs = one.originals()
    assert o_ids == w_ids and (np.concatenate(list(o_chunks)) == w_sigs).all()
    # seeded from a stored matrix in another order, through row numbers (no reordered copy): the same answers
    perm = rng.permutation(len(base))
    stored = base[perm]
    rows = np.argsort(perm)  # stored[rows] == base
    byrow = BatchIndex(0.85)
    byrow.add_signatures([f"b{i}" for i in range(len(base))], stored, rows)
    got2 = []
    for s in range(0, len(ids), batch):
        got2 += byrow.check_batch(ids[s:s + batch], sigs[s:s + batch], ok[s:s + batch])
    assert got2 == want
    r_ids, r_chunks = byrow.originals()
    assert r_ids == w_ids and (np.concatenate(list(r_chunks)) == w_sigs).all()


def test_permutations_are_datasketchs():
    import numpy as np
    from datasketch import MinHash

    from rasd.ingest import dedupe

    dedupe._PERMS = None
    a, b = dedupe._permutations()
    m = MinHash(num_perm=dedupe.NUM_PERM, seed=dedupe.SEED)
    assert getattr(m, "scheme", "affine32") == "affine32"
    assert np.array_equal(a, np.asarray(m.permutations[0], dtype=np.uint32))
    assert np.array_equal(b, np.asarray(m.permutations[1], dtype=np.uint32))


def test_written_signature_table_reads_back(tmp_path):
    import numpy as np
    import pyarrow.parquet as pq

    from rasd.ingest.dedupe import NUM_PERM, read_signatures, write_signature_table

    rng = np.random.default_rng(1)
    chunks = [rng.integers(0, 2**32, size=(n, NUM_PERM), dtype=np.uint32) for n in (3, 0, 5)]
    ids = [f"x{i}" for i in range(8)]
    write_signature_table(tmp_path / "m.parquet", ids, chunks)
    got_ids, got = read_signatures(pq.read_table(tmp_path / "m.parquet"))
    assert got_ids.to_pylist() == ids and np.array_equal(got, np.concatenate(chunks))


def test_band_params_are_datasketchs():
    """LSH bands x rows computed without scipy equal datasketch's optimisation over a grid of thresholds."""
    import numpy as np
    from datasketch.lsh import _optimal_param

    from rasd.ingest.dedupe import NUM_PERM, _band_params

    for t in np.round(np.arange(0.15, 1.001, 0.01), 2).tolist():
        assert _band_params(t) == _optimal_param(max(0.1, min(0.9, t - 0.1)), NUM_PERM, 0.5, 0.5), t


def test_bulk_shingle_hashes_equal_the_one_at_a_time_reference():
    """The prefix-sum hashes of ``_shingle_hashes`` are ``shingle_hash32`` of each shingle, for any code points
    (astral, surrogates, long shingles past the cached powers), and the 64-bit wrap-around is exact."""
    import numpy as np

    from rasd.ingest import dedupe

    rng = np.random.default_rng(5)
    parts = ["قتل مدنيان", "a", "𝒜𝒜 b_c ٣٤", "\ud800x", "ب" * 70000, "x y"]
    cps = [np.frombuffer(p.encode("utf-32-le", "surrogatepass"), "<u4") for p in parts]
    cj = np.concatenate(cps + [rng.integers(0, 0x110000, 5000).astype("<u4")]).astype(np.uint32)
    lo = np.concatenate([[0], rng.integers(0, len(cj) - 200, 300)])
    hi = np.concatenate([[len(cj)], lo[1:] + rng.integers(1, 200, 300)])
    got = dedupe._shingle_hashes(cj, lo, hi)
    strings = [cj[x:y].astype("<u4").tobytes().decode("utf-32-le", "surrogatepass") for x, y in zip(lo.tolist(), hi.tolist())]
    want = [dedupe.shingle_hash32(x) for x in strings]
    assert got.tolist() == want
    assert len(set(want)) == len(set(strings))  # equal strings, equal hashes; no collision among the others


def test_signatures_do_not_depend_on_how_texts_are_grouped(monkeypatch):
    """``signatures`` shingles texts in groups of ~_TEXT_CHARS code points: any grouping gives the same rows."""
    import numpy as np

    from rasd.ingest import dedupe

    texts = [ORIGINAL, "", SYNDICATED, "قصف", OTHER, SAME_TOPIC * 3, "  "] * 5
    whole, ok = dedupe.signatures(texts)
    monkeypatch.setattr(dedupe, "_TEXT_CHARS", 1)
    small, ok2 = dedupe.signatures(texts)
    assert np.array_equal(whole, small) and np.array_equal(ok, ok2)


def test_signatures_of_older_rules_are_not_reused(tmp_path):
    """A publication's minhash.parquet and an ingested batch's .minhash.npz made by older hashing rules (another
    ``version()``) are ignored: the signatures are made again from the texts, and decisions are those of the texts."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from rasd import pipeline
    from rasd.ingest.dedupe import BatchIndex, read_signatures, signature_table, signatures

    sigs, _ = signatures([ORIGINAL, OTHER])
    stale = signature_table(["old", "other"], sigs[::-1])  # wrong rows: used, they would give other decisions
    stale = stale.replace_schema_metadata({"rasd_dedupe_version": "sha1-era"})
    assert read_signatures(stale) is None
    pub = tmp_path / "pub"
    (pub / "_cache").mkdir(parents=True)
    pq.write_table(stale, pub / "_cache" / pipeline.MINHASH)
    (pub / "articles").mkdir()
    (pub / "article_texts").mkdir()
    arts = pa.table({"article_id": ["old", "other"], "published_at": [None, None]})
    pq.write_table(pa.table({"article_id": ["old", "other"], "text": [ORIGINAL, OTHER]}), pub / "article_texts" / "x.parquet")
    prev = pa.table({"article_id": ["old", "other"], "content_hash": ["h1", "h2"], "source_path": ["a", "b"],
                     "duplicate_of": pa.nulls(2, pa.string()), "status": ["ok", "ok"]})
    del arts
    idx = BatchIndex(0.85)
    pipeline._seed_index(idx, pub, prev)
    ids, chunks = idx.originals()
    assert ids == ["old", "other"] and np.array_equal(np.concatenate(list(chunks)), sigs)
    got = idx.check_batch(["new", "topic"], *signatures([SYNDICATED, SAME_TOPIC]))
    assert got == ["old", None]
    # an ingested batch's side file of other rules: recomputed from the batch's texts
    t = pa.table({"text": [SYNDICATED, OTHER]})
    side = pipeline._minhash_path(tmp_path / "ingested-00000.parquet")
    with open(side, "wb") as fh:
        np.savez(fh, n=np.asarray([2]), rows=np.asarray([0, 1]), sigs=sigs, ok=np.asarray([True, True]))
    got, ok = pipeline._batch_signatures(tmp_path / "ingested-00000.parquet", t, [0, 1])
    assert np.array_equal(got, signatures([SYNDICATED, OTHER])[0]) and ok.all()
    pipeline._write_minhash([{"status": "ok", "text": SYNDICATED}, {"status": "ok", "text": OTHER}], side)
    with np.load(side) as z:  # this version's side file is used as is
        fake = z["sigs"].copy()
    fake[0, 0] ^= 1
    with open(side, "wb") as fh:
        np.savez(fh, n=np.asarray([2]), rows=np.asarray([0, 1]), sigs=fake, ok=np.asarray([True, True]),
                 version=np.asarray([pipeline_version()]))
    assert np.array_equal(pipeline._batch_signatures(tmp_path / "ingested-00000.parquet", t, [0, 1])[0], fake)


def pipeline_version():
    from rasd.ingest.dedupe import version

    return version()
