"""SQLAlchemy 2 (psycopg2 dialect) as an application uses it: declared tables and
metadata.create_all (which asks has_table first), Core inserts and selects with
time_bucket, an ORM session, get_table_names/get_view_names/has_table."""
import datetime

import sqlalchemy as sa
from sqlalchemy import orm

from common import DSN, setup_statements, show_row

UTC = datetime.timezone.utc

engine = sa.create_engine(DSN.replace("postgresql://", "postgresql+psycopg2://"))
with engine.begin() as conn:
    for s in setup_statements():
        conn.exec_driver_sql(s)

md = sa.MetaData()
cond = sa.Table(
    "conditions", md,
    sa.Column("time", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("device", sa.Text, primary_key=True),
    sa.Column("temperature", sa.Float),
    sa.Column("humidity", sa.REAL),
    sa.Column("status", sa.SmallInteger),
    sa.Column("reading", sa.Numeric(8, 3)),
    sa.Column("ok", sa.Boolean),
)


class Base(orm.DeclarativeBase):
    pass


class Event(Base):
    __tablename__ = "events"
    ts: orm.Mapped[datetime.datetime] = orm.mapped_column(sa.DateTime(timezone=True), primary_key=True)
    kind: orm.Mapped[str] = orm.mapped_column(sa.Text, primary_key=True)
    value: orm.Mapped[float] = orm.mapped_column(sa.Float, nullable=True)


md.create_all(engine)
Base.metadata.create_all(engine)
md.create_all(engine)  # again: has_table says they exist, nothing is created
insp = sa.inspect(engine)
print("tables:", sorted(insp.get_table_names()))
print("views:", sorted(insp.get_view_names()))
print("has_table:", insp.has_table("conditions"), insp.has_table("events"), insp.has_table("nope"))

t0 = datetime.datetime(2024, 5, 1, tzinfo=UTC)
with engine.begin() as conn:
    r = conn.execute(cond.insert(), [
        {"time": t0 + datetime.timedelta(minutes=i), "device": d, "temperature": 20.0 + i,
         "humidity": 0.5, "status": i % 2, "reading": None, "ok": i % 3 == 0}
        for i in range(6) for d in ("x", "y")])
    print("inserted:", r.rowcount)
    conn.execute(cond.insert().values(time=t0 - datetime.timedelta(days=1), device="z",
                                      temperature=-1.5, reading=sa.literal(1.25, sa.Numeric(8, 3))))
with engine.connect() as conn:
    bucket = sa.func.time_bucket(sa.text("INTERVAL '5 minutes'"), cond.c.time).label("bucket")
    q = (sa.select(bucket, cond.c.device, sa.func.avg(cond.c.temperature).label("avg_t"),
                   sa.func.count().label("n"))
         .where(cond.c.time >= t0)
         .group_by(sa.text("1"), cond.c.device)
         .order_by(sa.text("1"), cond.c.device))
    for row in conn.execute(q):
        print("  ", show_row(tuple(row)))
    print("count:", conn.execute(sa.select(sa.func.count()).select_from(cond)).scalar())
    print("where:", conn.execute(sa.select(cond.c.temperature, cond.c.reading, cond.c.ok)
                                 .where(cond.c.device.in_(["y", "z"]))
                                 .order_by(cond.c.time.desc()).limit(3)).all())
    print("like:", conn.execute(sa.select(sa.func.count()).select_from(cond)
                                .where(cond.c.device.startswith("x_", autoescape=True))).scalar())

with orm.Session(engine) as session:
    session.add_all([Event(ts=t0 + datetime.timedelta(seconds=i), kind="click", value=i * 0.5)
                     for i in range(3)])
    session.commit()
    rows = session.scalars(sa.select(Event).where(Event.kind == "click").order_by(Event.ts)).all()
    print("orm:", [(e.ts.isoformat(), e.kind, e.value) for e in rows])
    try:
        session.add(Event(ts=t0, kind="click", value=1.0))
        session.commit()
    except sa.exc.IntegrityError as e:
        session.rollback()
        print("orm duplicate:", e.orig.pgcode)
print("done")
