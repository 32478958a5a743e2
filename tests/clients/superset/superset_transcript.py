"""Apache Superset 6 against the server in STRATA_DSN, as a user drives it from the UI.

Superset runs in-process (create_app) on an empty SQLite metadata database that this
script migrates (`superset db upgrade`) and initialises (`superset init`); every step then
goes through Superset's REST API with Flask's test client, as the web UI calls it:

1. Test the connection (POST /api/v1/database/test_connection/) and add the database.
2. List schemas and tables, read a table's metadata and SELECT * preview (SQL Lab's
   left panel).
3. Create a dataset on a table (its columns come from the server: fetch_metadata), and
   refresh it ("Sync columns from source").
4. Run chart queries through /api/v1/chart/data: time-series with time grains (P1D, PT1H,
   P1W: DATE_TRUNC), metrics (COUNT(*), AVG, MAX), filters (IN, ==, ILIKE, IS NOT NULL, a
   custom WHERE, HAVING) and time ranges (TO_TIMESTAMP); print the SQL Superset generates
   and the rows it gets back; then the dataset's samples.
5. Run a query in SQL Lab (POST /api/v1/sqllab/execute/).

The transcript prints what Superset shows (column names and types, generic types, rows
as JSON); the Rust test requires it to be the same against Strata and PostgreSQL 15.
"""
import atexit
import contextlib
import json
import os
import shutil
import sys
import tempfile

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
DSN = os.environ["STRATA_DSN"]
WORK = tempfile.mkdtemp(prefix="superset-transcript-")
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
os.environ["SUPERSET_CONFIG_PATH"] = os.path.join(HERE, "superset_config.py")
os.environ["SUPERSET_META_DB"] = os.path.join(WORK, "superset.db")
os.environ.setdefault("SUPERSET_HOME", WORK)

# The data the charts read, written with the plain driver (not Superset's job).
with psycopg2.connect(DSN) as conn, conn.cursor() as cur:
    cur.execute("DROP TABLE IF EXISTS conditions")
    cur.execute(
        "CREATE TABLE conditions (time timestamptz NOT NULL, device text NOT NULL, "
        "temperature double precision, humidity real, status smallint, note varchar(20), "
        "PRIMARY KEY (time, device))"
    )
    # 48 hours from 2024-05-01 00:00 UTC, three devices.
    cur.executemany(
        "INSERT INTO conditions VALUES "
        "(TIMESTAMPTZ '2024-05-01 00:00:00+00' + %s * INTERVAL '1 hour', %s, %s, %s, %s, %s)",
        [(h, dev, 20 + (h % 12) * 0.5 + d, 0.25 + d * 0.25, h % 3, None if h % 5 else f"n{h}")
         for h in range(48) for d, dev in enumerate(("alpha", "beta", "gamma"))],
    )
conn.close()

# Superset and its migrations print progress on stdout: keep the transcript for ours.
with contextlib.redirect_stdout(sys.stderr):
    from superset.app import create_app

    app = create_app()


def section(title):
    print(f"== {title}")


def check(resp, what):
    if resp.status_code >= 400:
        print(f"{what}: HTTP {resp.status_code}", file=sys.stderr)
        print(resp.get_data(as_text=True), file=sys.stderr)
        print(f"{what}: HTTP {resp.status_code}")
        return None
    return resp.get_json()


with app.app_context():
    import superset
    from flask_migrate import upgrade
    from superset import security_manager
    from superset.extensions import appbuilder

    with contextlib.redirect_stdout(sys.stderr):
        # `superset db upgrade` and `superset init`.
        upgrade(directory=os.path.join(os.path.dirname(superset.__file__), "migrations"))
        appbuilder.add_permissions(update_perms=True)
        security_manager.sync_role_definitions()
    security_manager.add_user(
        "admin", "Ada", "Admin", "admin@example.invalid",
        security_manager.find_role("Admin"), password="admin",
    )

    # Log in through the login form, as the browser does; the session cookie stays in
    # the test client.
    client = app.test_client()
    login = client.post("/login/", data={"username": "admin", "password": "admin"})
    print("login:", login.status_code)

    def get(url, what):
        return check(client.get(url), what)

    def post(url, body, what):
        return check(client.post(url, json=body), what)

    def put(url, body, what):
        return check(client.put(url, json=body), what)

    uri = DSN.replace("postgresql://", "postgresql+psycopg2://")

    section("connect")
    r = post("/api/v1/database/test_connection/",
             {"sqlalchemy_uri": uri, "database_name": "timeseries"}, "test_connection")
    print("test_connection:", r)
    r = post("/api/v1/database/", {
        "database_name": "timeseries", "sqlalchemy_uri": uri, "expose_in_sqllab": True,
        "allow_dml": False, "allow_run_async": False,
    }, "create database")
    db_id = r["id"]
    print("database created:", r["result"]["database_name"])
    r = get(f"/api/v1/database/{db_id}", "get database")
    print("backend:", r["result"]["backend"], "engine:", r["result"]["engine_information"])

    section("schema browser")
    r = get(f"/api/v1/database/{db_id}/catalogs/", "catalogs")
    print("catalogs:", r and sorted(r["result"]))
    r = get(f"/api/v1/database/{db_id}/schemas/?q=(force:!t)", "schemas")
    # Strata also has TimescaleDB's timescaledb_information schema (its views list
    # hypertables, jobs and continuous aggregates), which PostgreSQL has not.
    print("schemas:", r and sorted(s for s in r["result"] if s != "timescaledb_information"))
    r = get(f"/api/v1/database/{db_id}/tables/?q=(schema_name:public,force:!t)", "tables")
    print("tables:", r and r["count"], r and sorted((t["value"], t["type"]) for t in r["result"]))
    r = get(f"/api/v1/database/{db_id}/table_metadata/?name=conditions&schema=public",
            "table_metadata")
    if r:
        print("table_metadata columns:")
        for c in r["columns"]:
            print("   ", c["name"], c["type"], c.get("longType"), "keys:", c.get("keys"))
        print("table_metadata pk:", r.get("primaryKey"))
        print("table_metadata fks:", r.get("foreignKeys"), "indexes:", r.get("indexes"))
    r = get(f"/api/v1/database/{db_id}/table_metadata/extra/?name=conditions&schema=public",
            "table_metadata extra")
    print("table_metadata extra:", r)
    r = get(f"/api/v1/database/{db_id}/select_star/conditions/public/", "select_star")
    print("select_star:", r and r["result"].replace("\n", " "))

    section("dataset")
    r = post("/api/v1/dataset/", {"database": db_id, "schema": "public",
                                  "table_name": "conditions"}, "create dataset")
    ds_id = r["id"]
    r = put(f"/api/v1/dataset/{ds_id}/refresh", {}, "refresh dataset")
    print("refresh:", r)
    r = get(f"/api/v1/dataset/{ds_id}", "get dataset")
    print("main_dttm_col:", r["result"]["main_dttm_col"])
    for c in sorted(r["result"]["columns"], key=lambda c: c["column_name"]):
        print("   ", c["column_name"], c["type"], "dttm" if c["is_dttm"] else "-",
              "groupby" if c["groupby"] else "-", "filterable" if c["filterable"] else "-")
    print("metrics:", [(m["metric_name"], m["expression"]) for m in r["result"]["metrics"]])

    def chart(query, result_type="full"):
        body = {
            "datasource": {"id": ds_id, "type": "table"},
            "force": True,
            "queries": [query],
            "result_format": "json",
            "result_type": result_type,
        }
        return post("/api/v1/chart/data", body, f"chart data {result_type}")

    def show_chart(title, query, ordered=False):
        section(title)
        q = chart(query, "query")
        if q:
            print("sql:", " ".join(q["result"][0]["query"].split()))
        r = chart(query)
        if r:
            res = r["result"][0]
            print("status:", res["status"], "rowcount:", res["rowcount"],
                  "colnames:", res["colnames"])
            print("coltypes:", res["coltypes"])
            # Superset sends no ORDER BY for some charts (it sorts in pandas): print the
            # rows in a fixed order.
            rows = [json.dumps(row, sort_keys=True) for row in res["data"]]
            for row in rows if ordered else sorted(rows):
                print("   ", row)

    time_range = "2024-05-01T00:00:00 : 2024-05-02T06:00:00"
    avg_temp = {"expressionType": "SIMPLE", "column": {"column_name": "temperature"},
                "aggregate": "AVG", "label": "avg_temp"}
    max_hum = {"expressionType": "SIMPLE", "column": {"column_name": "humidity"},
               "aggregate": "MAX", "label": "max_humidity"}
    show_chart("time-series P1D by device", {
        "columns": [{"timeGrain": "P1D", "columnType": "BASE_AXIS", "sqlExpression": "time",
                     "label": "time", "expressionType": "SQL"}, "device"],
        "metrics": ["count", avg_temp],
        "filters": [{"col": "device", "op": "IN", "val": ["alpha", "beta"]},
                    {"col": "time", "op": "TEMPORAL_RANGE", "val": time_range}],
        "orderby": [[{"expressionType": "SQL", "sqlExpression": "time", "label": "time"}, True],
                    [{"expressionType": "SQL", "sqlExpression": "device", "label": "device"}, True]],
        "row_limit": 100,
    }, ordered=True)
    show_chart("time-series PT1H, legacy granularity", {
        "granularity": "time",
        "is_timeseries": True,
        "extras": {"time_grain_sqla": "PT1H", "where": "status <> 2"},
        "time_range": "2024-05-01T20:00:00 : 2024-05-02T02:00:00",
        "columns": [],
        "metrics": ["count", avg_temp, max_hum],
        "filters": [{"col": "device", "op": "==", "val": "gamma"}],
        "orderby": [],
        "row_limit": 50,
    })
    show_chart("table chart with a HAVING and a text filter", {
        "columns": ["device", "status"],
        "metrics": ["count", avg_temp],
        "filters": [{"col": "note", "op": "IS NOT NULL"},
                    {"col": "time", "op": "TEMPORAL_RANGE", "val": "No filter"}],
        "extras": {"having": "COUNT(*) > 1"},
        "orderby": [["count", False],
                    [{"expressionType": "SQL", "sqlExpression": "device", "label": "device"}, True],
                    [{"expressionType": "SQL", "sqlExpression": "status", "label": "status"}, True]],
        "row_limit": 10,
    }, ordered=True)
    show_chart("big number with P1W grain and LIKE filter", {
        "columns": [{"timeGrain": "P1W", "columnType": "BASE_AXIS", "sqlExpression": "time",
                     "label": "time", "expressionType": "SQL"}],
        "metrics": [avg_temp],
        "filters": [{"col": "device", "op": "ILIKE", "val": "%A"}],
        "orderby": [],
        "row_limit": 10,
    })
    section("samples")
    r = chart({"columns": [], "metrics": [], "filters": [], "orderby": [],
               "row_limit": 3}, "samples")
    if r:
        res = r["result"][0]
        print("samples:", res["rowcount"], sorted(res["colnames"]))

    section("sql lab")
    r = post("/api/v1/sqllab/execute/", {
        "database_id": db_id, "schema": "public", "runAsync": False, "client_id": "tr01",
        "sql": "SELECT device, count(*) AS n, round(avg(temperature)::numeric, 3) AS t "
               "FROM conditions GROUP BY device ORDER BY device",
        "queryLimit": 100,
    }, "sqllab execute")
    if r:
        print("sqllab status:", r["status"], "columns:",
              [(c["column_name"], c["type"]) for c in r["columns"]])
        for row in r["data"]:
            print("   ", json.dumps(row, sort_keys=True))
print("done")
