//! Client compatibility: real clients run the same script against Strata and against
//! PostgreSQL 15 (started by the test), and their transcripts must be equal.
//! See `tests/common/transcript.rs` for how a client finds its server.

mod common;

use std::process::Command;

use common::transcript::compare;

/// psql running a script file; its errors (stderr) are part of the transcript.
fn psql_script(file: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(format!(
            "psql -X -v ON_ERROR_STOP=0 -f {}/tests/clients/{file} 2>&1",
            env!("CARGO_MANIFEST_DIR")
        ))
        .env("PGTZ", "UTC");
    c
}

#[tokio::test]
async fn psql_basics() {
    let out = compare(&[], || psql_script("basics.sql"), "psql basics.sql").await;
    assert!(out.contains("(2 rows)"), "{out}");
    assert!(out.contains("ERROR:  division by zero"), "{out}");
}

/// psql with its output filtered by `sed` (for what is legitimately nondeterministic).
fn psql_script_masked(file: &str, sed: &str) -> Command {
    let c = psql_script(file);
    let script = c
        .get_args()
        .nth(1)
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut m = Command::new("sh");
    m.arg("-c")
        .arg(format!("{script} | sed -E '{sed}'"))
        .env("PGTZ", "UTC");
    m
}

#[tokio::test]
async fn psql_meta_commands() {
    let out = compare(
        &[],
        || psql_script_masked("meta.sql", "s/^Time: [0-9.]+ ms.*/Time: (masked)/"),
        "psql meta.sql",
    )
    .await;
    // The key shows as its index, the continuous aggregate as a materialized view.
    assert!(
        out.contains(" public | cpu_pkey | index | strata | cpu"),
        "{out}"
    );
    assert!(
        out.contains(" public | cpu_5m | materialized view | strata"),
        "{out}"
    );
    assert!(out.contains(" public | pg_database_owner"), "{out}");
    assert!(out.contains("Time: (masked)"), "{out}");
    assert!(!out.contains("ERROR"), "{out}");
}

#[tokio::test]
async fn psql_verbose_meta_commands_and_roles() {
    let out = compare(&[], || psql_script("meta_plus.sql"), "psql meta_plus.sql").await;
    assert!(out.contains("Access method: heap"), "{out}");
    assert!(out.contains(" name   | character varying(20) |"), "{out}");
    assert!(out.contains(" role_nologin | Cannot login | {}"), "{out}");
    assert!(out.contains(" {3,2,1} | {10,20,30} | {a,b}"), "{out}");
    // Views are deparsed (PostgreSQL's layout and its cast from type resolution).
    assert!(
        out.contains(
            "View definition:\n SELECT cpu.ts,\n    cpu.host\n   FROM cpu\n  WHERE cpu.usage > 1::double precision;\n"
        ),
        "{out}"
    );
    assert!(!out.contains("ERROR"), "{out}");
}

#[tokio::test]
async fn bi_tools_generated_sql() {
    let out = compare(&[], || psql_script("bi.sql"), "psql bi.sql").await;
    assert!(out.contains(" 1704067500 |     5"), "{out}");
    assert!(
        out.contains(" ts          | timestamp with time zone | timestamptz | NO"),
        "{out}"
    );
    assert!(!out.contains("ERROR"), "{out}");
}
