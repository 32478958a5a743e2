-- psql's verbose meta-commands (\d+), role listings (\du, \dg) and the catalog queries
-- behind them: ARRAY(subquery), pg_class.reloptions, pg_roles/pg_user/pg_authid. The
-- superuser differs in name between the servers' clusters only by its creation, so the
-- role listings are filtered to the roles created here.
\getenv target STRATA_TARGET
SELECT :'target' = 'strata' AS on_strata \gset
CREATE TABLE cpu (ts timestamptz NOT NULL, host text NOT NULL, usage double precision, n bigint DEFAULT 0, PRIMARY KEY (ts, host));
CREATE TABLE plain (id integer, name varchar(20), note varchar, price numeric(10,2), flag boolean, d date, b bytea, j jsonb);
CREATE ROLE role_login LOGIN PASSWORD 'secret';
CREATE ROLE role_nologin;
CREATE USER role_user;
CREATE TABLE hosts (host text, region varchar(10), rack integer);
\set QUIET on
\if :on_strata
\o /dev/null
SELECT create_hypertable('cpu', by_range('ts', INTERVAL '1 day'), migrate_data => true);
CREATE MATERIALIZED VIEW cpu_5m WITH (timescaledb.continuous) AS SELECT time_bucket(INTERVAL '5 minutes', ts) AS bucket, host, avg(usage) AS avg_usage, count(*) FROM cpu GROUP BY 1, 2 WITH NO DATA;
\o
\else
CREATE FUNCTION time_bucket(interval, timestamptz) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$ SELECT date_bin($1, $2, TIMESTAMPTZ '2000-01-03 00:00:00+00') $$;
CREATE MATERIALIZED VIEW cpu_5m AS SELECT time_bucket(INTERVAL '5 minutes', ts) AS bucket, host, avg(usage) AS avg_usage, count(*) FROM cpu GROUP BY 1, 2 WITH NO DATA;
\endif
\set QUIET off
\d+ cpu
\d+ plain
\d+ cpu_pkey
-- Views: pg_get_viewdef deparses the query as PostgreSQL does (qualified columns, AS only
-- where the name differs, constants with their type, operators' parentheses and casts
-- from type resolution, GROUP BY/ORDER BY positions and output names replaced by the
-- expressions). The continuous aggregate is compared with a materialized view of the
-- same query over a SQL time_bucket.
CREATE VIEW v_simple AS SELECT ts, host FROM cpu WHERE usage > 1;
CREATE VIEW v_join AS SELECT c.ts AS t, c.host, h.rack, usage * 2 + 1 AS u2, (usage + 1) * 2 AS u3 FROM cpu c JOIN hosts h ON c.host = h.host WHERE c.n > 0 AND (h.rack = 1 OR h.rack = 2) ORDER BY c.ts DESC, 2 LIMIT 10 OFFSET 5;
CREATE VIEW v_hourly AS SELECT time_bucket(INTERVAL '1 hour', ts) AS bucket, host, avg(usage) AS avg_usage, count(*), max(usage) FROM cpu GROUP BY 1, host ORDER BY 1;
CREATE VIEW v_trunc AS SELECT date_trunc('hour', ts) AS hour, count(DISTINCT host) AS hosts, sum(usage) AS s, min(ts) FROM cpu GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 DESC NULLS LAST, 2;
CREATE VIEW v_exprs AS SELECT ts + INTERVAL '1 day' AS t1, ts - '90 minutes'::interval AS t2, -n AS neg, usage::int AS ui, n::text, 'x' AS c2, 1.5 AS c1, NOT (n > 1) AS nb, usage IS NULL AS un, lower(host) AS lh FROM cpu;
CREATE VIEW v_star AS SELECT * FROM cpu;
CREATE VIEW v_left AS SELECT DISTINCT cpu.ts, hosts.rack AS "Rack" FROM cpu LEFT JOIN hosts ON cpu.host = hosts.host WHERE hosts.region = 'eu' AND hosts.rack >= 2 OR NOT hosts.rack < 0;
CREATE VIEW v_cols (a, b) AS SELECT host, count(*) FROM cpu GROUP BY host;
\d+ v_simple
\d+ v_join
\d+ v_hourly
\d+ v_trunc
\d+ v_exprs
\d+ v_star
\d+ v_left
\d+ v_cols
\d+ cpu_5m
SELECT c.relname, pg_get_viewdef(c.oid) AS not_pretty FROM pg_class c WHERE c.relname LIKE 'v\_%' ORDER BY 1;
SELECT table_name, view_definition FROM information_schema.views WHERE table_name LIKE 'v\_%' ORDER BY 1;
SELECT count(*) AS hourly FROM v_hourly;
\du role_*
\dg role_*
SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolconnlimit, rolpassword, rolvaliduntil, rolbypassrls, rolconfig, oid >= 16384 AS created FROM pg_roles WHERE rolname LIKE 'role\_%' ORDER BY 1;
SELECT usename, usecreatedb, usesuper, userepl, usebypassrls, passwd, valuntil, useconfig, usesysid >= 16384 AS created FROM pg_user WHERE usename LIKE 'role\_%' ORDER BY 1;
SELECT rolname, rolcanlogin, rolpassword LIKE 'SCRAM-SHA-256$4096:%' AS scram FROM pg_authid WHERE rolname LIKE 'role\_%' ORDER BY 1;
SELECT count(DISTINCT oid) AS distinct_oids, count(*) AS roles FROM pg_roles WHERE rolname LIKE 'role\_%';
SELECT r.rolname, a.rolname = r.rolname AS same FROM pg_roles r JOIN pg_authid a ON a.oid = r.oid WHERE r.rolname LIKE 'role\_%' ORDER BY 1;
SELECT rolname FROM pg_roles WHERE oid = 10 AND rolsuper;
SELECT relname, reloptions FROM pg_class WHERE relname IN ('cpu', 'plain', 'cpu_pkey') ORDER BY 1;
-- ARRAY(subquery): ORDER BY inside (by expression, position, output name), no rows, a
-- correlated one, DISTINCT, one over an outer array, a grouped one.
SELECT ARRAY(SELECT x FROM unnest(ARRAY[3, 1, 2]) x ORDER BY x DESC) AS by_expr, ARRAY(SELECT x * 10 AS y FROM unnest(ARRAY[3, 1, 2]) x ORDER BY y) AS by_name, ARRAY(SELECT x FROM unnest(ARRAY['b', 'a']) x ORDER BY 1) AS by_pos;
SELECT ARRAY(SELECT relname FROM pg_class WHERE false) AS none, ARRAY(SELECT DISTINCT x FROM unnest(ARRAY[2, 1, 2]) x ORDER BY x) AS distinct_x;
SELECT c.relname, ARRAY(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 ORDER BY a.attnum DESC) AS cols FROM pg_class c WHERE c.relname IN ('cpu', 'plain', 'cpu_pkey') ORDER BY 1;
SELECT t.k, ARRAY(SELECT 'p.' || x FROM unnest(t.a) x) AS mapped, ARRAY(SELECT x FROM unnest(t.a) x WHERE x > 'a') AS filtered FROM (VALUES (1, ARRAY['a', 'b']), (2, NULL)) t(k, a) ORDER BY 1;
SELECT ARRAY(SELECT count(*) FROM unnest(ARRAY[1, 1, 2]) x GROUP BY x ORDER BY count(*)) AS counts, ARRAY(SELECT x FROM unnest(ARRAY[5, 4, 3]) x ORDER BY x LIMIT 2) AS limited;
SELECT x FROM pg_catalog.unnest(ARRAY[1, 2]) x;
