#!/usr/bin/env python3
"""COPY load with full-precision floats, timed by wall clock and by the server's CPU.

TSBS's generator prints each metric of its random walks with up to 17 significant digits;
`cargo bench --bench load` prints two decimals. This script loads 864,000 TSBS devops
cpu-only rows (100 hosts x 1 day at 10 s, values printed by Python's repr) as 14 COPY
FROM STDIN statements of 64 k rows over two psycopg 3 connections into the hypertable the
TSBS benchmark creates, and prints the wall time and the server process's CPU time
(user + system from /proc) spent during the load.

    strata serve --data-dir /tmp/copy_cpu --pg-addr 127.0.0.1:5433 &
    python3 benches/scripts/copy_cpu.py 5433          # finds the server by its port
    python3 benches/scripts/copy_cpu.py 5433 2        # metrics rounded to 2 decimals

Run it against a fresh server for each figure: later loads into the same server also pay
for flushing the earlier ones.
"""

import datetime
import random
import subprocess
import sys
import threading
import time

import psycopg

HOSTS, STEPS, ROWS_PER_COPY = 100, 8640, 65536
REGIONS = ["us-east-1", "us-west-1", "eu-west-1", "ap-southeast-1"]
CREATE = [
    "DROP TABLE IF EXISTS cpu",
    "CREATE TABLE cpu (time timestamptz NOT NULL, hostname text, region text, "
    "datacenter text, usage_user float8, usage_system float8, usage_idle float8, "
    "usage_nice float8, usage_iowait float8, usage_irq float8, usage_softirq float8, "
    "usage_steal float8, usage_guest float8, usage_guest_nice float8)",
    "SELECT create_hypertable('cpu', by_range('time', INTERVAL '1 day'))",
    "ALTER TABLE cpu SET (timescaledb.compress, timescaledb.compress_segmentby = 'hostname')",
]


def chunks(decimals):
    rnd = random.Random(7)
    t0 = datetime.datetime(2016, 1, 1, tzinfo=datetime.timezone.utc)
    state = [[rnd.uniform(0, 100) for _ in range(10)] for _ in range(HOSTS)]
    rows = []
    for s in range(STEPS):
        ts = (t0 + datetime.timedelta(seconds=10 * s)).strftime("%Y-%m-%d %H:%M:%S+00")
        for h in range(HOSTS):
            st = state[h]
            for k in range(10):
                st[k] = min(100.0, max(0.0, st[k] + rnd.uniform(-1, 1)))
            r = REGIONS[h % 4]
            tags = f"{ts}\thost_{h}\t{r}\t{r}{'abc'[h % 3]}\t"
            if decimals is None:
                metrics = "\t".join(repr(v) for v in st)
            else:
                metrics = "\t".join(repr(round(v, decimals)) for v in st)
            rows.append(tags + metrics + "\n")
    return [
        "".join(rows[i : i + ROWS_PER_COPY]).encode()
        for i in range(0, len(rows), ROWS_PER_COPY)
    ], len(rows)


def server_cpu(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def main():
    port = sys.argv[1] if len(sys.argv) > 1 else "5433"
    dsn = f"postgresql://strata@127.0.0.1:{port}/strata"
    pids = subprocess.run(
        ["pgrep", "-f", f"pg-addr 127.0.0.1:{port}"], capture_output=True, text=True
    ).stdout.split()
    if not pids:
        sys.exit(f"no server started with --pg-addr 127.0.0.1:{port}")
    pid = int(pids[0])
    decimals = int(sys.argv[2]) if len(sys.argv) > 2 else None
    data, n = chunks(decimals)
    with psycopg.connect(dsn, autocommit=True) as c:
        for s in CREATE:
            c.execute(s)

    def work(mine):
        with psycopg.connect(dsn, autocommit=True) as c:
            for payload in mine:
                with c.cursor().copy("COPY cpu FROM STDIN") as cp:
                    cp.write(payload)

    cpu0, t0 = server_cpu(pid), time.time()
    threads = [threading.Thread(target=work, args=(data[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - t0
    cpu = server_cpu(pid) - cpu0
    print(f"{n} rows: wall {wall:.3f} s ({n / wall / 1e6:.2f} M rows/s), "
          f"server CPU {cpu:.2f} s ({cpu / n * 1e6:.2f} us/row)")


if __name__ == "__main__":
    main()
