//! Client transcripts: run one real client program against Strata and against PostgreSQL 15,
//! each on a fresh server, and require the same output.
//!
//! The program finds its server the way libpq-based tools do: `PGHOST`, `PGPORT`, `PGUSER`
//! (`strata`), `PGDATABASE` (`strata`), plus `STRATA_DSN` as a URL
//! (`postgresql://strata@127.0.0.1:PORT/strata`) and `STRATA_TARGET` (`strata` or `postgres`)
//! for the rare line that must differ. It prints its transcript on stdout; stderr is shown
//! only when something fails.

use std::process::{Command, Output};

use super::TestServer;
use super::pg::Cluster;

/// Which server a client run talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Strata,
    Postgres,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Strata => "strata",
            Target::Postgres => "postgres",
        }
    }
}

/// Sets the connection environment on `cmd` for a server on `port`.
pub fn point_at(cmd: &mut Command, target: Target, port: u16) {
    cmd.env("PGHOST", "127.0.0.1")
        .env("PGPORT", port.to_string())
        .env("PGUSER", "strata")
        .env("PGDATABASE", "strata")
        .env("PGSSLMODE", "disable")
        .env(
            "STRATA_DSN",
            format!("postgresql://strata@127.0.0.1:{port}/strata"),
        )
        .env("STRATA_TARGET", target.name());
}

fn run(mut cmd: Command, what: &str) -> Output {
    match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run {what}: {e} (is the client installed? .ci/run installs it)"),
    }
}

fn show(o: &Output) -> String {
    format!(
        "exit: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The first line where two transcripts differ, with a little context.
pub fn first_difference(strata: &str, postgres: &str) -> String {
    let a: Vec<&str> = strata.lines().collect();
    let b: Vec<&str> = postgres.lines().collect();
    let n = a.len().max(b.len());
    for i in 0..n {
        if a.get(i) != b.get(i) {
            let from = i.saturating_sub(3);
            let ctx = |v: &[&str]| {
                v[from.min(v.len())..(i + 4).min(v.len())]
                    .iter()
                    .map(|l| format!("    {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            return format!(
                "transcripts differ at line {}:\n  strata:   {:?}\n  postgres: {:?}\n strata around it:\n{}\n postgres around it:\n{}",
                i + 1,
                a.get(i),
                b.get(i),
                ctx(&a),
                ctx(&b)
            );
        }
    }
    String::new()
}

/// Runs the client built by `make` (called once per target) against a fresh Strata server
/// and a fresh PostgreSQL 15 cluster, requires both runs to succeed and their stdout to be
/// equal, and returns the transcript. `strata_args` are extra `strata serve` flags.
pub async fn compare(strata_args: &[&str], make: impl Fn() -> Command, what: &str) -> String {
    let server = TestServer::start_with(strata_args);
    let cluster = match Cluster::start().await {
        Ok(c) => c,
        Err(e) => panic!("the PostgreSQL 15 reference cannot start: {e}"),
    };
    compare_on(&server, &cluster, make, what).await
}

/// [`compare`] on servers the caller started (configured alike, e.g. both with TLS).
pub async fn compare_on(
    server: &TestServer,
    cluster: &Cluster,
    make: impl Fn() -> Command,
    what: &str,
) -> String {
    let mut on_strata = make();
    point_at(&mut on_strata, Target::Strata, server.port);
    let mut on_pg = make();
    point_at(&mut on_pg, Target::Postgres, cluster.port());
    let (a, b) = tokio::task::spawn_blocking({
        let what = what.to_string();
        move || (run(on_strata, &what), run(on_pg, &what))
    })
    .await
    .expect("client runs");
    assert!(
        b.status.success(),
        "{what} failed against PostgreSQL 15 (the script is wrong):\n{}",
        show(&b)
    );
    assert!(
        a.status.success(),
        "{what} failed against Strata:\n{}\nserver log:\n{}",
        show(&a),
        server.log()
    );
    let sa = String::from_utf8_lossy(&a.stdout).into_owned();
    let sb = String::from_utf8_lossy(&b.stdout).into_owned();
    assert!(
        !sb.trim().is_empty(),
        "{what} printed nothing against PostgreSQL: a transcript must show what it did"
    );
    if sa != sb {
        panic!(
            "{what}: {}\n=== full strata transcript ===\n{sa}\n=== stderr ===\n{}",
            first_difference(&sa, &sb),
            String::from_utf8_lossy(&a.stderr)
        );
    }
    sa
}
