//! Apache Superset 6, the real application, against Strata and against PostgreSQL 15
//! (both started fresh by the test); the two transcripts must be equal.
//!
//! `tests/clients/superset/superset_transcript.py` runs Superset in-process on an empty
//! SQLite metadata database (`superset db upgrade` + `superset init`), logs in, and drives
//! the REST API as the web UI does: test and add the database connection, browse catalogs,
//! schemas, tables and a table's metadata, create a dataset (column sync from the server)
//! and refresh it, run chart queries with time grains (DATE_TRUNC), metrics, filters and
//! time ranges (TO_TIMESTAMP), samples, and a SQL Lab query.
//!
//! Superset lives in its own virtualenv, `$HOME/.cache/superset-venv`, which `.ci/run`
//! installs from `tests/clients/superset/requirements.txt` and then sets
//! `STRATA_REQUIRE_SUPERSET=1`. Without the venv the test is skipped (with a message),
//! unless `STRATA_REQUIRE_SUPERSET` is set, when it fails.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::transcript::compare;

fn superset_python() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let python = PathBuf::from(home).join(".cache/superset-venv/bin/python");
    python.is_file().then_some(python)
}

#[tokio::test]
async fn superset_transcript() {
    let Some(python) = superset_python() else {
        assert!(
            std::env::var_os("STRATA_REQUIRE_SUPERSET").is_none(),
            "STRATA_REQUIRE_SUPERSET is set but there is no Superset venv at \
             $HOME/.cache/superset-venv (.ci/run installs it from \
             tests/clients/superset/requirements.txt)"
        );
        eprintln!(
            "SKIPPED superset_transcript: no Superset venv at $HOME/.cache/superset-venv \
             (install: python3 -m venv ~/.cache/superset-venv && ~/.cache/superset-venv/bin/pip \
             install -r tests/clients/superset/requirements.txt; .ci/run does it)"
        );
        return;
    };
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/superset");
    let out = compare(
        &[],
        || {
            let mut c = Command::new(&python);
            c.arg(format!("{dir}/superset_transcript.py"))
                .current_dir(dir)
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .env("PGTZ", "UTC");
            c
        },
        "superset_transcript.py",
    )
    .await;
    assert!(out.contains("test_connection: {'message': 'OK'}"), "{out}");
    assert!(
        out.contains("time TIMESTAMP WITH TIME ZONE dttm groupby filterable"),
        "{out}"
    );
    assert!(out.contains("DATE_TRUNC('day', time)"), "{out}");
    assert!(out.contains("status: success rowcount: 4"), "{out}");
    assert!(out.contains("sqllab status: success"), "{out}");
    assert!(!out.contains("HTTP "), "{out}");
    assert!(out.trim_end().ends_with("done"), "{out}");
}
