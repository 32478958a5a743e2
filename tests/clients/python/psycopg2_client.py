"""psycopg2: client-side parameter interpolation over the simple query protocol,
executemany / execute_values, copy_expert in text and CSV, server-side (named) cursors."""
import datetime
import decimal
import io

import psycopg2
import psycopg2.extras

from common import DSN, setup_statements, show, show_row

UTC = datetime.timezone.utc


def query(cur, q, params=None):
    cur.execute(q, params)
    print("Q:", cur.query.decode())
    print("  columns:", [(d.name, d.type_code) for d in cur.description])
    for r in cur.fetchall():
        print("  ", show_row(r))


def expect_error(conn, q, params=None):
    try:
        with conn.cursor() as cur:
            cur.execute(q, params)
        print("E: no error for", q)
    except psycopg2.Error as e:
        print("E:", q, "->", e.pgcode, e.diag.message_primary)
    conn.rollback()


conn = psycopg2.connect(DSN)
conn.autocommit = True
with conn.cursor() as cur:
    for s in setup_statements():
        cur.execute(s)
    cur.execute("SET TIME ZONE 'UTC'")
    cur.execute("CREATE TABLE cpu (ts timestamptz NOT NULL, host text, region text, "
                "usage double precision, cores integer, total bigint, ratio numeric(6, 2), "
                "up boolean, PRIMARY KEY (ts, host))")
    print("create:", cur.statusmessage)
    t0 = datetime.datetime(2024, 3, 1, tzinfo=UTC)
    cur.execute("INSERT INTO cpu VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (t0, "h1", "eu", 12.5, 4, 10 ** 12, decimal.Decimal("0.25"), True))
    print("insert:", cur.statusmessage, cur.rowcount)
    cur.executemany("INSERT INTO cpu (ts, host, region, usage, cores) VALUES (%s, %s, %s, %s, %s)",
                    [(t0 + datetime.timedelta(seconds=30 * i), f"h{i % 3}", "us", i * 2.5, i)
                     for i in range(1, 10)])
    print("executemany:", cur.rowcount)
    psycopg2.extras.execute_values(
        cur, "INSERT INTO cpu (ts, host, usage) VALUES %s",
        [(t0 + datetime.timedelta(hours=1, seconds=i), "ev", float(i)) for i in range(5)])
    print("execute_values:", cur.rowcount)

    query(cur, "SELECT * FROM cpu WHERE host = %s ORDER BY ts", ("h1",))
    query(cur, "SELECT time_bucket(%s, ts) AS bucket, region, count(*), max(usage), sum(cores) "
               "FROM cpu WHERE ts BETWEEN %s AND %s GROUP BY 1, 2 ORDER BY 1, 2",
          (datetime.timedelta(minutes=2), t0, t0 + datetime.timedelta(hours=2)))
    query(cur, "SELECT host, usage FROM cpu WHERE host IN %s AND usage > %s ORDER BY ts",
          (("h1", "h2"), 3))
    query(cur, "SELECT %(a)s AS a, %(b)s AS b, %(c)s AS c, %(d)s AS d, %(e)s AS e",
          {"a": 1, "b": "two", "c": True, "d": None, "e": datetime.date(2024, 1, 2)})

    # COPY in and out with copy_expert.
    data = "".join(f"2024-03-02 00:0{i}:00+00\tcp\tap\t{i}.5\t{i}\n" for i in range(4))
    cur.copy_expert("COPY cpu (ts, host, region, usage, cores) FROM STDIN", io.StringIO(data))
    print("copy in:", cur.rowcount)
    csv = "ts,host,usage\n2024-03-03 00:00:00+00,csv,\"1.25\"\n2024-03-03 00:01:00+00,csv,\n"
    cur.copy_expert("COPY cpu (ts, host, usage) FROM STDIN WITH (FORMAT csv, HEADER true)",
                    io.StringIO(csv))
    print("copy csv in:", cur.rowcount)
    out = io.StringIO()
    cur.copy_expert("COPY (SELECT ts, host, usage, cores FROM cpu WHERE host IN ('cp', 'csv') "
                    "ORDER BY ts) TO STDOUT WITH (FORMAT csv, HEADER true)", out)
    print("copy out:")
    print(out.getvalue())
    out = io.StringIO()
    cur.copy_to(out, "cpu", columns=("ts", "host", "usage"))
    print("copy_to lines:", len(out.getvalue().splitlines()))

# Server-side (named) cursor inside a transaction.
conn.autocommit = False
with conn.cursor(name="big") as cur:
    cur.itersize = 4
    cur.execute("SELECT ts, host, usage FROM cpu ORDER BY ts")
    n = 0
    for r in cur:
        n += 1
        if n <= 2:
            print("named cursor:", show_row(r))
    print("named cursor rows:", n)
conn.commit()
with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
    cur.execute("SELECT host, count(*) AS n FROM cpu GROUP BY host ORDER BY host")
    print("dict rows:", cur.fetchall())
conn.commit()

t0 = datetime.datetime(2024, 3, 1, tzinfo=UTC)
expect_error(conn, "INSERT INTO cpu (ts, host) VALUES (%s, %s)", (t0, "h1"))
expect_error(conn, "INSERT INTO cpu (ts, host, cores) VALUES (%s, %s, %s)", (t0, "zz", "many"))
expect_error(conn, "SELECT * FROM nope")
expect_error(conn, "SELEC 1")
with conn.cursor() as cur:
    cur.execute("SELECT count(*) FROM cpu")
    print("count after errors:", show_row(cur.fetchone()))
conn.rollback()
conn.close()
print("done")
