//! Grafana's `$__timeGroup` (`floor(extract(epoch from ts)/300)*300`) is planned as an
//! integer floor division of the stored microseconds (`pg_epoch_steps`), not as `numeric`
//! arithmetic per row. That its answers are PostgreSQL's is checked in
//! `sqllogictest/pg_compat_select.slt` (also run against PostgreSQL); this checks the
//! plan takes the integer path where it may, and only there.

mod common;

use common::{TestEngine, run};

#[test]
fn time_group_floor_is_an_integer_division_where_exact() {
    let t = TestEngine::new(64 * 1024 * 1024);
    t.rt.block_on(async {
        let mut s = t.engine.new_session().expect("session");
        run(
            &mut s,
            "CREATE TABLE tg (ts timestamptz NOT NULL, lts timestamp, d date, v float8); \
             INSERT INTO tg VALUES ('1969-12-31 23:59:59.999999+00', '2024-01-01 00:04:59', '2024-01-01', 1)",
        )
        .await;
        let explain = async |s: &mut strata_sql::Session, expr: &str| {
            run(s, &format!("EXPLAIN SELECT {expr} AS g, avg(v) FROM tg GROUP BY 1")).await
        };
        for expr in [
            "floor(extract(epoch from ts)/300)*300",
            "floor(extract(EPOCH FROM lts) / 60)",
            "floor(extract(epoch from ts)/0.5)*0.5",
            "floor(extract(epoch from ts)/0.000001)",
        ] {
            let plan = explain(&mut s, expr).await;
            assert!(plan.contains("pg_epoch_steps("), "{expr}:\n{plan}");
        }
        // Steps that are not a positive whole number of microseconds, other fields, and
        // dates keep the numeric arithmetic.
        for expr in [
            "floor(extract(epoch from ts)/-300)*-300",
            "floor(extract(epoch from ts)/0.0000005)",
            "floor(extract(second from ts)/5)",
            "floor(extract(epoch from d)/300)",
            "floor(extract(epoch from ts)/v)",
        ] {
            let plan = explain(&mut s, expr).await;
            assert!(!plan.contains("pg_epoch_steps("), "{expr}:\n{plan}");
        }
        // `*step` (either side, and repeated) is folded into the call: no numeric
        // multiplication per row either.
        for (expr, call) in [
            ("floor(extract(epoch from ts)/300)*300", "pg_epoch_steps(ts@0, 300000000, 300, 38, 0)"),
            ("300 * floor(extract(epoch from ts)/300) * 2", "pg_epoch_steps(ts@0, 300000000, 600, 38, 0)"),
            ("floor(extract(epoch from ts)/0.5)*0.5", "pg_epoch_steps(ts@0, 500000, 5, 38, 1)"),
        ] {
            let plan = explain(&mut s, expr).await;
            assert!(plan.contains(call), "{expr}:\n{plan}");
        }
        // The integer path's answer for a time before 1970 rounds down, as PostgreSQL's.
        let out = run(&mut s, "SELECT floor(extract(epoch from ts)/300)*300 FROM tg").await;
        assert!(out.contains("| -300 "), "{out}");
    });
}
