//! Authentication and TLS, driven the way users do: real psql (and tokio-postgres where
//! the SQLSTATE of a refused connection matters) against a real `strata serve`.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TestServer;
use common::pki::Pki;

const SUPER_PW: &str = "correct horse battery staple";

/// Runs psql with a full connection string; `password` goes through PGPASSWORD (none:
/// psql must not prompt, `-w`). Returns (success, stdout, stderr).
fn psql(conninfo: &str, password: Option<&str>, sql: &str) -> (bool, String, String) {
    let mut cmd = Command::new("psql");
    cmd.args([
        "-X",
        "-w",
        "-v",
        "ON_ERROR_STOP=1",
        "-At",
        "-d",
        conninfo,
        "-c",
        sql,
    ])
    .env("PGCONNECT_TIMEOUT", "10")
    .env("PGPASSFILE", "/dev/null")
    .env_remove("PGPASSWORD")
    .env_remove("PGSSLMODE")
    .env_remove("PGUSER");
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = cmd.output().expect("run psql");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn conninfo(port: u16, user: &str) -> String {
    format!("host=127.0.0.1 port={port} user={user} dbname=strata sslmode=disable")
}

/// Connects with tokio-postgres (no TLS); the error keeps the server's SQLSTATE.
async fn pg_connect(
    port: u16,
    user: &str,
    password: Option<&str>,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut cfg = tokio_postgres::Config::new();
    cfg.host("127.0.0.1")
        .port(port)
        .user(user)
        .dbname("strata")
        .connect_timeout(Duration::from_secs(10));
    if let Some(p) = password {
        cfg.password(p);
    }
    let (client, conn) = cfg.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// (SQLSTATE, message) of a server error.
fn db_error(e: &tokio_postgres::Error) -> (String, String) {
    let db = e
        .as_db_error()
        .unwrap_or_else(|| panic!("expected a server error, got: {e}"));
    (db.code().code().to_string(), db.message().to_string())
}

fn assert_auth_failed(e: &tokio_postgres::Error, user: &str) {
    assert_eq!(
        db_error(e),
        (
            "28P01".to_string(),
            format!("password authentication failed for user \"{user}\"")
        )
    );
}

fn scram_server() -> TestServer {
    TestServer::start_with_env(&["--auth", "scram"], &[("STRATA_PASSWORD", SUPER_PW)])
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn scram_right_wrong_missing_password_and_unknown_user() {
    let s = scram_server();
    // Right password: psql and tokio-postgres (both speak SCRAM-SHA-256).
    let (ok, out, err) = psql(&conninfo(s.port, "strata"), Some(SUPER_PW), "SELECT 40 + 2");
    assert!(ok, "psql with the right password failed: {err}");
    assert_eq!(out.trim(), "42");
    runtime().block_on(async {
        let c = pg_connect(s.port, "strata", Some(SUPER_PW))
            .await
            .expect("connect");
        let row = c
            .query_one("SELECT current_user", &[])
            .await
            .expect("query");
        assert_eq!(row.get::<_, String>(0), "strata");

        // Wrong password: FATAL 28P01 with PostgreSQL's text.
        let e = pg_connect(s.port, "strata", Some("wrong"))
            .await
            .err()
            .expect("refused");
        assert_auth_failed(&e, "strata");
        // Unknown user: the same error, so that roles cannot be probed.
        let e = pg_connect(s.port, "nobody", Some(SUPER_PW))
            .await
            .err()
            .expect("refused");
        assert_auth_failed(&e, "nobody");
    });
    let (ok, _, err) = psql(&conninfo(s.port, "strata"), Some("wrong"), "SELECT 1");
    assert!(!ok);
    assert!(
        err.contains("FATAL:  password authentication failed for user \"strata\""),
        "{err}"
    );
    let (ok, _, err) = psql(&conninfo(s.port, "nobody"), Some("wrong"), "SELECT 1");
    assert!(!ok);
    assert!(
        err.contains("FATAL:  password authentication failed for user \"nobody\""),
        "{err}"
    );
    // No password: the server asks for one, psql has none to give.
    let (ok, _, err) = psql(&conninfo(s.port, "strata"), None, "SELECT 1");
    assert!(!ok);
    assert!(err.contains("fe_sendauth: no password supplied"), "{err}");
    // The password is never logged.
    assert!(!s.log().contains(SUPER_PW));
}

#[test]
fn password_auth_mode_checks_the_cleartext_password() {
    let s = TestServer::start_with_env(&["--auth", "password"], &[("STRATA_PASSWORD", SUPER_PW)]);
    let (ok, out, err) = psql(&conninfo(s.port, "strata"), Some(SUPER_PW), "SELECT 'in'");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "in");
    let (ok, _, err) = psql(&conninfo(s.port, "strata"), None, "SELECT 1");
    assert!(!ok);
    assert!(err.contains("fe_sendauth: no password supplied"), "{err}");
    runtime().block_on(async {
        pg_connect(s.port, "strata", Some(SUPER_PW))
            .await
            .expect("connect");
        let e = pg_connect(s.port, "strata", Some("Correct horse battery staple"))
            .await
            .err()
            .expect("refused");
        assert_auth_failed(&e, "strata");
        let e = pg_connect(s.port, "ghost", Some(SUPER_PW))
            .await
            .err()
            .expect("refused");
        assert_auth_failed(&e, "ghost");
    });
}

#[test]
fn trust_is_the_default_on_loopback() {
    // No --auth, no password, 127.0.0.1: trust, as every other test relies on.
    let s = TestServer::start();
    let (ok, out, err) = psql(&conninfo(s.port, "strata"), None, "SELECT 'trusted'");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "trusted");
}

/// Kills a server started by hand when the test ends (also on panic).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(args: &[&str], env: &[(&str, &str)], data: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("serve")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("STRATA_PASSWORD")
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn strata")
}

/// Waits for the process to exit; returns (success, stderr).
fn exit_of(mut child: Child) -> (bool, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            return (
                status.success(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            );
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("strata did not exit although it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_listening(port: u16, child: &mut Child) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("strata exited early: {st}");
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("strata did not start listening on {port}");
}

#[test]
fn non_loopback_address_needs_a_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = common::free_port();
    let addr = format!("0.0.0.0:{port}");
    // No password anywhere: refuses to start, says why, non-zero exit.
    let (ok, err) = exit_of(serve(&["--pg-addr", &addr], &[], &dir.path().join("d1")));
    assert!(!ok);
    assert!(err.contains("refusing to start"), "{err}");
    assert!(err.contains("STRATA_PASSWORD"), "{err}");
    assert!(err.contains("--password-file"), "{err}");
    // --auth password/scram on loopback without a password: refused too.
    let lo = format!("127.0.0.1:{port}");
    let (ok, err) = exit_of(serve(
        &["--pg-addr", &lo, "--auth", "password"],
        &[],
        &dir.path().join("d2"),
    ));
    assert!(!ok);
    assert!(err.contains("--auth password"), "{err}");
    // An unknown method is a usage error.
    let (ok, err) = exit_of(serve(&["--auth", "kerberos"], &[], &dir.path().join("d3")));
    assert!(!ok);
    assert!(
        err.contains("auth must be 'trust', 'password' or 'scram'"),
        "{err}"
    );

    // With --password-file it starts, and the default method there is scram.
    let pw_file = dir.path().join("pw");
    std::fs::write(&pw_file, format!("{SUPER_PW}\n")).expect("write");
    let mut child = Proc(serve(
        &[
            "--pg-addr",
            &addr,
            "--password-file",
            pw_file.to_str().expect("utf8"),
        ],
        &[],
        &dir.path().join("d4"),
    ));
    wait_listening(port, &mut child.0);
    let (ok, _, err) = psql(&conninfo(port, "strata"), None, "SELECT 1");
    assert!(!ok);
    assert!(err.contains("fe_sendauth: no password supplied"), "{err}");
    let (ok, out, err) = psql(&conninfo(port, "strata"), Some(SUPER_PW), "SELECT 'open'");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "open");
    drop(child);

    // The same through the config file (auth and password_file keys).
    let cfg = dir.path().join("strata.toml");
    std::fs::write(
        &cfg,
        format!("pg_addr = \"127.0.0.1:{port}\"\nauth = \"scram\"\npassword_file = \"pw\"\n"),
    )
    .expect("write");
    let mut child = Proc(serve(
        &["--config", cfg.to_str().expect("utf8")],
        &[],
        &dir.path().join("d5"),
    ));
    wait_listening(port, &mut child.0);
    let (ok, _, err) = psql(&conninfo(port, "strata"), Some("nope"), "SELECT 1");
    assert!(!ok);
    assert!(err.contains("password authentication failed"), "{err}");
    let (ok, _, err) = psql(&conninfo(port, "strata"), Some(SUPER_PW), "SELECT 1");
    assert!(ok, "{err}");
}

#[test]
fn roles_are_created_altered_dropped_and_persist() {
    let mut s = scram_server();
    let admin = conninfo(s.port, "strata");
    let bob = conninfo(s.port, "bob");
    let run = |sql: &str| {
        let (ok, out, err) = psql(&admin, Some(SUPER_PW), sql);
        assert!(ok, "{sql}: {err}");
        out
    };
    run("CREATE ROLE bob LOGIN PASSWORD 'first-pw'");
    let (ok, out, err) = psql(&bob, Some("first-pw"), "SELECT current_user");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "bob");

    runtime().block_on(async {
        let c = pg_connect(s.port, "strata", Some(SUPER_PW))
            .await
            .expect("connect");
        let e = c
            .batch_execute("CREATE ROLE bob LOGIN PASSWORD 'x'")
            .await
            .err()
            .expect("duplicate");
        assert_eq!(
            db_error(&e),
            ("42710".into(), "role \"bob\" already exists".into())
        );
        let e = c
            .batch_execute("ALTER ROLE nobody PASSWORD 'x'")
            .await
            .err()
            .expect("missing");
        assert_eq!(
            db_error(&e),
            ("42704".into(), "role \"nobody\" does not exist".into())
        );
        let e = c
            .batch_execute("DROP ROLE nobody")
            .await
            .err()
            .expect("missing");
        assert_eq!(
            db_error(&e),
            ("42704".into(), "role \"nobody\" does not exist".into())
        );
        c.batch_execute("DROP ROLE IF EXISTS nobody")
            .await
            .expect("if exists");
        // Through the extended protocol (Parse/Bind/Execute) too.
        c.execute("CREATE ROLE frank LOGIN PASSWORD 'frank-pw'", &[])
            .await
            .expect("extended protocol");
        pg_connect(s.port, "frank", Some("frank-pw"))
            .await
            .expect("frank");
        // A role that is not the superuser cannot manage roles.
        let b = pg_connect(s.port, "bob", Some("first-pw"))
            .await
            .expect("bob");
        let e = b
            .batch_execute("CREATE ROLE eve LOGIN PASSWORD 'x'")
            .await
            .err()
            .expect("denied");
        assert_eq!(db_error(&e).0, "42501");
        let e = b
            .batch_execute("DROP ROLE strata")
            .await
            .err()
            .expect("denied");
        assert_eq!(db_error(&e).0, "42501");
    });

    // ALTER ROLE ... WITH PASSWORD: the old password stops working.
    run("ALTER ROLE bob WITH PASSWORD 'second-pw'");
    let (ok, _, err) = psql(&bob, Some("first-pw"), "SELECT 1");
    assert!(!ok);
    assert!(
        err.contains("FATAL:  password authentication failed for user \"bob\""),
        "{err}"
    );
    let (ok, _, err) = psql(&bob, Some("second-pw"), "SELECT 1");
    assert!(ok, "{err}");
    // ... and without WITH.
    run("ALTER ROLE bob PASSWORD 'third-pw'");
    let (ok, _, _) = psql(&bob, Some("second-pw"), "SELECT 1");
    assert!(!ok);
    // A role may change its own password.
    let (ok, _, err) = psql(
        &bob,
        Some("third-pw"),
        "ALTER ROLE bob PASSWORD 'bob-chose-this'",
    );
    assert!(ok, "{err}");

    // NOLOGIN roles cannot connect; CREATE USER means LOGIN.
    run("CREATE ROLE carol PASSWORD 'carol-pw'");
    let (ok, _, err) = psql(&conninfo(s.port, "carol"), Some("carol-pw"), "SELECT 1");
    assert!(!ok);
    assert!(
        err.contains("role \"carol\" is not permitted to log in"),
        "{err}"
    );
    run("CREATE USER dave WITH PASSWORD 'dave-pw'");
    run("CREATE ROLE erin LOGIN PASSWORD 'erin-pw'");

    // Roles survive a restart (kill -9: nothing but what was made durable). The restarted
    // server listens on a new port.
    s.restart();
    let admin = conninfo(s.port, "strata");
    let bob = conninfo(s.port, "bob");
    let (ok, _, err) = psql(&bob, Some("bob-chose-this"), "SELECT 1");
    assert!(ok, "after restart: {err}");
    let (ok, _, err) = psql(&conninfo(s.port, "dave"), Some("dave-pw"), "SELECT 1");
    assert!(ok, "after restart: {err}");

    // The file holds verifiers, never the passwords.
    let file = std::fs::read_to_string(s.data_dir().join("roles.json")).expect("roles.json");
    for pw in [
        "first-pw",
        "second-pw",
        "third-pw",
        "bob-chose-this",
        "carol-pw",
        "dave-pw",
        "erin-pw",
        "frank-pw",
    ] {
        assert!(!file.contains(pw), "{pw} in clear text in roles.json");
    }
    assert_eq!(file.matches("SCRAM-SHA-256$4096:").count(), 5, "{file}");
    assert!(!s.log().contains("bob-chose-this"));

    // DROP ROLE: that role can no longer log in (same error as a wrong password).
    let (ok, _, err) = psql(&admin, Some(SUPER_PW), "DROP ROLE bob");
    assert!(ok, "{err}");
    let (ok, _, err) = psql(&bob, Some("bob-chose-this"), "SELECT 1");
    assert!(!ok);
    assert!(
        err.contains("FATAL:  password authentication failed for user \"bob\""),
        "{err}"
    );
    s.restart();
    let bob = conninfo(s.port, "bob");
    let (ok, _, _) = psql(&bob, Some("bob-chose-this"), "SELECT 1");
    assert!(!ok, "a dropped role came back after restart");
    let (ok, _, err) = psql(&conninfo(s.port, "erin"), Some("erin-pw"), "SELECT 1");
    assert!(ok, "{err}");

    // pg_roles lists the roles as they are now (what admin tools show).
    let (ok, out, err) = psql(
        &conninfo(s.port, "strata"),
        Some(SUPER_PW),
        "SELECT rolname, rolsuper, rolcanlogin FROM pg_roles ORDER BY 1",
    );
    assert!(ok, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "carol|f|f",
            "dave|f|t",
            "erin|f|t",
            "frank|f|t",
            "strata|t|t"
        ],
        "{out}"
    );
}

#[test]
fn superuser_password_from_config_cannot_be_altered_by_sql() {
    let s = scram_server();
    let (ok, _, err) = psql(
        &conninfo(s.port, "strata"),
        Some(SUPER_PW),
        "ALTER ROLE strata PASSWORD 'other'",
    );
    assert!(!ok);
    assert!(err.contains("set by the server's configuration"), "{err}");
}

#[test]
fn superuser_password_stored_by_alter_role_lets_scram_start() {
    // Trust on loopback; the superuser sets a password with SQL.
    let mut s = TestServer::start();
    let (ok, _, err) = psql(
        &conninfo(s.port, "strata"),
        None,
        "ALTER ROLE strata WITH PASSWORD 'stored-super-pw'",
    );
    assert!(ok, "{err}");
    assert!(s.stop(), "clean stop");
    // The same data directory with --auth scram and no STRATA_PASSWORD: it starts, and
    // the stored password is the one that works.
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Proc(serve(
        &["--pg-addr", &addr, "--auth", "scram"],
        &[],
        &s.data_dir(),
    ));
    wait_listening(port, &mut child.0);
    let (ok, _, err) = psql(
        &conninfo(port, "strata"),
        Some("stored-super-pw"),
        "SELECT 1",
    );
    assert!(ok, "{err}");
    let (ok, _, err) = psql(&conninfo(port, "strata"), Some("other"), "SELECT 1");
    assert!(!ok);
    assert!(err.contains("password authentication failed"), "{err}");
}

#[test]
fn tls_require_verify_full_and_wrong_ca() {
    let pki = Pki::new();
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    let s = TestServer::start_with_env(
        &["--auth", "scram", "--tls-cert", &cert, "--tls-key", &key],
        &[("STRATA_PASSWORD", SUPER_PW)],
    );
    let base = format!("port={} user=strata dbname=strata", s.port);
    // sslmode=require: encrypted (psql's \conninfo says so), SCRAM inside.
    let (ok, out, err) = psql(
        &format!("host=127.0.0.1 {base} sslmode=require"),
        Some(SUPER_PW),
        "\\conninfo",
    );
    assert!(ok, "{err}");
    assert!(out.contains("SSL connection"), "{out}");
    // verify-full: the certificate chains to our CA and names localhost.
    let (ok, out, err) = psql(
        &format!(
            "host=localhost {base} sslmode=verify-full sslrootcert={}",
            pki.path("ca.pem")
        ),
        Some(SUPER_PW),
        "SELECT 'verified'",
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "verified");
    // verify-full against another CA fails on the client.
    let (ok, _, err) = psql(
        &format!(
            "host=localhost {base} sslmode=verify-full sslrootcert={}",
            pki.path("other-ca.pem")
        ),
        Some(SUPER_PW),
        "SELECT 1",
    );
    assert!(!ok);
    assert!(err.contains("certificate verify failed"), "{err}");
    // Without --tls-required plain connections are still accepted.
    let (ok, _, err) = psql(
        &format!("host=127.0.0.1 {base} sslmode=disable"),
        Some(SUPER_PW),
        "SELECT 1",
    );
    assert!(ok, "{err}");
}

#[test]
fn tls_required_refuses_plain_connections() {
    let pki = Pki::new();
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    let s = TestServer::start_with(&["--tls-cert", &cert, "--tls-key", &key, "--tls-required"]);
    let base = format!("host=127.0.0.1 port={} user=strata dbname=strata", s.port);
    let (ok, _, err) = psql(&format!("{base} sslmode=disable"), None, "SELECT 1");
    assert!(!ok);
    assert!(
        err.contains(
            "FATAL:  no pg_hba.conf entry for host \"127.0.0.1\", user \"strata\", database \"strata\", no encryption"
        ),
        "{err}"
    );
    runtime().block_on(async {
        let e = pg_connect(s.port, "strata", None)
            .await
            .err()
            .expect("refused");
        assert_eq!(db_error(&e).0, "28000");
    });
    let (ok, out, err) = psql(
        &format!("{base} sslmode=require"),
        None,
        "SELECT 'tls only'",
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "tls only");
}

#[test]
fn unreadable_or_bad_tls_files_refuse_to_start() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = common::free_port().to_string();
    let addr = format!("127.0.0.1:{port}");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate\n").expect("write");
    let junk = junk.to_string_lossy().into_owned();
    let missing = dir
        .path()
        .join("missing.pem")
        .to_string_lossy()
        .into_owned();
    let cases: [(&[&str], &str); 5] = [
        (
            &["--tls-cert", &junk, "--tls-key", &pki.path("server.key")],
            "no certificate in",
        ),
        (
            &["--tls-cert", &missing, "--tls-key", &pki.path("server.key")],
            "cannot read the TLS certificate",
        ),
        (
            &["--tls-cert", &pki.path("server.pem"), "--tls-key", &junk],
            "cannot parse the TLS key",
        ),
        // A key that is not the certificate's.
        (
            &[
                "--tls-cert",
                &pki.path("server.pem"),
                "--tls-key",
                &pki.path("ca.key"),
            ],
            "cannot be used",
        ),
        (&["--tls-required"], "tls_required needs a certificate"),
    ];
    for (i, (args, expect)) in cases.iter().enumerate() {
        let mut all = vec!["--pg-addr", &addr];
        all.extend_from_slice(args);
        let (ok, err) = exit_of(serve(&all, &[], &dir.path().join(format!("d{i}"))));
        assert!(!ok, "{args:?} started");
        assert!(
            err.contains(expect),
            "{args:?}: expected {expect:?} in {err}"
        );
    }
}

/// Reads backend messages until the server closes the connection: (type, body) pairs.
fn read_all(stream: &mut std::net::TcpStream) -> Vec<(u8, Vec<u8>)> {
    use std::io::Read;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut out = vec![];
    loop {
        let mut head = [0u8; 5];
        if stream.read_exact(&mut head).is_err() {
            return out;
        }
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0u8; len.saturating_sub(4)];
        if stream.read_exact(&mut body).is_err() {
            return out;
        }
        out.push((head[0], body));
    }
}

fn startup_message(user: &str) -> Vec<u8> {
    let mut body = 196608u32.to_be_bytes().to_vec();
    for s in ["user", user, "database", "strata"] {
        body.extend_from_slice(s.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    msg.extend(body);
    msg
}

fn frontend(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

#[test]
fn protocol_errors_during_authentication_close_the_connection() {
    use std::io::Write;
    let s = scram_server();
    // (what the client sends after the authentication request, expected SQLSTATE)
    let cases: [(Vec<u8>, &str); 3] = [
        // A query instead of the SASL response.
        (frontend(b'Q', b"SELECT 1\0"), "08P01"),
        // A SASL mechanism the server did not offer.
        (frontend(b'p', b"PLAIN\0\xff\xff\xff\xff"), "08P01"),
        // SCRAM client-first that is not SCRAM.
        (frontend(b'p', b"SCRAM-SHA-256\0\0\0\0\x07garbage"), "08P01"),
    ];
    for (msg, code) in cases {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
        c.write_all(&startup_message("strata")).expect("startup");
        c.write_all(&msg).expect("send");
        let got = read_all(&mut c);
        // First the SASL request, then one FATAL error, then the connection is closed:
        // no AuthenticationOk, no ReadyForQuery, no rows.
        assert_eq!(got.first().map(|m| m.0), Some(b'R'), "{got:?}");
        let errors: Vec<String> = got
            .iter()
            .filter(|m| m.0 == b'E')
            .map(|m| String::from_utf8_lossy(&m.1).into_owned())
            .collect();
        assert_eq!(errors.len(), 1, "{got:?}");
        assert!(errors[0].contains("SFATAL"), "{}", errors[0]);
        assert!(errors[0].contains(&format!("C{code}")), "{}", errors[0]);
        assert!(
            !got.iter().any(|m| matches!(m.0, b'T' | b'D' | b'C')),
            "{got:?}"
        );
    }
}
