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
\set QUIET on
\if :on_strata
\o /dev/null
SELECT create_hypertable('cpu', by_range('ts', INTERVAL '1 day'), migrate_data => true);
\o
\endif
\set QUIET off
\d+ cpu
\d+ plain
\d+ cpu_pkey
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
