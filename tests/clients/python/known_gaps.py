"""What users of the Python drivers still see differently on Strata (each line is a known
gap; this transcript differs from PostgreSQL's until they are fixed, and is not run by the
suite):
- a plain `numeric` column keeps no per-value scale (Decimal('12.50') comes back 12.5);
- asyncpg's type introspection (run for types it has no built-in codec for, e.g.
  `bigint[]` in `= ANY($1)`) recurses: Strata describes oid values as int4 / int4[], and
  asyncpg only has built-in codecs for oid[] and text[], so it introspects the types of
  its own introspection query.
"""
import asyncio
import decimal

import asyncpg
import psycopg

from common import DSN, show_row

with psycopg.connect(DSN, autocommit=True) as conn:
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE prices (ts timestamptz NOT NULL, price numeric)")
        cur.execute("INSERT INTO prices VALUES (%s, %s)", ("2024-01-01 00:00:00+00", decimal.Decimal("12.50")))
        cur.execute("SELECT price FROM prices")
        print("price:", show_row(cur.fetchone()))


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
