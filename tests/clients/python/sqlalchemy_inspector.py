"""SQLAlchemy 2 with psycopg2: the inspector calls a BI tool such as Superset makes to
discover the schema, then Core inserts and a time_bucket query."""
import datetime

import sqlalchemy as sa

from common import DSN, setup_statements, show_row

UTC = datetime.timezone.utc

engine = sa.create_engine(DSN.replace("postgresql://", "postgresql+psycopg2://"))

with engine.begin() as conn:
    for s in setup_statements():
        conn.exec_driver_sql(s)
    conn.exec_driver_sql("CREATE TABLE sensors (id bigint PRIMARY KEY, name text NOT NULL, "
                         "location varchar, installed date, price numeric(10,2), "
                         "active boolean DEFAULT true)")
    conn.exec_driver_sql("CREATE TABLE conditions (time timestamptz NOT NULL, device text NOT NULL, "
                         "temperature double precision, humidity real, status smallint DEFAULT 0, "
                         "note text, PRIMARY KEY (time, device))")
    conn.exec_driver_sql("CREATE VIEW hot AS SELECT time, device, temperature FROM conditions "
                         "WHERE temperature > 30")


def show_cols(cols):
    for c in cols:
        d = {k: (repr(v) if k == "type" else v) for k, v in sorted(c.items())}
        print("   ", d)


insp = sa.inspect(engine)
print("default schema:", insp.default_schema_name)
print("schemas:", [s for s in insp.get_schema_names() if s in ("public", "information_schema")])
print("tables:", sorted(insp.get_table_names()))
print("views:", sorted(insp.get_view_names()))
for t in ("sensors", "conditions", "hot"):
    print("table", t)
    print("  has_table:", insp.has_table(t))
    print("  columns:")
    show_cols(insp.get_columns(t))
    print("  pk:", insp.get_pk_constraint(t))
    print("  fks:", insp.get_foreign_keys(t))
    print("  indexes:", insp.get_indexes(t))
    print("  unique:", insp.get_unique_constraints(t))
    print("  comment:", insp.get_table_comment(t))
    print("  checks:", insp.get_check_constraints(t))
    print("  options:", insp.get_table_options(t))
# PostgreSQL prints the view's query as it deparses it, Strata as it was written.
view_def = insp.get_view_definition("hot")
print("view definition:", type(view_def).__name__, repr(view_def))
print("has_table missing:", insp.has_table("missing"))

# Reflect and use the table through Core.
md = sa.MetaData()
cond = sa.Table("conditions", md, autoload_with=engine)
print("reflected:", [(c.name, str(c.type), c.nullable, c.primary_key) for c in cond.columns])
t0 = datetime.datetime(2024, 5, 1, tzinfo=UTC)
with engine.begin() as conn:
    r = conn.execute(cond.insert(), [
        {"time": t0 + datetime.timedelta(minutes=i), "device": d, "temperature": 20.0 + i,
         "humidity": 0.5, "status": i % 2, "note": None}
        for i in range(6) for d in ("x", "y")])
    print("inserted:", r.rowcount)
with engine.connect() as conn:
    bucket = sa.func.time_bucket(sa.literal_column("INTERVAL '5 minutes'"), cond.c.time).label("bucket")
    q = (sa.select(bucket, cond.c.device, sa.func.avg(cond.c.temperature).label("avg_t"),
                   sa.func.count().label("n"))
         .where(cond.c.time >= t0)
         .group_by(sa.text("1"), cond.c.device)
         .order_by(sa.text("1"), cond.c.device))
    for row in conn.execute(q):
        print("  ", show_row(tuple(row)))
    print("count:", conn.execute(sa.select(sa.func.count()).select_from(cond)).scalar())
    print("where:", conn.execute(sa.select(cond.c.temperature).where(cond.c.device == "y")
                                 .order_by(cond.c.time.desc()).limit(2)).all())
print("done")
