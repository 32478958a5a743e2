"""What users of the Python drivers see differently on Strata (each line is a known gap;
this transcript differs from PostgreSQL's until they are fixed):
- a plain `numeric` column keeps no per-value scale (Decimal('12.50') comes back 12.5);
- an integer literal in arithmetic is bigint (`$1::int + 1` is int8, PostgreSQL: int4);
- a decimal literal is float8 (psycopg2 sends Python floats as `3.5`: PostgreSQL numeric);
- asyncpg's type introspection query (a recursive CTE with correlated subqueries, run
  for types it has no built-in codec for, e.g. `bigint[]` in `= ANY($1)`) fails.
"""
import asyncio
import decimal

import asyncpg
import psycopg
import psycopg2

from common import DSN, show_row


def query(cur, q, params=None):
    cur.execute(q, params)
    print("Q:", q)
    print("  columns:", [(d.name, d.type_code) for d in cur.description])
    for r in cur.fetchall():
        print("  ", show_row(r))


with psycopg.connect(DSN, autocommit=True) as conn:
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE prices (ts timestamptz NOT NULL, price numeric)")
        cur.execute("INSERT INTO prices VALUES (%s, %s)", ("2024-01-01 00:00:00+00", decimal.Decimal("12.50")))
        query(cur, "SELECT price FROM prices")
        query(cur, "SELECT %s::int + 1 AS a", (41,))
    with conn.cursor(binary=True) as cur:
        query(cur, "SELECT 3.25::numeric AS n")

conn = psycopg2.connect(DSN)
with conn.cursor() as cur:
    query(cur, "SELECT %s AS f", (3.5,))
conn.close()


async def main():
    c = await asyncpg.connect(DSN)
    try:
        print("ANY:", await c.fetchval("SELECT count(*) FROM prices WHERE extract(year FROM ts)::bigint = ANY($1)",
                                       [2024, 2025]))
    except Exception as e:
        print("ANY error:", type(e).__name__)
    await c.close()


asyncio.run(main())
print("done")
