"""Types of literals and parameters as the Python drivers see them: decimal literals are
numeric (psycopg2 interpolates Python floats as `3.5`), `$1::int + 1` is int4, an
unconstrained numeric cast prints without the storage scale's zeros (text and binary)."""
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
        query(cur, "SELECT %s::int + 1 AS a", (41,))
        query(cur, "SELECT 0.1 + 0.2 AS s, 2.5::int AS r")
        query(cur, "SELECT 3.25::numeric AS n")
    with conn.cursor(binary=True) as cur:
        query(cur, "SELECT 3.25::numeric AS n, 1.5 * 2 AS m")

conn = psycopg2.connect(DSN)
with conn.cursor() as cur:
    query(cur, "SELECT %s AS f, %s * 2 AS g", (3.5, 0.1))
conn.close()
print("done")
