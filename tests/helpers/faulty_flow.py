"""Run the real Prefect flow with injected faults; print one JSON line with what happened.

usage: python faulty_flow.py INPUT WAREHOUSE PERMANENT_DOC_KEY

* transient: the first attempt of every extract batch raises OSError (as a flaky disk or NFS would);
  Prefect's task retries must absorb it.
* permanent: extracting the article whose doc_key is PERMANENT_DOC_KEY always raises; the run must fail
  and name that article, and the previous publication must stay current.
Run with RASD_BATCH_SIZE=1 so that each new article is its own batch.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import traceback
from pathlib import Path


def main(input_dir: str, warehouse: str, permanent_key: str) -> None:
    # The faults are monkeypatches of this process: keep the batches in it (worker processes would not see them).
    os.environ["RASD_WORKERS"] = "1"
    from rasd import pipeline as P
    from rasd.extract import events as E

    lock = threading.Lock()
    attempts: dict[str, list[str]] = {}
    real_extract_batch = P.extract_batch
    real_extract = E.Extractor.extract

    def flaky_extract_batch(ctx, batch):
        name = Path(batch).name
        with lock:
            n = len(attempts.setdefault(name, []))
            attempts[name].append("started")
        if n == 0:
            attempts[name][-1] = "transient OSError"
            raise OSError(f"simulated transient I/O error reading {name}")
        try:
            out = real_extract_batch(ctx, batch)
        except Exception as e:
            attempts[name][-1] = f"failed: {e}"
            raise
        attempts[name][-1] = "ok"
        return out

    def broken_extract(self, article):
        if article.get("doc_key") == permanent_key:
            raise RuntimeError("simulated permanent extractor bug")
        return real_extract(self, article)

    P.extract_batch = flaky_extract_batch
    E.Extractor.extract = broken_extract
    from flows.weekly import weekly_incidents

    result = {"attempts": attempts}
    try:
        result["summary"] = weekly_incidents(input_dir=input_dir, warehouse=warehouse)
    except BaseException as e:  # noqa: BLE001 - report whatever the flow raised
        result["error_type"] = type(e).__name__
        result["error"] = str(e)
        result["traceback"] = traceback.format_exc()[-3000:]
    print("RESULT " + json.dumps(result, default=str, ensure_ascii=False))


if __name__ == "__main__":
    main(*sys.argv[1:4])
