-- psql's meta-commands over a table with a primary key and a default, a plain table, a
-- view and a materialized view (a continuous aggregate in Strata). Only the setup of the
-- hypertable and of the materialized view differs between the two servers.
\getenv target STRATA_TARGET
SELECT :'target' = 'strata' AS on_strata \gset
CREATE TABLE cpu (ts timestamptz NOT NULL, host text NOT NULL, usage double precision, n bigint DEFAULT 0, PRIMARY KEY (ts, host));
CREATE TABLE plain (id integer, name text, price numeric(10,2), flag boolean, d date, b bytea, j jsonb);
CREATE VIEW cpu_v AS SELECT ts, host FROM cpu;
INSERT INTO cpu VALUES ('2024-01-01 00:00:00+00', 'a', 1.5, 1), ('2024-01-01 00:05:00+00', 'b', NULL, 2);
\set QUIET on
\if :on_strata
\o /dev/null
SELECT create_hypertable('cpu', by_range('ts', INTERVAL '1 day'), migrate_data => true);
CREATE MATERIALIZED VIEW cpu_5m WITH (timescaledb.continuous) AS SELECT time_bucket(INTERVAL '5 minutes', ts) AS bucket, host, avg(usage) AS avg_usage FROM cpu GROUP BY 1, 2 WITH NO DATA;
\o
\else
CREATE MATERIALIZED VIEW cpu_5m AS SELECT date_bin(INTERVAL '5 minutes', ts, TIMESTAMPTZ '2000-01-01') AS bucket, host, avg(usage) AS avg_usage FROM cpu GROUP BY 1, 2 WITH NO DATA;
\endif
\set QUIET off
\dt
\dt cp*
\dv
\dm
\di
\dn public
\df
\d cpu
\d plain
\d cpu_v
\d cpu_5m
\d cpu_pkey
\x
SELECT * FROM cpu ORDER BY ts;
\x
\timing on
SELECT count(*) FROM cpu;
\timing off
