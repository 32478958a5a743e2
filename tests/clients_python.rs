//! Python drivers: each script in `tests/clients/python/` runs against Strata and against
//! PostgreSQL 15 (both started fresh by the test) and the two transcripts must be equal.
//! The scripts print values with their Python types, result column type oids and the
//! SQLSTATE + message of expected errors, so a difference in type or value shows.
//! `.ci/run` installs the drivers (pip: psycopg[binary], psycopg2-binary, asyncpg,
//! sqlalchemy).

mod common;

use std::process::Command;

use common::transcript::compare;

fn python(script: &str) -> Command {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/python");
    let mut c = Command::new("python3");
    c.arg(format!("{dir}/{script}"))
        .current_dir(dir)
        .env("PYTHONPATH", dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PGTZ", "UTC");
    c
}

/// psycopg 3: server-side binding, binary cursors, prepared statements, COPY in and out
/// in text and binary formats, errors, transactions.
#[tokio::test]
async fn psycopg3_transcript() {
    let out = compare(&[], || python("psycopg3.py"), "psycopg3.py").await;
    assert!(out.contains("copy binary in: 3"), "{out}");
    assert!(out.contains("copy binary out raw: 5047434f5059"), "{out}");
    assert!(out.contains("23505 duplicate key value"), "{out}");
    assert!(out.trim_end().ends_with("done"), "{out}");
}

/// psycopg2: client-side interpolation, executemany/execute_values, copy_expert, named
/// (server-side) cursors.
#[tokio::test]
async fn psycopg2_transcript() {
    let out = compare(&[], || python("psycopg2_client.py"), "psycopg2_client.py").await;
    assert!(out.contains("named cursor rows: 21"), "{out}");
    assert!(out.contains("copy csv in: 2"), "{out}");
    assert!(out.trim_end().ends_with("done"), "{out}");
}

/// asyncpg: binary protocol with its type introspection, prepared statements,
/// copy_records_to_table (binary COPY), copy_from_query, cursors.
#[tokio::test]
async fn asyncpg_transcript() {
    let out = compare(&[], || python("asyncpg_client.py"), "asyncpg_client.py").await;
    assert!(out.contains("copy_records_to_table: COPY 4"), "{out}");
    assert!(
        out.contains("params: [('interval', 1186), ('timestamptz', 1184)]"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("done"), "{out}");
}

/// SQLAlchemy as applications use it: create_all, Core insert/select with time_bucket,
/// an ORM session, has_table / get_table_names / get_view_names.
#[tokio::test]
async fn sqlalchemy_core_transcript() {
    let out = compare(&[], || python("sqlalchemy_core.py"), "sqlalchemy_core.py").await;
    assert!(out.contains("has_table: True True False"), "{out}");
    assert!(out.contains("orm duplicate: 23505"), "{out}");
    assert!(out.trim_end().ends_with("done"), "{out}");
}

/// Schema discovery through information_schema (tables, columns, schemata).
#[tokio::test]
async fn information_schema_transcript() {
    let out = compare(
        &[],
        || python("information_schema.py"),
        "information_schema.py",
    )
    .await;
    assert!(out.contains("'metrics'"), "{out}");
}

/// SQLAlchemy's inspector as Superset drives it: get_columns, get_pk_constraint,
/// get_foreign_keys, get_indexes, get_unique_constraints, get_check_constraints,
/// get_table_comment, get_table_options, get_view_definition, then a reflected Table in
/// Core queries.
#[tokio::test]
async fn sqlalchemy_inspector_transcript() {
    let out = compare(
        &[],
        || python("sqlalchemy_inspector.py"),
        "sqlalchemy_inspector.py",
    )
    .await;
    assert!(
        out.contains("'name': 'conditions_pkey'") && out.contains("['time', 'device']"),
        "{out}"
    );
    assert!(out.contains("'default': '0', 'name': 'status'"), "{out}");
    assert!(out.contains("view definition: str True True"), "{out}");
    assert!(out.trim_end().ends_with("done"), "{out}");
}

// Two scripts in tests/clients/python are not run here because their transcripts still
// differ from PostgreSQL's (issue 5 is open on them; docs/architecture.md, Known gaps):
// - sqlalchemy_inspector.py: SQLAlchemy's inspector stops at get_columns, whose query
//   needs json_build_object, pg_sequence and pg_get_serial_sequence;
// - known_gaps.py: numeric scale, integer-literal arithmetic types, decimal literals,
//   asyncpg's type-introspection query.
// Run one by hand against a server: STRATA_DSN=postgresql://strata@127.0.0.1:5433/strata
// STRATA_TARGET=strata python3 tests/clients/python/known_gaps.py
