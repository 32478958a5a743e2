"""asyncpg: binary protocol, its type-introspection queries, prepared statements,
copy_records_to_table (binary COPY) and copy_from_query."""
import asyncio
import datetime
import decimal
import io
import json

import asyncpg

from common import DSN, setup_statements, show, show_row

UTC = datetime.timezone.utc


def attrs(stmt):
    return [(a.name, a.type.name, a.type.oid) for a in stmt.get_attributes()]


async def query(conn, q, *args):
    stmt = await conn.prepare(q)
    print("Q:", q)
    print("  params:", [(t.name, t.oid) for t in stmt.get_parameters()])
    print("  columns:", attrs(stmt))
    for r in await stmt.fetch(*args):
        print("  ", show_row(tuple(r)))


async def expect_error(conn, q, *args):
    try:
        await conn.execute(q, *args)
        print("E: no error for", q)
    except asyncpg.PostgresError as e:
        print("E:", q, "->", e.sqlstate, e.message)


async def main():
    conn = await asyncpg.connect(DSN)
    for s in setup_statements():
        await conn.execute(s)
    await conn.execute("SET TIME ZONE 'UTC'")
    print("connected")
    await conn.execute("""CREATE TABLE readings (
        ts timestamptz NOT NULL,
        device text NOT NULL,
        value double precision,
        level real,
        seq bigint,
        code smallint,
        qty integer,
        amount numeric(12, 3),
        active boolean,
        raw bytea,
        day date,
        local_ts timestamp,
        period interval,
        meta jsonb,
        PRIMARY KEY (ts, device))""")
    print("created")

    t0 = datetime.datetime(2024, 1, 1, tzinfo=UTC)
    status = await conn.execute(
        "INSERT INTO readings VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        t0, "dev1", 20.5, 1.25, 1, 7, 123456, decimal.Decimal("10.125"), True, b"\x00\xffz",
        datetime.date(2024, 1, 1), datetime.datetime(2024, 1, 1, 8, 0), datetime.timedelta(hours=1),
        json.dumps({"unit": "C"}))
    print("insert:", status)
    await conn.executemany(
        "INSERT INTO readings (ts, device, value, seq) VALUES ($1, $2, $3, $4)",
        [(t0 + datetime.timedelta(minutes=i), d, i * 1.5, i) for i in range(1, 9) for d in ("dev1", "dev2")])
    print("executemany done")

    # copy_records_to_table uses binary COPY FROM STDIN.
    res = await conn.copy_records_to_table(
        "readings",
        records=[(t0 + datetime.timedelta(hours=1, minutes=i), "dev3", i * 0.25, i, decimal.Decimal(i) / 8,
                  i % 2 == 0, datetime.date(2024, 2, 1 + i), bytes([i]), json.dumps({"i": i}))
                 for i in range(4)],
        columns=["ts", "device", "value", "seq", "amount", "active", "day", "raw", "meta"])
    print("copy_records_to_table:", res)

    await query(conn, "SELECT * FROM readings WHERE ts = $1 AND device = $2", t0, "dev1")
    await query(conn, "SELECT time_bucket($1, ts) AS bucket, device, count(*), avg(value), sum(seq) "
                      "FROM readings WHERE ts >= $2 GROUP BY 1, 2 ORDER BY 1, 2",
                datetime.timedelta(minutes=5), t0)
    await query(conn, "SELECT ts, device, value, seq, amount, active, day, raw, meta FROM readings "
                      "WHERE device = $1 ORDER BY ts", "dev3")
    await query(conn, "SELECT count(*) FROM readings WHERE value > $1 AND device = ANY($2)",
                2.0, ["dev1", "dev2"])
    # Array parameters of types asyncpg has no built-in codec for (bigint[], int4[]): it
    # introspects them with a query over pg_type whose oid columns must be `oid`/`oid[]`.
    await query(conn, "SELECT count(*) FROM readings WHERE extract(year FROM ts)::bigint = ANY($1)",
                [2024, 2025])
    await query(conn, "SELECT count(*) FROM readings WHERE seq = ANY($1::int4[])", [1, 2])
    await query(conn, "SELECT 42::oid AS o, $1::oid[] AS os", [1, 2])
    await query(conn, "SELECT oid, typelem, typarray FROM pg_type WHERE typname = '_int8'")
    await query(conn, "SELECT $1::int4 AS a, $2::text AS b, $3::float8 AS c, $4::bool AS d, "
                      "$5::numeric(4, 1) AS e, $6::date AS f, $7::timestamptz AS g, $8::interval AS h, "
                      "$9::bytea AS i, $10::int8 AS j, $11::int2 AS k, $12::float4 AS l",
                1, "x", 0.5, True, decimal.Decimal("1.5"), datetime.date(2020, 2, 29),
                t0, datetime.timedelta(days=2, seconds=3), b"ab", 2 ** 40, -3, 0.75)

    # A parameter compared with a char(n) column is typed bpchar, as PostgreSQL infers it;
    # asyncpg sends it as text, and its trailing blanks do not count.
    await conn.execute("CREATE TABLE codes (id int, code char(4), v varchar(3))")
    await conn.execute("INSERT INTO codes VALUES (1, 'ab', 'x'), (2, 'wxyz', 'abc')")
    await query(conn, "SELECT id, code FROM codes WHERE code = $1 ORDER BY id", "ab ")
    await query(conn, "SELECT id FROM codes WHERE code = $1 OR v = $2 ORDER BY id", "wxyz", "x")
    await query(conn, "SELECT id FROM codes WHERE code IN ($1, $2) ORDER BY id", "ab", "wxyz  ")
    await query(conn, "SELECT id FROM codes WHERE code = $1::text ORDER BY id", "ab  ")

    # fetchrow / fetchval, prepared statement reuse.
    stmt = await conn.prepare("SELECT max(value), min(ts) FROM readings WHERE device = $1")
    for d in ("dev1", "dev2", "nope"):
        print("prepared", d, show_row(tuple(await stmt.fetchrow(d))))
    print("fetchval:", show(await conn.fetchval("SELECT count(*) FROM readings")))

    # Cursor inside a transaction.
    async with conn.transaction():
        cur = await conn.cursor("SELECT seq FROM readings WHERE device = $1 ORDER BY ts", "dev2")
        print("cursor fetch:", [show(r["seq"]) for r in await cur.fetch(3)])

    # Transactions.
    try:
        async with conn.transaction():
            await conn.execute("INSERT INTO readings (ts, device) VALUES ($1, 'tx')", t0)
            raise RuntimeError("rollback")
    except RuntimeError:
        pass
    print("after rollback:", show(await conn.fetchval("SELECT count(*) FROM readings WHERE device = 'tx'")))

    # COPY out (text) from a query.
    buf = io.BytesIO()
    res = await conn.copy_from_query(
        "SELECT ts, device, seq FROM readings WHERE device = $1 ORDER BY ts", "dev3", output=buf)
    print("copy_from_query:", res)
    print(buf.getvalue().decode())
    buf = io.BytesIO()
    res = await conn.copy_from_query(
        "SELECT ts, device, seq, value FROM readings WHERE device = 'dev3' ORDER BY ts",
        output=buf, format="binary")
    print("copy_from_query binary:", res, buf.getvalue().hex())

    await expect_error(conn, "INSERT INTO readings (ts, device) VALUES ($1, $2)", t0, "dev1")
    await expect_error(conn, "SELECT * FROM missing_table")
    await expect_error(conn, "SELECT 1/0")
    try:
        await conn.execute("INSERT INTO readings (ts, device, seq) VALUES ($1, $2, $3)", t0, "z", "notanint")
    except Exception as e:
        print("client-side error:", type(e).__name__)
    await conn.close()
    print("done")


asyncio.run(main())
