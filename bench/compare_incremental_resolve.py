"""Incremental resolve == full resolve on a real publication (issue 7), with CPU seconds.

    python bench/compare_incremental_resolve.py WAREHOUSE [--marker zz-increment] [--copies N]

Takes the current publication's events and articles, splits off the articles whose source_path contains
``--marker`` (the bench increment), resolves the rest in full (the "base" publication and its state), then the
whole set both in full (with the base links as previous) and incrementally, and compares the sorted tables.
``--copies N`` stands in for an N times denser corpus over the same years without a pipeline run: the base is
repeated N times (copy k's ids suffixed ``#k``, its event and publication dates moved by a few days), the increment
added once.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rasd.resolve import resolve_full, resolve_incremental  # noqa: E402
from rasd.schema import conform  # noqa: E402
from rasd.settings import load_settings  # noqa: E402
from rasd.warehouse import Layout  # noqa: E402


def timed(label, f, *a, **k):
    t = time.process_time()
    out = f(*a, **k)
    print(f"{label:<28} {time.process_time() - t:7.2f} CPU s", flush=True)
    return out


def copies(events, articles, n: int):
    """The base ``n`` times: copy k with ids suffixed ``#k`` and dates moved by SHIFTS[k] days (0 for the first)."""
    shifts = [0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6]
    evs, arts = [], []
    for k in range(n):
        d = shifts[k % len(shifts)]
        suffix = "" if k == 0 else f"#{k}"
        e = events.set_column(events.schema.get_field_index("event_id"), "event_id",
                              pc.binary_join_element_wise(events["event_id"], suffix, ""))
        e = e.set_column(e.schema.get_field_index("article_id"), "article_id",
                         pc.binary_join_element_wise(e["article_id"], suffix, ""))
        e = e.set_column(e.schema.get_field_index("event_date"), "event_date",
                         pc.add(e["event_date"], pa.scalar(dt.timedelta(days=d))).cast(e.schema.field("event_date").type))
        t = articles.set_column(articles.schema.get_field_index("article_id"), "article_id",
                                pc.binary_join_element_wise(articles["article_id"], suffix, ""))
        t = t.set_column(t.schema.get_field_index("published_at"), "published_at",
                         pc.add(t["published_at"], pa.scalar(dt.timedelta(days=d))).cast(t.schema.field("published_at").type))
        evs.append(e.cast(events.schema))
        arts.append(t.cast(articles.schema))
    return pa.concat_tables(evs), pa.concat_tables(arts)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("warehouse")
    ap.add_argument("--marker", default="zz-increment")
    ap.add_argument("--copies", type=int, default=1)
    a = ap.parse_args()
    pub = Layout(Path(a.warehouse)).current_publication()
    events = pq.read_table(pub / "events")
    articles = conform("articles", pq.read_table(pub / "articles"))
    new = pc.match_substring(articles["source_path"], a.marker)
    ok = pc.and_(pc.equal(articles["status"], "ok"), pc.is_null(articles["duplicate_of"]))
    articles = articles.filter(ok)
    new_ids = articles.filter(pc.match_substring(articles["source_path"], a.marker))["article_id"]
    base_ev = events.filter(pc.invert(pc.is_in(events["article_id"], value_set=new_ids)))
    base_art = articles.filter(pc.invert(pc.is_in(articles["article_id"], value_set=new_ids)))
    if a.copies > 1:
        base_ev, base_art = copies(base_ev, base_art, a.copies)
        events = pa.concat_tables([base_ev, events.filter(pc.is_in(events["article_id"], value_set=new_ids))])
        articles = pa.concat_tables([base_art, articles.filter(pc.is_in(articles["article_id"], value_set=new_ids))])
    print(f"events: base {base_ev.num_rows:,}, all {events.num_rows:,} ({len(new_ids):,} new articles of {int(pc.sum(new).as_py() or 0):,})")
    settings = load_settings()
    inc0, links0, state0 = timed("full resolve (base)", resolve_full, base_ev, base_art, settings)
    inc_f, links_f, state_f = timed("full resolve (base + new)", resolve_full, events, articles, settings, links0)
    got = timed("incremental resolve", resolve_incremental, events, articles, settings, state0, inc0, links0, 1.0)
    inc_i, links_i, state_i, info = got
    print({k: v for k, v in info.items() if k != "redone_ids"})
    same = {}
    for name, x, y in (("incidents", inc_i, inc_f), ("incident_reports", links_i, links_f), ("state", state_i, state_f)):
        sx, sy = sorted(map(str, x.to_pylist())), sorted(map(str, y.to_pylist()))
        same[name] = sx == sy
        print(f"{name:<18} incremental {x.num_rows:,} rows, full {y.num_rows:,} rows: {'identical' if sx == sy else 'DIFFERENT'}")
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
