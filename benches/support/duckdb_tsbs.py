"""DuckDB side of `cargo bench --bench tsbs` (an in-process columnar reference).

Reads a JSON job on stdin: {"csv": path, "db": path, "runs": n, "queries": [{"name", "sql"}]},
loads the tab-separated rows (the same ones the benchmark sends to Strata and PostgreSQL)
into a DuckDB database file, runs every query once to warm up and then `runs` times, and
prints one JSON object: load seconds, peak RSS of this process, database bytes, and per
query the median milliseconds plus the result rows as text (or the error).
"""
import datetime
import json
import os
import resource
import sys
import time

import duckdb

COLUMNS = (
    "time TIMESTAMPTZ NOT NULL, hostname VARCHAR, region VARCHAR, datacenter VARCHAR, "
    "usage_user DOUBLE, usage_system DOUBLE, usage_idle DOUBLE, usage_nice DOUBLE, "
    "usage_iowait DOUBLE, usage_irq DOUBLE, usage_softirq DOUBLE, usage_steal DOUBLE, "
    "usage_guest DOUBLE, usage_guest_nice DOUBLE"
)


def text(v):
    if v is None:
        return "NULL"
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc)
        return v.strftime("%Y-%m-%d %H:%M:%S+00")
    if isinstance(v, float):
        return repr(v)
    return str(v)


def main():
    job = json.load(sys.stdin)
    con = duckdb.connect(job["db"])
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE TABLE cpu ({COLUMNS})")
    t = time.perf_counter()
    con.execute(f"COPY cpu FROM '{job['csv']}' (DELIMITER '\t', HEADER false)")
    con.execute("CHECKPOINT")
    load_s = time.perf_counter() - t
    out = {"load_s": load_s, "queries": []}
    for q in job["queries"]:
        r = {"name": q["name"]}
        try:
            rows = con.execute(q["sql"]).fetchall()
            times = []
            for _ in range(job["runs"]):
                t = time.perf_counter()
                rows = con.execute(q["sql"]).fetchall()
                times.append(time.perf_counter() - t)
            times.sort()
            r["ms"] = times[len(times) // 2] * 1e3
            r["rows"] = [[text(v) for v in row] for row in rows]
        except Exception as e:  # reported in the table, the run goes on
            r["error"] = str(e)
        out["queries"].append(r)
    out["rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    con.close()
    out["db_bytes"] = sum(
        os.path.getsize(p) for p in [job["db"], job["db"] + ".wal"] if os.path.exists(p)
    )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
