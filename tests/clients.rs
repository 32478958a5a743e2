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
