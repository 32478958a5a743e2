-- pgbench -M prepared custom script (tests/clients_jvm_node.rs): each transaction inserts a
-- row for its client and reads that client's rows back, all through prepared statements.
\set n random(1, 1000000000)
\set v :client_id * 2 + 1
INSERT INTO bench (ts, client, n, v) VALUES (TIMESTAMPTZ '2024-01-01 00:00:00+00' + :client_id * INTERVAL '1 hour', :client_id, :n, :v * 0.5);
SELECT count(*), max(v) FROM bench WHERE client = :client_id AND ts >= TIMESTAMPTZ '2024-01-01 00:00:00+00';
