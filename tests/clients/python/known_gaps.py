"""What users of the Python drivers still see differently on Strata (each line is a known
gap; this transcript differs from PostgreSQL's until they are fixed, and is not run by the
suite):
- a plain `numeric` column keeps no per-value scale (Decimal('12.50') comes back 12.5).
"""
import decimal

import psycopg

from common import DSN, show_row

with psycopg.connect(DSN, autocommit=True) as conn:
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE prices (ts timestamptz NOT NULL, price numeric)")
        cur.execute("INSERT INTO prices VALUES (%s, %s)", ("2024-01-01 00:00:00+00", decimal.Decimal("12.50")))
        cur.execute("SELECT price FROM prices")
        print("price:", show_row(cur.fetchone()))

print("done")
