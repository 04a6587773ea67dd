"""What makes resolution scale to 1M articles changes no result.

- Week/month summaries look for the incidents they cover in an index of day buckets (``BUCKET_DAYS``), and stop at
  the second place a coarse summary covers: the bucket width and the order candidates are looked at must not matter.
- A full resolve runs group by group and writes its outputs piece by piece (``resolve_to_files``): the files hold
  exactly the tables of the one-piece resolve, in the same order.
Compared as whole tables, order included, on dense random corpora (tests/test_resolve_incremental.py's generator:
summaries with figures, coarse places, undated reports, several 28-day segments).
"""
from __future__ import annotations

import random
from datetime import timedelta

import pyarrow.parquet as pq
import pytest

import rasd.resolve as R
from rasd.schema import to_arrow
from test_resolve_incremental import START, S, _article, _corpus


def _one_piece(e, a, previous=None):
    return R._resolve(e, a, S, previous, (), (), ())


@pytest.mark.parametrize("seed", range(5))
def test_summary_bucket_width_does_not_matter(monkeypatch, seed):
    arts, events = _corpus(700 + seed, 300)
    e, a = to_arrow("events", events), to_arrow("articles", arts)
    monkeypatch.setattr(R, "BUCKET_DAYS", 1)
    want = _one_piece(e, a)
    # the corpus must exercise the summaries: some cover incidents, some stand alone
    links = want[1].to_pylist()
    assert any(r["role"] == "summary" for r in links)
    assert any(p in ("week", "month") for p in want[0]["date_precision"].to_pylist())
    for width in (7, 31):
        monkeypatch.setattr(R, "BUCKET_DAYS", width)
        got = _one_piece(e, a)
        assert got[0].equals(want[0]) and got[1].equals(want[1]) and got[2].equals(want[2])


@pytest.mark.parametrize("seed", range(4))
def test_covered_does_not_depend_on_candidate_order(monkeypatch, seed):
    """The candidate blocks handed to _covered in reverse order (and each block reversed): the same tables."""
    arts, events = _corpus(720 + seed, 300)
    e, a = to_arrow("events", events), to_arrow("articles", arts)
    want = _one_piece(e, a)
    orig = R._covered

    def reversed_covered(reports, members, daily, cand, inc_geo, settings):
        return orig(reports, members, daily, [sorted(b, reverse=True) for b in reversed(list(cand))], inc_geo,
                    settings)

    monkeypatch.setattr(R, "_covered", reversed_covered)
    got = _one_piece(e, a)
    assert got[0].equals(want[0]) and got[1].equals(want[1])


@pytest.mark.parametrize("seed", range(4))
def test_resolve_to_files_equals_resolve_full(tmp_path, seed):
    """Group by group, written piece by piece and sorted by DuckDB: the files hold resolve_full's tables, in order."""
    arts, events = _corpus(740 + seed, 300)
    e, a = to_arrow("events", events), to_arrow("articles", arts)
    previous = None
    if seed % 2:  # ids kept from a previous publication of most of the articles
        keep = {x["article_id"] for x in arts[: len(arts) * 3 // 4]}
        e0 = to_arrow("events", [x for x in events if x["article_id"] in keep])
        previous = R.resolve_full(e0, a, S)[1]
    want = R.resolve_full(e, a, S, previous)
    paths = [tmp_path / f"{n}.parquet" for n in ("inc", "links", "state")]
    counts = R.resolve_to_files(e, a, S, previous, *paths, tmp_path / "tmp")
    assert counts == {"incidents": want[0].num_rows, "incident_reports": want[1].num_rows, "state": want[2].num_rows}
    for path, table in zip(paths, want):
        got = pq.read_table(path)
        assert got.schema.equals(table.schema) and got.equals(table)
    assert not list((tmp_path / "tmp").glob("_resolve_*"))  # temporary parts removed


def test_resolve_to_files_declines_when_ids_cross_groups(tmp_path):
    """A previous incident whose reports are now in two groups: nothing written, the caller resolves in one piece."""
    arts, events = _corpus(760, 120)
    e, a = to_arrow("events", events), to_arrow("articles", arts)
    links = R.resolve_full(e, a, S)[1]
    members: dict[str, list] = {}
    for x in links.to_pylist():
        if x["role"] == "member":
            members.setdefault(x["incident_id"], []).append(x["event_id"])
    moved = min(m for m in members.values() if len(m) > 1)[0]
    edited = [dict(x, admin1="Homs" if x["admin1"] != "Homs" else "Dar'a") if x["event_id"] == moved else x
              for x in events]
    e1 = to_arrow("events", edited)
    paths = [tmp_path / f"{n}.parquet" for n in ("inc", "links", "state")]
    assert R.resolve_to_files(e1, a, S, links, *paths, tmp_path) is None
    assert not any(p.exists() for p in paths)


def _dictionary_encoded(t):
    import pyarrow as pa

    return pa.table({n: t[n].dictionary_encode() if n in R.DICTIONARY_COLUMNS and pa.types.is_string(t[n].type)
                     else t[n] for n in t.column_names})


def test_dictionary_encoded_events_give_the_same_results(tmp_path):
    """resolve_incidents reads the repeated string columns as dictionaries: full, streamed and incremental resolves
    of such events equal those of plain events (state hashes included)."""
    arts, events = _corpus(780, 300)
    e, a = to_arrow("events", events), to_arrow("articles", arts)
    d = _dictionary_encoded(e)
    assert any(str(f.type).startswith("dictionary") for f in d.schema)
    want = R.resolve_full(e, a, S)
    got = R.resolve_full(d, a, S)
    assert all(g.equals(w) for g, w in zip(got, want))
    paths = [tmp_path / f"{n}.parquet" for n in ("inc", "links", "state")]
    R.resolve_to_files(d, a, S, None, *paths, tmp_path)
    assert all(pq.read_table(p).equals(w) for p, w in zip(paths, want))
    rng = random.Random(5)
    more = [_article(rng, k, START + timedelta(days=60), 5) for k in range(300, 306)]
    arts1, events1 = arts + [m[0] for m in more], events + [x for m in more for x in m[1]]
    e1, a1 = to_arrow("events", events1), to_arrow("articles", arts1)
    plain = R.resolve_incremental(e1, a1, S, want[2], want[0], want[1], max_share=1.0)
    enc = R.resolve_incremental(_dictionary_encoded(e1), a1, S, want[2], want[0], want[1], max_share=1.0)
    assert plain is not None and enc is not None
    for g, w in zip(enc[:3], plain[:3]):
        assert g.equals(w)
