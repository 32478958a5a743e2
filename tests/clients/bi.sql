-- SQL that BI tools generate, as they send it: Grafana's PostgreSQL data source (macro
-- expansions, table and column discovery), Superset's time grains, Metabase's sync.
CREATE TABLE metrics (ts timestamptz NOT NULL, host text, value double precision);
INSERT INTO metrics VALUES ('2024-01-01 00:01:00+00', 'a', 1), ('2024-01-01 00:04:00+00', 'a', 3), ('2024-01-01 00:07:00+00', 'b', 5), ('2024-01-02 00:00:00+00', 'b', 7);
-- Grafana: $__timeGroupAlias(ts, 5m) and $__timeFilter(ts)
SELECT floor(extract(epoch from ts)/300)*300 AS "time", avg(value) AS "value" FROM metrics WHERE ts BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-02T00:00:00Z' GROUP BY 1 ORDER BY 1;
SELECT ts AS "time", host AS metric, value FROM metrics WHERE ts BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-01T00:05:00Z' ORDER BY 1;
SELECT extract(epoch from ts) AS "time", value FROM metrics WHERE ts >= to_timestamp(1704067200) AND ts <= to_timestamp(1704153600) ORDER BY 1;
SELECT quote_ident(table_name) AS "table" FROM information_schema.tables WHERE quote_ident(table_schema) NOT IN ('information_schema', 'pg_catalog', '_timescaledb_cache', '_timescaledb_catalog', '_timescaledb_internal', '_timescaledb_config', 'timescaledb_information', 'timescaledb_experimental') AND table_type = 'BASE TABLE' AND quote_ident(table_schema) IN (SELECT CASE WHEN TRIM(s[i]) = '"$user"' THEN user ELSE TRIM(s[i]) END FROM generate_series(array_lower(string_to_array(current_setting('search_path'),','),1), array_upper(string_to_array(current_setting('search_path'),','),1)) as i, string_to_array(current_setting('search_path'),',') s) ORDER BY 1;
SELECT quote_ident(column_name) AS "column", data_type AS "type" FROM information_schema.columns WHERE quote_ident(table_name) = 'metrics' ORDER BY ordinal_position;
SELECT column_name, data_type, udt_name, is_nullable FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'metrics' ORDER BY ordinal_position;
-- Superset time grains
SELECT DATE_TRUNC('minute', ts) AS __timestamp, count(*) FROM metrics GROUP BY 1 ORDER BY 1;
SELECT DATE_TRUNC('hour', ts) AS __timestamp, sum(value) FROM metrics GROUP BY DATE_TRUNC('hour', ts) ORDER BY 1;
SELECT DATE_TRUNC('day', ts) AS __timestamp, max(value) AS "MAX(value)" FROM metrics GROUP BY DATE_TRUNC('day', ts) ORDER BY __timestamp DESC LIMIT 10000;
SELECT DATE_TRUNC('week', ts) AS __timestamp FROM metrics GROUP BY 1;
SELECT date_trunc('minute', ts) - (EXTRACT(minute FROM ts)::integer % 5) * interval '1 minute' AS __timestamp, count(*) FROM metrics GROUP BY 1 ORDER BY 1;
-- Metabase
SELECT TRUE AS "_" FROM "public"."metrics" WHERE 1 <> 1 LIMIT 0;
SELECT "public"."metrics"."host" AS "host", COUNT(*) AS "count" FROM "public"."metrics" GROUP BY "public"."metrics"."host" ORDER BY "public"."metrics"."host" ASC;
SELECT n.nspname AS schema, c.relname AS name, CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'v' THEN 'VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END AS type, d.description AS description, stat.relname IS NOT NULL AS has_stats FROM pg_catalog.pg_class c INNER JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid LEFT JOIN pg_catalog.pg_description d ON ((c.oid = d.objoid) AND (d.objsubid = 0) AND (d.classoid = 'pg_class'::regclass)) LEFT JOIN pg_stat_user_tables stat ON ((n.nspname = stat.schemaname) AND (c.relname = stat.relname)) WHERE ((c.relnamespace = n.oid) AND (n.nspname !~ '^information_schema|catalog_history|pg_') AND (n.nspname <> 'information_schema') AND (n.nspname <> 'timescaledb_information') AND c.relkind IN ('r', 'p', 'v', 'f', 'm')) ORDER BY type ASC, schema ASC, name ASC;
SELECT c.column_name AS name, c.udt_name AS "database-type", c.ordinal_position - 1 AS "database-position", c.table_schema AS "table-schema", c.table_name AS "table-name", pk.column_name IS NOT NULL AS "pk?", col_description(CAST(CAST(format('%I.%I', CAST(c.table_schema AS text), CAST(c.table_name AS text)) AS regclass) AS oid), c.ordinal_position) AS "field-comment", ((column_default IS NULL) OR (LOWER(column_default) = 'null')) AND (is_nullable = 'NO') AS "database-required", column_default IS NOT NULL AS "database-is-auto-increment" FROM information_schema.columns AS c LEFT JOIN (SELECT tc.table_schema, tc.table_name, kc.column_name FROM information_schema.table_constraints AS tc INNER JOIN information_schema.key_column_usage AS kc ON (tc.constraint_name = kc.constraint_name) AND (tc.table_schema = kc.table_schema) AND (tc.table_name = kc.table_name) WHERE tc.constraint_type = 'PRIMARY KEY') AS pk ON (c.table_schema = pk.table_schema) AND (c.table_name = pk.table_name) AND (c.column_name = pk.column_name) WHERE c.table_schema !~ '^information_schema|catalog_history|pg_' AND c.table_schema = 'public' AND c.table_name = 'metrics' ORDER BY "table-schema" ASC, "table-name" ASC, "database-position" ASC;
SELECT schemaname, tablename, tableowner FROM pg_tables WHERE schemaname = 'public' ORDER BY 2;
SELECT schemaname, viewname FROM pg_views WHERE schemaname = 'public' ORDER BY 2;
SELECT relname, schemaname FROM pg_stat_user_tables ORDER BY 1;
SELECT 'metrics'::regclass, 'public.metrics'::regclass::text;
