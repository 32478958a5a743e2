"""Shared by the Python client transcripts: where the server is and how to print a result.

Every script prints what a user of its driver would see: Python values with their types
(repr), the type oids of the result columns, and SQLSTATE + message of expected errors,
so that a difference in type or value between Strata and PostgreSQL shows up in the
transcript.
"""
import os

DSN = os.environ["STRATA_DSN"]
TARGET = os.environ["STRATA_TARGET"]

# time_bucket is TimescaleDB's; on PostgreSQL it is defined with date_bin (TimescaleDB's
# origin for buckets below a month is Monday 2000-01-03) so the queries are identical.
PG_SETUP = [
    "CREATE FUNCTION time_bucket(interval, timestamptz) RETURNS timestamptz "
    "LANGUAGE sql IMMUTABLE AS $$ SELECT date_bin($1, $2, TIMESTAMPTZ '2000-01-03 00:00:00+00') $$",
]


def setup_statements():
    return PG_SETUP if TARGET == "postgres" else []


def show(v):
    return f"{v!r}:{type(v).__name__}"


def show_row(row):
    return "(" + ", ".join(show(v) for v in row) + ")"
