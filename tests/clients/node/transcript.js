// node-postgres transcript: what a Node application does. Run by tests/clients_jvm_node.rs
// against Strata and PostgreSQL 15; both runs must print the same lines.
// Connection from PGHOST/PGPORT/PGUSER/PGDATABASE (pg reads them); STRATA_TARGET is
// "postgres" on the reference server, where a setup step defines Strata's time_bucket.
'use strict';

const { Client } = require('pg');

function show(v) {
  if (v === null) return 'null';
  if (v instanceof Date) return 'Date:' + v.toISOString();
  if (Buffer.isBuffer(v)) return 'Buffer:' + v.toString('hex');
  if (Array.isArray(v)) return 'Array:[' + v.map(show).join(',') + ']';
  if (typeof v === 'object') return 'object:' + JSON.stringify(v);
  return typeof v + ':' + String(v);
}

function dump(title, res) {
  console.log(title + ' (' + res.command + ' ' + res.rowCount + ')');
  console.log('  fields: ' + res.fields.map((f) => f.name + '/' + f.dataTypeID).join(' '));
  for (const row of res.rows) {
    console.log('  row: ' + res.fields.map((f) => f.name + '=' + show(row[f.name])).join(' '));
  }
}

async function expectError(title, p) {
  try {
    await p;
    console.log(title + ': no error');
  } catch (e) {
    console.log(title + ': ERROR ' + e.code + ' ' + e.message);
  }
}

async function main() {
  const c = new Client({ application_name: 'strata-node-transcript' });
  await c.connect();
  dump('settings', await c.query(
    "SELECT current_setting('application_name') AS app, current_database() AS db, current_schema() AS schema"));
  if (process.env.STRATA_TARGET === 'postgres') {
    await c.query("CREATE FUNCTION time_bucket(interval, timestamptz) RETURNS timestamptz " +
      "LANGUAGE sql IMMUTABLE AS $$ SELECT date_bin($1, $2, TIMESTAMPTZ '2000-01-03 00:00:00+00') $$");
  }
  dump('create', await c.query(
    'CREATE TABLE readings (ts timestamptz NOT NULL, device text NOT NULL, temp double precision, ' +
    'seq bigint, code integer, ok boolean, note text)'));

  // Schema discovery as ORMs and admin tools do it.
  dump('tables', await c.query(
    "SELECT table_schema, table_name, table_type FROM information_schema.tables " +
    "WHERE table_schema = 'public' ORDER BY table_name"));
  dump('columns', await c.query(
    "SELECT column_name, data_type, is_nullable, ordinal_position FROM information_schema.columns " +
    "WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position", ['public', 'readings']));

  // Parameterized inserts: every value is sent as text with unspecified type.
  const t0 = Date.UTC(2024, 0, 1);
  for (let i = 0; i < 8; i++) {
    const r = await c.query(
      'INSERT INTO readings (ts, device, temp, seq, code, ok, note) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [new Date(t0 + i * 90000), i % 2 ? 'dev-a' : 'dev-b', i === 3 ? null : 20 + i / 4,
        (9007199254740993n + BigInt(i)).toString(), i * 10, i % 3 !== 0, i === 5 ? "it's" : null]);
    if (i === 0) dump('insert', r);
  }
  // Multi-row insert with parameters.
  dump('insert multi', await c.query(
    'INSERT INTO readings (ts, device, temp, seq, code, ok) VALUES ($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12)',
    ['2024-01-01T00:20:00Z', 'dev-c', 1.5, 1, 1, true, '2024-01-01T00:21:00Z', 'dev-c', 2.5, 2, 2, false]));

  dump('select', await c.query('SELECT * FROM readings WHERE device = $1 ORDER BY ts', ['dev-a']));
  // A named statement: parsed once, executed many times.
  for (const dev of ['dev-a', 'dev-b', 'dev-a']) {
    dump('bucket ' + dev, await c.query({
      name: 'buckets',
      text: "SELECT time_bucket(INTERVAL '5 minutes', ts) AS bucket, device, avg(temp) AS avg_temp, " +
        'count(*) AS n, sum(code) AS total, max(seq) AS max_seq FROM readings ' +
        'WHERE device = $1 AND ts >= $2 GROUP BY 1, 2 ORDER BY 1',
      values: [dev, new Date(t0)],
    }));
  }
  dump('types', await c.query(
    "SELECT 1 AS i4, CAST(2 AS smallint) AS i2, CAST(3 AS bigint) AS i8, CAST(1.5 AS real) AS f4, " +
    "CAST(0.1 AS double precision) + 0.2 AS f8, CAST('12.340' AS numeric) AS num, 'txt' AS t, true AS b, " +
    "CAST('\\x0102ff' AS bytea) AS by, DATE '2024-02-29' AS d, TIMESTAMP '2024-01-02 03:04:05.678' AS ts, " +
    "TIMESTAMPTZ '2024-01-02 03:04:05.678+00' AS tstz, INTERVAL '1 day 02:03:04' AS iv, " +
    "CAST('{\"a\": [1, 2]}' AS jsonb) AS j, NULL AS nul"));
  dump('param types', await c.query(
    'SELECT $1::int AS a, $2::text AS b, $3::float8 AS c, $4::timestamptz AS d, $5::boolean AS e, $6::bigint AS f',
    [42, 'x', 2.5, new Date(t0), true, '123456789012']));
  dump('aggregates', await c.query('SELECT count(*), sum(seq), avg(code), min(ts), max(temp) FROM readings'));

  await expectError('division by zero', c.query('SELECT 1/0'));
  await expectError('missing table', c.query('SELECT * FROM nope'));
  await expectError('bad timestamp', c.query('INSERT INTO readings (ts, device) VALUES ($1, $2)', ['not a time', 'x']));
  await expectError('missing column', c.query('SELECT nosuch FROM readings'));
  dump('after errors', await c.query('SELECT count(*) AS n FROM readings'));
  await c.end();
  console.log('done');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
