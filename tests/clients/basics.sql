-- The smallest transcript: psql's own formatting of a few types and an error.
CREATE TABLE t (ts timestamptz NOT NULL, host text, v double precision, n bigint);
INSERT INTO t VALUES ('2024-01-01 00:00:00+00', 'a', 1.5, 1), ('2024-01-01 00:05:00+00', 'b', NULL, 2);
SELECT * FROM t ORDER BY ts;
SELECT count(*), sum(n), avg(v) FROM t;
SELECT 1/0;
