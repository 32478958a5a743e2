"""psycopg 3: server-side binding (the default), binary cursors, prepared statements,
COPY in and out in text and binary formats."""
import datetime
import decimal
import sys

import psycopg
from psycopg import sql
from psycopg.pq import ExecStatus

from common import DSN, setup_statements, show, show_row

UTC = datetime.timezone.utc


def desc(cur):
    return [(d.name, d.type_code) for d in cur.description]


def query(cur, q, params=None, **kw):
    cur.execute(q, params, **kw)
    print("Q:", q.as_string(cur) if isinstance(q, sql.Composable) else q)
    print("  columns:", desc(cur))
    for r in cur.fetchall():
        print("  ", show_row(r))


def describe(conn, q, types=None):
    """Parse + Describe, with the parameter types given by oid (None: left to the server)."""
    pg = conn.pgconn
    r = pg.prepare(b"", q.encode(), types)
    if r.error_message:
        print("D:", q, "->", r.error_field(psycopg.pq.DiagnosticField.SQLSTATE))
        return
    d = pg.describe_prepared(b"")
    print("D:", q, "params", [d.param_type(i) for i in range(d.nparams)],
          "columns", [(d.fname(i).decode(), d.ftype(i)) for i in range(d.nfields)])


def expect_error(conn, q, params=None):
    try:
        with conn.cursor() as cur:
            cur.execute(q, params)
        print("E: no error for", q)
    except psycopg.Error as e:
        print("E:", q, "->", e.sqlstate, e.diag.message_primary)
        conn.rollback()


with psycopg.connect(DSN, autocommit=True) as conn:
    print("connected; server_encoding", conn.info.parameter_status("server_encoding"),
          "client_encoding", conn.info.encoding,
          "integer_datetimes", conn.info.parameter_status("integer_datetimes"),
          "DateStyle", conn.info.parameter_status("DateStyle"))
    for s in setup_statements():
        conn.execute(s)
    conn.execute("SET TIME ZONE 'UTC'")

    with conn.cursor() as cur:
        cur.execute("""CREATE TABLE metrics (
            ts timestamptz NOT NULL,
            host text NOT NULL,
            usage double precision,
            temp real,
            cnt bigint,
            small smallint,
            mid integer,
            price numeric(10, 2),
            ok boolean,
            payload bytea,
            day date,
            local timestamp,
            dur interval,
            doc jsonb,
            PRIMARY KEY (ts, host))""")
        print("create:", cur.statusmessage)

        # INSERT with server-side parameters, one row and many.
        t0 = datetime.datetime(2024, 1, 1, tzinfo=UTC)
        cur.execute(
            "INSERT INTO metrics VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (t0, "a", 1.5, 2.25, 10, 3, 70000, decimal.Decimal("12.50"), True, b"\x00\x01ab",
             datetime.date(2024, 1, 1), datetime.datetime(2024, 1, 1, 12, 30),
             datetime.timedelta(minutes=5), psycopg.types.json.Jsonb({"k": [1, 2]})))
        print("insert:", cur.statusmessage, cur.rowcount)
        rows = [(t0 + datetime.timedelta(minutes=i), h, float(i) + (0.5 if h == "b" else 0.0), i)
                for i in range(1, 12) for h in ("a", "b")]
        cur.executemany("INSERT INTO metrics (ts, host, usage, cnt) VALUES (%s, %s, %s, %s)", rows)
        print("executemany:", cur.rowcount)

        query(cur, "SELECT * FROM metrics WHERE ts = %s", (t0,))
        query(cur, "SELECT time_bucket(%s, ts) AS bucket, host, count(*), avg(usage), max(cnt) "
                   "FROM metrics WHERE ts >= %s GROUP BY 1, 2 ORDER BY 1, 2",
              (datetime.timedelta(minutes=5), t0))
        query(cur, "SELECT host, sum(cnt), min(ts), max(ts) FROM metrics WHERE host = %s GROUP BY host",
              ("b",))
        query(cur, "SELECT to_char(ts, %s) AS t, host, row_number() OVER (PARTITION BY host ORDER BY ts) AS rn "
                   "FROM metrics WHERE ts < %s ORDER BY ts, host",
              ("YYYY-MM-DD HH24:MI", t0 + datetime.timedelta(minutes=3)))
        query(cur, "SELECT %s::int AS a, %s::text AS b, %s::float8 AS c, %s::bool AS d",
              (41, "x", 0.25, False))
        query(cur, sql.SQL("SELECT count(*) FROM {} WHERE {} > %s").format(
            sql.Identifier("metrics"), sql.Identifier("usage")), (5,))

    # Binary results of every type.
    with conn.cursor(binary=True) as cur:
        query(cur, "SELECT * FROM metrics WHERE ts = %s", (t0,))
        query(cur, "SELECT time_bucket(INTERVAL '10 minutes', ts) AS b, count(*), sum(usage) "
                   "FROM metrics GROUP BY 1 ORDER BY 1")
        query(cur, "SELECT 1::int2, 2::int4, 3::int8, 1.5::float4, 2.5::float8, 3.25::numeric(6, 2), "
                   "'t'::text, true, '\\x0102'::bytea, DATE '2024-02-29', "
                   "TIMESTAMP '2024-01-01 01:02:03.456', TIMESTAMPTZ '2024-01-01 01:02:03+00', "
                   "INTERVAL '1 day 2 hours', '{\"a\": 1}'::jsonb")

    # Prepared statements: psycopg prepares a query it has run prepare_threshold times.
    with conn.cursor() as cur:
        for host in ("a", "b", "a"):
            cur.execute("SELECT count(*), max(usage) FROM metrics WHERE host = %s", (host,),
                        prepare=True)
            print("prepared", host, show_row(cur.fetchone()))

    # Parameters as table-function arguments: Describe of the unnamed statement (types
    # left to the server), then Execute with values from a cursor.
    # (an integer series is int8 here, int4 in PostgreSQL: see docs/architecture.md)
    for q in ("SELECT g::int4 AS g FROM generate_series(1, $1) AS g",
              "SELECT count(*) FROM generate_series(1, $1)",
              "SELECT count(*) FROM generate_series(1, $1 + 1, 2 * $2)",
              "SELECT g FROM generate_series($1::timestamptz, $2, $3::interval) AS g WHERE g > $4",
              "SELECT * FROM unnest($1::int[])",
              "SELECT $1::oid AS o, $2::oid[] AS os",
              "SELECT relname FROM pg_class WHERE oid = $1 OR relnamespace = $2::oid",
              "SELECT '{1,2}'::oid[] AS os, array[1::oid, 2::oid] AS a",
              "SELECT CASE WHEN oid > 0 THEN oid ELSE 0 END AS c, max(oid) AS m "
              "FROM pg_class WHERE relname = 'pg_type' GROUP BY oid",
              "SELECT c FROM (SELECT CASE WHEN true THEN oid END AS c FROM pg_class) s LIMIT 1"):
        describe(conn, q)
    describe(conn, "SELECT $1::oid AS o", [23])  # a declared type stands
    # Untyped parameters of string functions and of `||` are text.
    describe(conn, "SELECT $1 || $2 AS c, upper($3) AS u, length($4) AS n")
    # ... and types the placeholder wherever it is used (int8, int4, timestamptz, bool,
    # date, interval, oid)
    describe(conn, "SELECT $1 AS a, $2 * 2 AS b, $3 AS c, $4 AS d, $5 AS e, $6 AS f, $7 AS g",
             [20, 23, 1184, 16, 1082, 1186, 26])
    with conn.cursor() as cur:
        for b in (False, True):
            cur = conn.cursor(binary=b)
            for n in (3, 0):
                cur.execute("SELECT * FROM generate_series(1, %s)", (n,), prepare=True)
                print("series", b, n, [r[0] for r in cur.fetchall()])
            cur.execute("SELECT g FROM generate_series(%s::timestamptz, %s, %s::interval) AS g "
                        "WHERE g > %s",
                        (t0, t0 + datetime.timedelta(hours=2), datetime.timedelta(minutes=30),
                         t0), prepare=True)
            print("series ts", b, desc(cur), [show(r[0]) for r in cur.fetchall()])
            cur.execute("SELECT count(*) FROM generate_series(1, %s) AS x(v) WHERE v > %s",
                        (10, 4), prepare=True)
            print("series count", b, desc(cur), cur.fetchall())
            cur.execute("SELECT count(*) FROM generate_series(1, %s + 1, 2 * %s)", (8, 2),
                        prepare=True)
            print("series nested", b, desc(cur), cur.fetchall())
            cur.execute("SELECT * FROM unnest(%s::int[])", ([5, 6],), prepare=True)
            print("unnest", b, desc(cur), cur.fetchall())

    # COPY in, text format with typed rows.
    with conn.cursor() as cur:
        with cur.copy("COPY metrics (ts, host, usage, cnt, ok) FROM STDIN") as cp:
            for i in range(3):
                cp.write_row((t0 + datetime.timedelta(hours=1, minutes=i), "c", i * 1.25, i, i % 2 == 0))
        print("copy text in:", cur.rowcount)
        # COPY in, binary format.
        with cur.copy("COPY metrics (ts, host, usage, cnt, ok, price, day, payload, doc) "
                      "FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(["timestamptz", "text", "float8", "int8", "bool", "numeric", "date",
                          "bytea", "jsonb"])
            for i in range(3):
                cp.write_row((t0 + datetime.timedelta(hours=2, minutes=i), "d", i * 0.5, i * 100,
                              i == 1, decimal.Decimal(i) / 4, datetime.date(2024, 3, i + 1),
                              bytes([i, 255]), psycopg.types.json.Jsonb({"i": i})))
        print("copy binary in:", cur.rowcount)
        query(cur, "SELECT ts, host, usage, cnt, ok, price, day, payload, doc FROM metrics "
                   "WHERE host IN ('c', 'd') ORDER BY ts")

        # COPY out, text and binary.
        with cur.copy("COPY (SELECT ts, host, usage, cnt FROM metrics WHERE host = 'c' ORDER BY ts) "
                      "TO STDOUT") as cp:
            for row in cp.rows():
                print("copy text out:", show_row(row))
        with cur.copy("COPY (SELECT ts, host, usage, cnt, ok, price, day, payload FROM metrics "
                      "WHERE host = 'd' ORDER BY ts) TO STDOUT (FORMAT BINARY)") as cp:
            cp.set_types(["timestamptz", "text", "float8", "int8", "bool", "numeric", "date", "bytea"])
            for row in cp.rows():
                print("copy binary out:", show_row(row))
        with cur.copy("COPY (SELECT ts, host FROM metrics WHERE host = 'd' ORDER BY ts) "
                      "TO STDOUT (FORMAT BINARY)") as cp:
            data = b"".join(bytes(b) for b in cp)
            print("copy binary out raw:", data.hex())

    # char(n): blank-padded on output (text and binary), trailing spaces not significant.
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE codes (id int, code char(4), flag character, v varchar(3))")
        cur.execute("INSERT INTO codes VALUES (%s, %s, %s, %s)", (1, "ab", "y", "x  "))
        cur.execute("INSERT INTO codes VALUES (2, 'wxyz  ', NULL, 'abc   ')")
        with cur.copy("COPY codes (id, code, flag) FROM STDIN") as cp:
            cp.write(b"3\t\xc3\xa9 \tn\n")
        query(cur, "SELECT id, code, flag, v FROM codes ORDER BY id")
        query(cur, "SELECT id, code, flag FROM codes WHERE code = %s ORDER BY id", ("ab",), binary=True)
        query(cur, "SELECT id FROM codes WHERE code = 'ab  ' OR code IN ('wxyz ') ORDER BY id")
        # A parameter compared with char(n) loses its trailing blanks (sent untyped, it is
        # typed char(n)); cast to text, it keeps them.
        query(cur, "SELECT id FROM codes WHERE code = %s OR code IN (%s, %s) ORDER BY id",
              ("ab  ", "zz ", "wxyz "))
        query(cur, "SELECT id FROM codes WHERE code = %s ORDER BY id", ("ab  ",), prepare=True)
        query(cur, "SELECT count(*) AS n FROM codes WHERE code = %s::text", ("ab ",))
        query(cur, "SELECT code, length(code), code || '|' AS c FROM codes WHERE id = 3")
        with cur.copy("COPY (SELECT * FROM codes ORDER BY id) TO STDOUT") as cp:
            print("copy char out:", b"".join(bytes(b) for b in cp))
        expect_error(conn, "INSERT INTO codes (id, code) VALUES (4, 'abcde')")
        # Casts to char(n) cut and pad; the type modifier (n + 4) is in RowDescription.
        casts = ("SELECT 'abc'::char(2) AS a, 'ab'::char(4) AS b, CAST('x' AS character(3)) AS c, "
                 "'xy '::char AS d, 'ab '::bpchar || '|' AS e, pg_typeof('ab'::char(4))::text AS t, "
                 "length('ab'::char(4)) AS l, 'ab'::char(4) = 'ab' AS eq")
        query(cur, casts)
        query(cur, casts, binary=True)
        cur.execute("SELECT code, 'ab'::char(3) AS c3, v FROM codes LIMIT 1")
        print("  char modifiers:", [(d.name, d.internal_size) for d in cur.description])
        # Values derived from char(n) and varchar(n) columns keep PostgreSQL's types:
        # max/min and ::bpchar of a char(4) are bpchar with its blanks (no modifier),
        # coalesce over varchar is varchar, max of a varchar is text.
        for binary in (False, True):
            cur = conn.cursor(binary=binary)
            cur.execute("SELECT max(code) AS mx, min(code) AS mn, max(v) AS mv, "
                        "min(code::bpchar) AS mb FROM codes")
            print("  derived:", [(d.name, d.type_code, d.internal_size) for d in cur.description],
                  cur.fetchall())
            cur.execute("SELECT id, code::bpchar AS b, coalesce(v, 'z') AS cv, "
                        "coalesce(v, code) AS vc, coalesce(code, 'z')::text AS ct, "
                        "max(code) OVER () AS wm, min(code) OVER (ORDER BY id) AS wn, "
                        "octet_length(code) AS ol, concat(code, '|') AS cc "
                        "FROM codes ORDER BY id")
            print("  derived:", [(d.name, d.type_code, d.internal_size) for d in cur.description],
                  cur.fetchall())
        cur = conn.cursor()
        query(cur, "SELECT id, code::char(2) AS c2, code::character(6) || '|' AS c6, "
                   "v::char(5) AS v5 FROM codes ORDER BY id")
        query(cur, "SELECT %s || %s AS c, upper(%s) AS u, length(%s) AS n", ("a", "b", "c", "abc"))
        # Type modifiers of columns and casts: varchar(n)'s length, numeric(p, s)'s
        # precision and scale (none for an unconstrained numeric or an expression).
        cur.execute("CREATE TABLE sized (a numeric(10,2), b numeric, f numeric(5), c varchar(3), d varchar)")
        cur.execute("INSERT INTO sized VALUES (1.5, 2.25, 7, 'ab', 'x')")
        for binary in (False, True):
            cur = conn.cursor(binary=binary)
            cur.execute("SELECT a, b, f, c, d, c::varchar(2) AS c2, 'xyz '::varchar(4) AS x4, "
                        "c::text AS ct, c::varchar AS cv, a + 1 AS a1, max(a) OVER () AS ma, "
                        "b::numeric(6,3) AS b3, 1.5::numeric(4,1) AS l4, f::decimal(7) AS f7 "
                        "FROM sized")
            print("  modifiers:", [(d.name, d.type_code, d.display_size, d.precision, d.scale)
                                   for d in cur.description], cur.fetchall())
        cur = conn.cursor()
        expect_error(conn, "SELECT 'a'::char(0)")

    # Expected errors.
    t1 = t0 + datetime.timedelta(minutes=1)
    expect_error(conn, "INSERT INTO metrics (ts, host, usage) VALUES (%s, %s, %s)", (t1, "a", 0.0))
    expect_error(conn, "INSERT INTO metrics (ts, host, usage) VALUES (%s, %s, 'abc')", (t1, "z"))
    expect_error(conn, "SELECT * FROM nosuchtable")
    expect_error(conn, "SELECT nosuchcolumn FROM metrics")
    expect_error(conn, "SELECT 1/0")

    # Transactions (psycopg's default is a transaction per connection until commit).
with psycopg.connect(DSN) as conn:
    with conn.cursor() as cur:
        cur.execute("INSERT INTO metrics (ts, host, usage) VALUES (%s, %s, %s)",
                    (datetime.datetime(2024, 2, 1, tzinfo=UTC), "tx", 1.0))
        conn.rollback()
        cur.execute("SELECT count(*) FROM metrics WHERE host = 'tx'")
        print("after rollback:", show_row(cur.fetchone()))
        cur.execute("INSERT INTO metrics (ts, host, usage) VALUES (%s, %s, %s)",
                    (datetime.datetime(2024, 2, 1, tzinfo=UTC), "tx", 1.0))
        conn.commit()
        cur.execute("SELECT count(*) FROM metrics WHERE host = 'tx'")
        print("after commit:", show_row(cur.fetchone()))
        conn.commit()


# psycopg sends DEALLOCATE ALL after a DROP, ALTER or ROLLBACK once it holds prepared
# statements, then prepares its queries again (with new names).
def run_prepared(cur, label):
    for host in ("a", "b"):
        cur.execute("SELECT count(*), max(cnt) FROM metrics WHERE host = %s", (host,),
                    prepare=True)
        print(label, host, show_row(cur.fetchone()))
    cur.execute("SELECT %s::int * 2 AS n", (21,), prepare=True)
    print(label, desc(cur), cur.fetchall())


def exec_named(pg, name):
    """Execute (and Describe) a statement by name, outside psycopg's bookkeeping."""
    def error(res):
        f = psycopg.pq.DiagnosticField
        return [res.error_field(x).decode() for x in (f.SQLSTATE, f.MESSAGE_PRIMARY)]

    r = pg.exec_prepared(name.encode(), [])
    print("exec", name, "->", error(r) if r.error_message else r.get_value(0, 0).decode())
    d = pg.describe_prepared(name.encode())
    print("describe", name, "->",
          error(d) if d.error_message else [d.fname(i).decode() for i in range(d.nfields)])


with psycopg.connect(DSN) as conn:
    pg = conn.pgconn
    print("prepare mine:", ExecStatus(pg.prepare(b"mine", b"SELECT 42 AS answer").status).name)
    exec_named(pg, "mine")
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE scratch (k int)")
        run_prepared(cur, "before drop")
        cur.execute("DROP TABLE scratch")
        print("drop:", cur.statusmessage)
        conn.commit()
        # DEALLOCATE ALL removed every named statement, ours included.
        exec_named(pg, "mine")
        run_prepared(cur, "after drop")
        try:
            cur.execute("SELECT * FROM nosuchtable")
        except psycopg.Error as e:
            print("error:", e.sqlstate, e.diag.message_primary)
        conn.rollback()
        print("rollback:", conn.info.transaction_status.name)
        run_prepared(cur, "after rollback")
        conn.commit()
        print("prepare mine again:",
              ExecStatus(pg.prepare(b"mine", b"SELECT 43 AS answer").status).name)
        # A name in use is refused (42P05); the statement it names stays.
        dup = pg.prepare(b"mine", b"SELECT 44 AS answer")
        print("prepare mine twice:", ExecStatus(dup.status).name,
              dup.error_field(psycopg.pq.DiagnosticField.SQLSTATE),
              dup.error_field(psycopg.pq.DiagnosticField.MESSAGE_PRIMARY))
        exec_named(pg, "mine")
    # DISCARD ALL (pgbouncer's reset query) deallocates them too.
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DISCARD ALL")
        print("discard:", cur.statusmessage)
    exec_named(pg, "mine")
    # SQL's PREPARE shares one namespace with the protocol's Parse; EXECUTE sent as an
    # unnamed statement is described with its statement's columns.
    with conn.cursor() as cur:
        cur.execute("PREPARE sqlmine (int) AS SELECT $1 * 2 AS doubled")
        print("sql prepare:", cur.statusmessage)
        cur.execute("EXECUTE sqlmine(21)")
        print("sql execute:", desc(cur), cur.fetchall())
        # Bind and Describe may name a statement SQL prepared (libpq's PQexecPrepared).
        r = pg.exec_prepared(b"sqlmine", [b"22"])
        print("bind sql name:", ExecStatus(r.status).name, r.get_value(0, 0))
        d = pg.describe_prepared(b"sqlmine")
        print("describe sql name:", d.nparams, [d.param_type(i) for i in range(d.nparams)],
              [(d.fname(i).decode(), d.ftype(i)) for i in range(d.nfields)])
        r = pg.exec_prepared(b"sqlmine", [b"1", b"2"])
        print("bind sql name, two values:", ExecStatus(r.status).name,
              r.error_field(psycopg.pq.DiagnosticField.SQLSTATE),
              r.error_field(psycopg.pq.DiagnosticField.MESSAGE_PRIMARY))
        cur.execute("PREPARE sqlins (int) AS INSERT INTO codes (id) VALUES ($1)")
        d = pg.describe_prepared(b"sqlins")
        print("describe sql insert:", d.nparams, d.param_type(0), d.nfields)
        # pg_prepared_statements lists both kinds, with their parameter types; each run
        # counts once (Strata plans once and binds values: a generic plan).
        pg.prepare(b"protolisted", b"SELECT $1::int8 * 2 AS x, $2::timestamptz AS t")
        pg.exec_prepared(b"protolisted", [b"3", b"2024-01-01"])
        # `statement` is the client's text, the PREPARE's included.
        cur.execute("SELECT name, from_sql, parameter_types, generic_plans + custom_plans, "
                    "prepare_time <= now(), statement "
                    "FROM pg_prepared_statements ORDER BY name")
        print("pg_prepared_statements:", cur.fetchall())
        pg.close_prepared(b"protolisted")
        # A parameter declared varchar (oid 1043, pgjdbc's type for strings) is described
        # as varchar.
        pg.prepare(b"protovarchar", b"SELECT $1 AS v", [1043])
        d = pg.describe_prepared(b"protovarchar")
        print("describe varchar:", d.nparams, d.param_type(0), d.ftype(0))
        r = pg.exec_prepared(b"protovarchar", [b"vv"])
        print("exec varchar:", ExecStatus(r.status).name, r.get_value(0, 0))
        pg.close_prepared(b"protovarchar")
        # The protocol's Close removes a statement SQL prepared, as DEALLOCATE does.
        print("close sqlins:", ExecStatus(pg.close_prepared(b"sqlins").status).name)
        exec_named(pg, "sqlins")
        dup = pg.prepare(b"sqlmine", b"SELECT 46")
        print("parse over sql name:", ExecStatus(dup.status).name,
              dup.error_field(psycopg.pq.DiagnosticField.SQLSTATE))
        print("parse protomine:", ExecStatus(pg.prepare(b"protomine", b"SELECT 47").status).name)
        try:
            cur.execute("PREPARE protomine AS SELECT 48")
        except psycopg.Error as e:
            print("sql prepare over parse name:", e.sqlstate, e.diag.message_primary)
        for name in ("protomine", "sqlmine", "sqlmine"):
            try:
                cur.execute(f"DEALLOCATE {name}")
                print("deallocate", name, cur.statusmessage)
            except psycopg.Error as e:
                print("deallocate", name, e.sqlstate, e.diag.message_primary)
    exec_named(pg, "protomine")
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_prepared_statements")
        print("pg_prepared_statements after deallocate:", cur.fetchone())

# The same queries sent again as unnamed statements (what drivers do for every query),
# with and without a parameter, outside a transaction block: each sees the rows written
# before it (Strata answers them from its plan cache).
with psycopg.connect(DSN, autocommit=True) as conn, conn.cursor() as cur:
    for n in (1, 2, 3):
        cur.execute("SELECT count(*), sum(usage) FROM metrics WHERE host = %s", ("a",))
        print("unnamed, parameter", n, show_row(cur.fetchone()))
        cur.execute("SELECT host, count(*) FROM metrics GROUP BY host ORDER BY host")
        print("unnamed, no parameter", n, [show_row(r) for r in cur.fetchall()])
        cur.execute("INSERT INTO metrics (ts, host, usage) VALUES (%s, 'a', %s)",
                    (datetime.datetime(2025, 1, 1, n, tzinfo=UTC), float(n)))
# PostgreSQL functions Strata computes itself, with server-side parameters, as a statement
# prepared once and executed again: AT TIME ZONE, make_interval, age, percentile_disc,
# json_agg (decoded by psycopg from its json type), float rounding.
with psycopg.connect(DSN, autocommit=True) as conn, conn.cursor() as cur:
    for prepare in (False, True):
        cur.execute("SELECT %s::timestamptz AT TIME ZONE %s",
                    ("2024-07-01 12:00+00", "Asia/Tokyo"), prepare=prepare)
        print("at time zone", prepare, show_row(cur.fetchone()))
        cur.execute("SELECT make_interval(days => %s, secs => %s), age(%s::timestamp, %s::timestamp)",
                    (3, 1.5, "2024-03-01", "2024-01-15"), prepare=prepare)
        print("make_interval, age", prepare, show_row(cur.fetchone()))
        cur.execute("SELECT percentile_disc(%s) WITHIN GROUP (ORDER BY usage), json_agg(host ORDER BY ts) "
                    "FROM metrics WHERE ts < %s",
                    (0.5, datetime.datetime(2025, 1, 1, tzinfo=UTC)), prepare=prepare)
        print("percentile_disc, json_agg", prepare, show_row(cur.fetchone()))
        cur.execute("SELECT round(%s::float8), %s::float8::int4", (2.5, 3.5), prepare=prepare)
        print("rint", prepare, show_row(cur.fetchone()))
print("done")
