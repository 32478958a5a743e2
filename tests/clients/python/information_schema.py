"""Schema discovery through information_schema, as applications and ORMs without a
PostgreSQL dialect do it (psycopg 3, server-side binding: the column types show).
varchar has no length here: Strata does not keep varchar(n) lengths (docs/architecture.md,
Known gaps), so character_maximum_length would differ."""
import psycopg

from common import DSN, setup_statements, show_row


def query(cur, q, params=None):
    cur.execute(q, params)
    print("Q:", q)
    print("  columns:", [(d.name, d.type_code) for d in cur.description])
    for r in cur.fetchall():
        print("  ", show_row(r))


with psycopg.connect(DSN, autocommit=True) as conn:
    for s in setup_statements():
        conn.execute(s)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE metrics (ts timestamptz NOT NULL, host text NOT NULL, "
                    "usage double precision, temp real, cnt bigint, small smallint, mid integer, "
                    "price numeric(10, 2), ok boolean, payload bytea, day date, local timestamp, "
                    "dur interval, doc jsonb, label varchar, PRIMARY KEY (ts, host))")
        cur.execute("CREATE VIEW busy AS SELECT ts, host FROM metrics WHERE usage > 90")
        query(cur, "SELECT table_schema, table_name, table_type FROM information_schema.tables "
                   "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 2")
        query(cur, "SELECT column_name, data_type, is_nullable, character_maximum_length, "
                   "numeric_precision, numeric_scale FROM information_schema.columns "
                   "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
              ("metrics",))
        query(cur, "SELECT schema_name FROM information_schema.schemata "
                   "WHERE schema_name IN ('public', 'information_schema', 'pg_catalog') ORDER BY 1")
print("done")
