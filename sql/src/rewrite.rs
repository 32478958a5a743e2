//! sqlparser AST rewrites that make PostgreSQL syntax mean what it means in PostgreSQL
//! before DataFusion plans it:
//!
//! - `interval * number`, `number * interval` and `interval / number` become
//!   `pg_interval_mul` / `pg_interval_div` (PostgreSQL's `interval_mul`/`interval_div`);
//! - string literals cast to `interval`, `bytea`, `json`/`jsonb` are parsed with
//!   PostgreSQL's input syntax (`'1 day 23:59:50'`, `'\x00ff'`, jsonb normalisation);
//!   DataFusion's own parsers differ or lack these types;
//! - integer literals in a select list that fit in 32 bits are `integer`, as in
//!   PostgreSQL (DataFusion types every integer literal as bigint).

use std::ops::ControlFlow;

use datafusion::arrow::datatypes::{DataType, Field, IntervalUnit};
use sqlparser::ast::{self, Expr, Value, VisitMut, VisitorMut};
use strata_pgtypes::decode::{ScalarLike, parse_text_value};
use strata_pgtypes::tz::TimeZoneSetting;

fn literal_text(e: &Expr) -> Option<&str> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

fn is_interval(dt: &ast::DataType) -> bool {
    matches!(dt, ast::DataType::Interval { .. })
}

/// The replacement literal for `'text'::dt`, if PostgreSQL parses it differently.
fn pg_literal(text: &str, dt: &ast::DataType) -> Option<Expr> {
    match dt {
        ast::DataType::Interval { .. } => {
            let f = Field::new("v", DataType::Interval(IntervalUnit::MonthDayNano), true);
            let ScalarLike::IntervalMDN {
                months,
                days,
                nanos,
            } = parse_text_value(text, &f, TimeZoneSetting::UTC).ok()?
            else {
                return None;
            };
            Some(Expr::Interval(ast::Interval {
                value: Box::new(Expr::value(Value::SingleQuotedString(format!(
                    "{months} months {days} days {nanos} nanoseconds"
                )))),
                leading_field: None,
                leading_precision: None,
                last_field: None,
                fractional_seconds_precision: None,
            }))
        }
        ast::DataType::Bytea => {
            let f = Field::new("v", DataType::Binary, true);
            let ScalarLike::Bytes(b) = parse_text_value(text, &f, TimeZoneSetting::UTC).ok()?
            else {
                return None;
            };
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            Some(Expr::value(Value::HexStringLiteral(hex)))
        }
        // `'12.340'::numeric` keeps the literal's scale (12.340), as PostgreSQL's numeric
        // does; DataFusion's unconstrained decimal has scale 10.
        ast::DataType::Numeric(ast::ExactNumberInfo::None)
        | ast::DataType::Decimal(ast::ExactNumberInfo::None) => {
            let t = text.trim();
            let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
            let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
            if int.is_empty() && frac.is_empty()
                || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
            {
                return None;
            }
            let scale = frac.len() as u64;
            let precision = (int.len() as u64 + scale).max(1);
            if precision > 38 {
                return None;
            }
            Some(Expr::Cast {
                kind: ast::CastKind::Cast,
                expr: Box::new(Expr::value(Value::SingleQuotedString(t.to_string()))),
                data_type: ast::DataType::Numeric(ast::ExactNumberInfo::PrecisionAndScale(
                    precision,
                    scale as i64,
                )),
                array: false,
                format: None,
            })
        }
        ast::DataType::JSON | ast::DataType::JSONB => {
            let tag = if matches!(dt, ast::DataType::JSONB) {
                "jsonb"
            } else {
                "json"
            };
            let mut md = std::collections::HashMap::new();
            md.insert(
                strata_storage::schema::PG_TYPE_METADATA_KEY.to_string(),
                tag.to_string(),
            );
            let f = Field::new("v", DataType::Utf8, true).with_metadata(md);
            let ScalarLike::Str(s) = parse_text_value(text, &f, TimeZoneSetting::UTC).ok()? else {
                return None;
            };
            // Tagged so that the result column is reported as json/jsonb.
            Some(function_call(
                &format!("pg_{tag}_literal"),
                vec![Expr::value(Value::SingleQuotedString(s))],
            ))
        }
        _ => None,
    }
}

/// Gives unaliased scalar subqueries of the top-level select list unique aliases:
/// DataFusion refuses two select-list expressions with the same display name, which
/// `(SELECT count(*) FROM ...)` twice would have. The client still sees PostgreSQL's
/// column names (`crate::names` computes them from the statement before this rewrite).
fn alias_scalar_subqueries(stmt: &mut ast::Statement) {
    let ast::Statement::Query(q) = stmt else {
        return;
    };
    let ast::SetExpr::Select(sel) = q.body.as_mut() else {
        return;
    };
    let n = sel
        .projection
        .iter()
        .filter(|i| matches!(i, ast::SelectItem::UnnamedExpr(Expr::Subquery(_))))
        .count();
    if n < 2 {
        return;
    }
    for (k, item) in sel.projection.iter_mut().enumerate() {
        if let ast::SelectItem::UnnamedExpr(e @ Expr::Subquery(_)) = item {
            *item = ast::SelectItem::ExprWithAlias {
                expr: e.clone(),
                alias: ast::Ident::new(format!("__strata_subquery_{k}")),
            };
        }
    }
}

/// `x COLLATE "default"` / `COLLATE pg_catalog.default` / `COLLATE "C"` (psql's describe
/// queries use them): Strata compares text bytewise, which is what these collations mean
/// for UTF-8 here, so the clause is dropped. Other collations are left for the planner to
/// refuse. Also `OPERATOR(pg_catalog.op)` for the standard comparison and regex operators.
struct DefaultCollation;

impl VisitorMut for DefaultCollation {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Expr::Collate { expr, collation } = e {
            let name = collation
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(|i| i.value.to_ascii_lowercase());
            if matches!(name.as_deref(), Some("default" | "c" | "posix")) {
                *e = (**expr).clone();
            }
        }
        // `doc -> key` / `doc ->> key`: PostgreSQL's JSON field operators.
        if let Expr::BinaryOp { left, op, right } = e
            && matches!(
                op,
                ast::BinaryOperator::Arrow | ast::BinaryOperator::LongArrow
            )
        {
            let name = if matches!(op, ast::BinaryOperator::LongArrow) {
                "pg_json_get_text"
            } else {
                "pg_json_get"
            };
            *e = function_call(name, vec![(**left).clone(), (**right).clone()]);
            return ControlFlow::Continue(());
        }
        // `pg_catalog.format_type(...)`: functions are looked up by their bare name.
        if let Expr::Function(f) = e
            && f.name.0.len() == 2
            && f.name.0[0]
                .as_ident()
                .is_some_and(|i| i.value.eq_ignore_ascii_case("pg_catalog"))
        {
            f.name.0.remove(0);
        }
        // `a OPERATOR(pg_catalog.~) b` (psql again): the operator itself.
        if let Expr::BinaryOp { op, .. } = e
            && let ast::BinaryOperator::PGCustomBinaryOperator(parts) = op
            && parts.len() == 2
            && parts[0].eq_ignore_ascii_case("pg_catalog")
        {
            let std = match parts[1].as_str() {
                "~" => Some(ast::BinaryOperator::PGRegexMatch),
                "~*" => Some(ast::BinaryOperator::PGRegexIMatch),
                "!~" => Some(ast::BinaryOperator::PGRegexNotMatch),
                "!~*" => Some(ast::BinaryOperator::PGRegexNotIMatch),
                "=" => Some(ast::BinaryOperator::Eq),
                "<>" | "!=" => Some(ast::BinaryOperator::NotEq),
                "<" => Some(ast::BinaryOperator::Lt),
                ">" => Some(ast::BinaryOperator::Gt),
                "<=" => Some(ast::BinaryOperator::LtEq),
                ">=" => Some(ast::BinaryOperator::GtEq),
                _ => None,
            };
            if let Some(std) = std {
                *op = std;
            }
        }
        ControlFlow::Continue(())
    }
}

/// TimescaleDB's named arguments of `time_bucket` (`origin => ...`, `"offset" => ...`,
/// `timezone => ...`) turned into the positional form our function takes:
/// `(width, ts, origin)`, `(width, ts, offset)`, or `(width, ts, timezone, origin, offset)`
/// (NULL origin / offset = the default, as in TimescaleDB's 5-argument function).
/// PostgreSQL functions and keywords whose form DataFusion does not take:
///
/// - `make_interval(years, months, weeks, days, hours, mins, secs)`, each argument
///   optional and usually named (`make_interval(hours => 3)`): the call is given all
///   seven, positionally, the missing ones 0 (`functions/make_interval.rs`);
/// - `age(x)`: `age(CURRENT_DATE, x)`, PostgreSQL's definition (`functions/age.rs`);
/// - `mod(a, b)`: `a % b` (DataFusion has no `mod`; PostgreSQL's is `%` for every type);
/// - `LOCALTIMESTAMP` / `LOCALTIME` (keywords, read as column names by the parser):
///   `now()` as a `timestamp` / `time` of the session zone;
/// - `json_agg(x ...)` / `jsonb_agg(x ...)`: `pg_json[b]_array(array_agg(x ...))`
///   (`json_ops::JsonConstructor`).
///
/// The output column keeps PostgreSQL's name (`make_interval`, `age`, `mod`,
/// `localtimestamp`): names are taken from the statement before these rewrites.
struct PgFunctionForms;

impl VisitorMut for PgFunctionForms {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let keyword = match e {
            Expr::Identifier(i) if i.quote_style.is_none() => Some(i.value.to_ascii_lowercase()),
            Expr::Function(f)
                if f.name.0.len() == 1 && matches!(f.args, ast::FunctionArguments::None) =>
            {
                f.name.0[0].as_ident().map(|i| i.value.to_ascii_lowercase())
            }
            _ => None,
        };
        if let Some(keyword) = keyword {
            let t = match keyword.as_str() {
                "localtimestamp" => ast::DataType::Timestamp(None, ast::TimezoneInfo::None),
                "localtime" => ast::DataType::Time(None, ast::TimezoneInfo::None),
                _ => return ControlFlow::Continue(()),
            };
            *e = Expr::Cast {
                kind: ast::CastKind::Cast,
                expr: Box::new(function_call("now", vec![])),
                data_type: t,
                array: false,
                format: None,
            };
            return ControlFlow::Continue(());
        }
        let Expr::Function(f) = e else {
            return ControlFlow::Continue(());
        };
        if f.name.0.len() != 1 {
            return ControlFlow::Continue(());
        }
        let Some(name) = f.name.0[0].as_ident().map(|i| i.value.to_ascii_lowercase()) else {
            return ControlFlow::Continue(());
        };
        let aggregate = name == "json_agg" || name == "jsonb_agg";
        if !aggregate && (f.over.is_some() || f.filter.is_some()) {
            return ControlFlow::Continue(());
        }
        let ast::FunctionArguments::List(list) = &f.args else {
            return ControlFlow::Continue(());
        };
        if (name == "json_agg" || name == "jsonb_agg") && list.args.len() == 1 {
            // `array_agg` with the same argument, ORDER BY, FILTER and window, as JSON
            let mut agg = f.clone();
            agg.name = ast::ObjectName::from(vec![ast::Ident::new("array_agg")]);
            let wrapper = if name == "json_agg" {
                "pg_json_array"
            } else {
                "pg_jsonb_array"
            };
            *e = function_call(wrapper, vec![Expr::Function(agg)]);
            return ControlFlow::Continue(());
        }
        if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
            return ControlFlow::Continue(());
        }
        let Some((positional, mut named)) = split_args(&list.args) else {
            return ControlFlow::Continue(());
        };
        let replacement = match (name.as_str(), positional.len(), named.len()) {
            ("mod", 2, 0) => Some(Expr::Nested(Box::new(Expr::BinaryOp {
                left: Box::new(positional[0].clone()),
                op: ast::BinaryOperator::Modulo,
                right: Box::new(positional[1].clone()),
            }))),
            ("age", 1, 0) => Some(function_call(
                "age",
                vec![current_date(), positional[0].clone()],
            )),
            ("make_interval", p, _) if p <= 7 && !(p == 7 && named.is_empty()) => {
                const PARAMS: [&str; 7] =
                    ["years", "months", "weeks", "days", "hours", "mins", "secs"];
                let mut args = positional;
                for param in &PARAMS[args.len()..] {
                    let given = named.iter().position(|(k, _)| k == param);
                    args.push(match given {
                        Some(i) => named.remove(i).1,
                        None => Expr::value(Value::Number("0".into(), false)),
                    });
                }
                // an unknown or repeated name: left for the planner to report
                named
                    .is_empty()
                    .then(|| function_call("make_interval", args))
            }
            _ => None,
        };
        if let Some(r) = replacement {
            *e = r;
        }
        ControlFlow::Continue(())
    }
}

/// A call's arguments as the positional ones, then the named ones (lowercased names);
/// None for a form left for the planner to report (a positional argument after a named
/// one, `*`, a name that is not an identifier).
fn split_args(args: &[ast::FunctionArg]) -> Option<(Vec<Expr>, Vec<(String, Expr)>)> {
    let mut positional = vec![];
    let mut named: Vec<(String, Expr)> = vec![];
    for a in args {
        match a {
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) if named.is_empty() => {
                positional.push(x.clone())
            }
            ast::FunctionArg::Named {
                name,
                arg: ast::FunctionArgExpr::Expr(x),
                ..
            } => named.push((name.value.to_lowercase(), x.clone())),
            ast::FunctionArg::ExprNamed {
                name: Expr::Identifier(i),
                arg: ast::FunctionArgExpr::Expr(x),
                ..
            } => named.push((i.value.to_lowercase(), x.clone())),
            _ => return None,
        }
    }
    Some((positional, named))
}

/// `FETCH FIRST n ROWS ONLY` (the SQL standard's `LIMIT`, which DataFusion refuses) is
/// `LIMIT n`; `FETCH FIRST ROW ONLY` is `LIMIT 1`. `WITH TIES` and `PERCENT` are left
/// for DataFusion to refuse.
struct FetchFirst;

impl VisitorMut for FetchFirst {
    type Break = ();

    fn pre_visit_query(&mut self, q: &mut ast::Query) -> ControlFlow<()> {
        let Some(fetch) = &q.fetch else {
            return ControlFlow::Continue(());
        };
        if fetch.with_ties || fetch.percent {
            return ControlFlow::Continue(());
        }
        let n = fetch
            .quantity
            .clone()
            .unwrap_or_else(|| Expr::value(Value::Number("1".into(), false)));
        match &mut q.limit_clause {
            None => {
                q.limit_clause = Some(ast::LimitClause::LimitOffset {
                    limit: Some(n),
                    offset: None,
                    limit_by: vec![],
                })
            }
            Some(ast::LimitClause::LimitOffset {
                limit: limit @ None,
                ..
            }) => *limit = Some(n),
            // `LIMIT` and `FETCH` together: PostgreSQL refuses it, so does DataFusion
            Some(_) => return ControlFlow::Continue(()),
        }
        q.fetch = None;
        ControlFlow::Continue(())
    }
}

/// `CURRENT_DATE`, as the parser gives it (a function without an argument list).
fn current_date() -> Expr {
    let mut f = function_call("CURRENT_DATE", vec![]);
    if let Expr::Function(f) = &mut f {
        f.args = ast::FunctionArguments::None;
    }
    f
}

struct NamedTimeBucketArgs;

impl VisitorMut for NamedTimeBucketArgs {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let Expr::Function(f) = e else {
            return ControlFlow::Continue(());
        };
        let is_tb = f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .is_some_and(|i| i.value.eq_ignore_ascii_case("time_bucket"));
        let ast::FunctionArguments::List(list) = &mut f.args else {
            return ControlFlow::Continue(());
        };
        if !is_tb
            || !list.args.iter().any(|a| {
                matches!(
                    a,
                    ast::FunctionArg::Named { .. } | ast::FunctionArg::ExprNamed { .. }
                )
            })
        {
            return ControlFlow::Continue(());
        }
        let Some((mut positional, mut named)) = split_args(&list.args) else {
            return ControlFlow::Continue(());
        };
        let mut take = |n: &str| {
            named
                .iter()
                .position(|(k, _)| k == n)
                .map(|i| named.remove(i).1)
        };
        if positional.len() < 2 {
            for n in ["bucket_width", "ts"] {
                if positional.len() < 2
                    && let Some(x) = take(n)
                {
                    positional.push(x);
                }
            }
        }
        let (tz, origin, offset) = (take("timezone"), take("origin"), take("offset"));
        if !named.is_empty() || positional.len() != 2 {
            return ControlFlow::Continue(());
        }
        let null_of = |t: ast::DataType| Expr::Cast {
            kind: ast::CastKind::Cast,
            expr: Box::new(Expr::Value(Value::Null.into())),
            data_type: t,
            array: false,
            format: None,
        };
        match (tz, origin, offset) {
            (None, Some(o), None) | (None, None, Some(o)) => positional.push(o),
            (None, None, None) => {}
            (tz, origin, offset) => {
                positional.push(tz.unwrap_or_else(|| {
                    Expr::Value(Value::SingleQuotedString("UTC".into()).into())
                }));
                positional.push(origin.unwrap_or_else(|| {
                    null_of(ast::DataType::Timestamp(
                        None,
                        ast::TimezoneInfo::WithTimeZone,
                    ))
                }));
                positional.push(offset.unwrap_or_else(|| {
                    null_of(ast::DataType::Interval {
                        fields: None,
                        precision: None,
                    })
                }));
            }
        }
        list.args = positional
            .into_iter()
            .map(|x| ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)))
            .collect();
        ControlFlow::Continue(())
    }
}

struct Literals;

impl VisitorMut for Literals {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let replacement = match e {
            Expr::Cast {
                expr, data_type, ..
            } => literal_text(expr).and_then(|t| pg_literal(t, data_type)),
            Expr::TypedString(ts) => match &ts.value.value {
                Value::SingleQuotedString(t) => pg_literal(t, &ts.data_type),
                _ => None,
            },
            // `INTERVAL '1 hour' * 3` / `3 * INTERVAL ...` with an integer literal: folded here,
            // since DataFusion has no interval × number operator.
            Expr::BinaryOp {
                left,
                op: ast::BinaryOperator::Multiply,
                right,
            } => match (
                interval_parts(left),
                int_literal(right),
                interval_parts(right),
                int_literal(left),
            ) {
                (Some(iv), Some(n), _, _) | (_, _, Some(iv), Some(n)) => scale_interval(iv, n),
                // otherwise `interval * number` / `number * interval` with any expressions
                _ if is_interval_expr(left) && !is_interval_expr(right) => {
                    Some(interval_call("pg_interval_mul", left, right))
                }
                _ if is_interval_expr(right) && !is_interval_expr(left) => {
                    Some(interval_call("pg_interval_mul", right, left))
                }
                _ => None,
            },
            Expr::BinaryOp {
                left,
                op: ast::BinaryOperator::Divide,
                right,
            } if is_interval_expr(left) && !is_interval_expr(right) => {
                Some(interval_call("pg_interval_div", left, right))
            }
            Expr::Extract { field, expr, .. } => extract_field_name(field).map(|name| {
                function_call(
                    "pg_extract",
                    vec![
                        Expr::value(Value::SingleQuotedString(name)),
                        (**expr).clone(),
                    ],
                )
            }),
            // PostgreSQL's `timezone(zone, ts)` (`functions/at_time_zone.rs`); DataFusion's
            // AT TIME ZONE relabels the instant and leaves the wall clock as it was. An
            // untyped literal operand is a timestamptz, as PostgreSQL resolves it.
            Expr::AtTimeZone {
                timestamp,
                time_zone,
            } => {
                let ts = match literal_text(timestamp) {
                    Some(t) => {
                        let dt = ast::DataType::Timestamp(None, ast::TimezoneInfo::WithTimeZone);
                        pg_literal(t, &dt).unwrap_or_else(|| Expr::Cast {
                            kind: ast::CastKind::Cast,
                            expr: timestamp.clone(),
                            data_type: dt,
                            array: false,
                            format: None,
                        })
                    }
                    None => (**timestamp).clone(),
                };
                Some(function_call("timezone", vec![(**time_zone).clone(), ts]))
            }
            // `-INTERVAL '1 day'`: DataFusion negates an interval literal by prefixing its
            // text with `-`, which negates only the first field of the canonical form
            // (`-0 months 1 days ...` is one day): negated here, every field.
            Expr::UnaryOp {
                op: ast::UnaryOperator::Minus,
                expr,
            } => interval_parts(expr).and_then(|iv| scale_interval(iv, -1)),
            Expr::Interval(iv) if iv.leading_field.is_none() && iv.last_field.is_none() => {
                literal_text(&iv.value).and_then(|t| {
                    pg_literal(
                        t,
                        &ast::DataType::Interval {
                            fields: None,
                            precision: None,
                        },
                    )
                })
            }
            _ => None,
        };
        if let Some(r) = replacement {
            // JSON stays text-typed for DataFusion (it has no json type).
            *e = r;
        }
        ControlFlow::Continue(())
    }
}

/// (months, days, nanoseconds) of an interval literal in the canonical form this module
/// writes (`M months D days N nanoseconds`).
fn interval_parts(e: &Expr) -> Option<(i64, i64, i64)> {
    let Expr::Interval(iv) = e else { return None };
    let text = literal_text(&iv.value)?;
    let t: Vec<&str> = text.split_whitespace().collect();
    match t.as_slice() {
        [m, "months", d, "days", n, "nanoseconds"] => {
            Some((m.parse().ok()?, d.parse().ok()?, n.parse().ok()?))
        }
        _ => None,
    }
}

/// Whether an expression is an interval by its form (a literal, a cast to interval, a sum
/// of intervals, or one of our interval functions); columns of type interval are not seen.
fn is_interval_expr(e: &Expr) -> bool {
    match e {
        Expr::Interval(_) => true,
        Expr::Cast { data_type, .. } => is_interval(data_type),
        Expr::TypedString(ts) => is_interval(&ts.data_type),
        Expr::Nested(x) => is_interval_expr(x),
        Expr::UnaryOp {
            op: ast::UnaryOperator::Minus | ast::UnaryOperator::Plus,
            expr,
        } => is_interval_expr(expr),
        Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::Plus | ast::BinaryOperator::Minus,
            right,
        } => is_interval_expr(left) && is_interval_expr(right),
        Expr::Function(f) => {
            let n = f.name.to_string().to_ascii_lowercase();
            n == "pg_interval_mul" || n == "pg_interval_div"
        }
        _ => false,
    }
}

/// `name(interval, CAST(number AS DOUBLE PRECISION))` (PostgreSQL's `interval_mul` and
/// `interval_div` take a float8 factor).
fn interval_call(name: &str, interval: &Expr, number: &Expr) -> Expr {
    function_call(
        name,
        vec![
            interval.clone(),
            Expr::Cast {
                kind: ast::CastKind::Cast,
                expr: Box::new(number.clone()),
                data_type: ast::DataType::DoublePrecision,
                array: false,
                format: None,
            },
        ],
    )
}

fn int_literal(e: &Expr) -> Option<i64> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => int_literal(expr).map(|v| -v),
        Expr::Nested(e) => int_literal(e),
        _ => None,
    }
}

fn scale_interval((m, d, n): (i64, i64, i64), k: i64) -> Option<Expr> {
    let (m, d, n) = (m.checked_mul(k)?, d.checked_mul(k)?, n.checked_mul(k)?);
    Some(Expr::Interval(ast::Interval {
        value: Box::new(Expr::value(Value::SingleQuotedString(format!(
            "{m} months {d} days {n} nanoseconds"
        )))),
        leading_field: None,
        leading_precision: None,
        last_field: None,
        fractional_seconds_precision: None,
    }))
}

/// The field name PostgreSQL uses, for the fields `pg_extract` handles.
fn extract_field_name(f: &ast::DateTimeField) -> Option<String> {
    let s = f.to_string().to_lowercase();
    let s = s.trim_matches('\'').trim_matches('"').to_string();
    matches!(
        s.as_str(),
        "year"
            | "years"
            | "month"
            | "months"
            | "day"
            | "days"
            | "hour"
            | "hours"
            | "minute"
            | "minutes"
            | "second"
            | "seconds"
            | "millisecond"
            | "milliseconds"
            | "microsecond"
            | "microseconds"
            | "epoch"
            | "dow"
            | "isodow"
            | "doy"
            | "week"
            | "isoyear"
            | "quarter"
            | "decade"
            | "century"
            | "millennium"
            | "timezone"
            | "timezone_hour"
            | "timezone_minute"
    )
    .then_some(s)
}

struct IntLiterals;

impl VisitorMut for IntLiterals {
    type Break = ();

    fn post_visit_query(&mut self, q: &mut ast::Query) -> ControlFlow<()> {
        if let ast::SetExpr::Select(sel) = q.body.as_mut() {
            for item in sel.projection.iter_mut() {
                match item {
                    ast::SelectItem::UnnamedExpr(e)
                    | ast::SelectItem::ExprWithAlias { expr: e, .. } => int4_literal(e),
                    _ => {}
                }
            }
        }
        ControlFlow::Continue(())
    }

    /// An integer literal operand of `+ - * / %` is `integer` too, so `int4_col + 1` and
    /// `CAST($1 AS integer) + 1` are integer as in PostgreSQL (DataFusion's bigint literal
    /// widened them to bigint); with a bigint operand DataFusion still widens to bigint.
    /// Not next to a bare parameter (`$1 + 1`): the parameter's type is inferred from the
    /// literal before a declared type (`prepare_typed(.., [INT8])`) is known, and stays
    /// bigint as before.
    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Expr::BinaryOp { left, op, right } = e
            && is_arithmetic(op)
            && !is_placeholder(left)
            && !is_placeholder(right)
        {
            int4_literal(left);
            int4_literal(right);
        }
        ControlFlow::Continue(())
    }
}

/// `1` → `CAST(1 AS integer)` when the whole select-list expression is an integer literal
/// (or its negation) that fits in 32 bits.
fn int4_literal(e: &mut Expr) {
    let fits = |n: &str| {
        !n.contains(['.', 'e', 'E']) && n.parse::<i64>().is_ok_and(|v| i32::try_from(v).is_ok())
    };
    let is_small = match e {
        Expr::Value(v) => matches!(&v.value, Value::Number(n, _) if fits(n)),
        Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => {
            matches!(expr.as_ref(), Expr::Value(v) if matches!(&v.value, Value::Number(n, _) if fits(n)))
        }
        _ => false,
    };
    if is_small {
        let inner = std::mem::replace(e, Expr::value(Value::Null));
        *e = Expr::Cast {
            kind: ast::CastKind::Cast,
            expr: Box::new(inner),
            data_type: ast::DataType::Int(None),
            array: false,
            format: None,
        };
    }
}

/// Decimal literals are `numeric`, as in PostgreSQL (the session parses them as decimals,
/// `datafusion.sql_parser.parse_float_as_decimal`); one that `Decimal128` cannot hold
/// (more than 38 digits, or an exponent putting it out of that range: `1.5e300`) is
/// `double precision` instead (PostgreSQL's numeric holds it). Next to a bare parameter
/// (`$1 * 0.5`) the literal is cast to unconstrained `numeric`: DataFusion gives the
/// parameter the other operand's type, and the literal's `numeric(2,1)` would overflow
/// on `123` (PostgreSQL infers `numeric`).
struct WideDecimalLiterals;

/// Whether decimal literal `n` (`12.5`, `1.5e-3`) fits `Decimal128(38, s)` with `0 <= s
/// <= 38` after its exponent is applied.
fn fits_decimal128(n: &str) -> bool {
    let (mantissa, exp) = match n.split_once(['e', 'E']) {
        Some((m, e)) => match e.parse::<i64>() {
            Ok(e) => (m, e),
            Err(_) => return false,
        },
        None => (n, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let int = int.trim_start_matches('0');
    let scale = i64::try_from(frac.len()).unwrap_or(i64::MAX) - exp;
    let digits = i64::try_from(int.len() + frac.len()).unwrap_or(i64::MAX);
    (0..=38).contains(&scale.max(0)) && digits - scale.min(0) <= 38 && digits <= 38
}

impl VisitorMut for WideDecimalLiterals {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let is_decimal = |x: &Expr| matches!(x, Expr::Value(v) if matches!(&v.value, Value::Number(n, _) if n.contains(['.', 'e', 'E'])));
        if let Expr::BinaryOp { left, right, .. } = e {
            let numeric = |lit: &mut Box<Expr>| {
                let inner = std::mem::replace(lit.as_mut(), Expr::value(Value::Null));
                **lit = Expr::Cast {
                    kind: ast::CastKind::Cast,
                    expr: Box::new(inner),
                    data_type: ast::DataType::Numeric(ast::ExactNumberInfo::None),
                    array: false,
                    format: None,
                };
            };
            if is_placeholder(left) && is_decimal(right) {
                numeric(right);
            } else if is_placeholder(right) && is_decimal(left) {
                numeric(left);
            }
            return ControlFlow::Continue(());
        }
        if let Expr::Value(v) = e
            && let Value::Number(n, _) = &v.value
            && n.contains(['.', 'e', 'E'])
            && !fits_decimal128(n)
        {
            *e = Expr::Cast {
                kind: ast::CastKind::Cast,
                expr: Box::new(Expr::value(Value::SingleQuotedString(n.clone()))),
                data_type: ast::DataType::DoublePrecision,
                array: false,
                format: None,
            };
        }
        ControlFlow::Continue(())
    }
}

/// Applies every rewrite to a statement that DataFusion will plan.
pub fn rewrite(stmt: &mut ast::Statement) {
    let _ = stmt.visit(&mut WideDecimalLiterals);
    let _ = stmt.visit(&mut CatalogSyntax);
    select_list(stmt);
    alias_scalar_subqueries(stmt);
    let _ = stmt.visit(&mut DefaultCollation);
    let _ = stmt.visit(&mut NamedTimeBucketArgs);
    let _ = stmt.visit(&mut PgFunctionForms);
    let _ = stmt.visit(&mut FetchFirst);
    let _ = stmt.visit(&mut Literals);
    let _ = stmt.visit(&mut IntLiterals);
    let _ = stmt.visit(&mut SetFunctionColumnNames);
    let _ = stmt.visit(&mut CompositeAccess);
    let _ = stmt.visit(&mut LikeEscape);
    let _ = stmt.visit(&mut TableIsVisible);
    let _ = stmt.visit(&mut RankingBigint);
    let _ = stmt.visit(&mut DistinctOnOrder);
    let _ = stmt.visit(&mut CharacterCasts);
    let _ = stmt.visit(&mut UnknownConcat);
    let _ = is_interval;
}

/// Casts to the character types, as PostgreSQL has them.
///
/// - `varchar` in any spelling: DataFusion knew only `varchar` (`character varying` and
///   `char varying` failed with "Unsupported SQL type") and ignored a length; PostgreSQL's
///   explicit cast to `varchar(n)` cuts the value to `n` characters (`'abc'::varchar(2)`
///   is `ab`), here `pg_varchar(CAST(v AS VARCHAR), n)` (`crate::bpchar`), which also
///   tags the result with its length for RowDescription's type modifier (`n` = -1: no
///   length; DataFusion's cast alone would keep the tag and length of a `char(n)` or
///   `varchar(n)` value). (Parameters declared
///   `varchar(n)` keep every character, as PostgreSQL ignores the length of a
///   parameter's type: `PREPARE` drops it before this runs.)
/// - `char(n)`, `character(n)` and `bpchar` become `pg_bpchar(CAST(x AS varchar), n)`
///   (`crate::bpchar`), which cuts and tags the value as PostgreSQL's cast does
///   (DataFusion ignored the length of `char(n)` and refused `character(n)` and `bpchar`).
struct CharacterCasts;

/// The length of a `varchar` type in any of its spellings (`varchar`, `character
/// varying`, `char varying`): `Some(None)` when it has none, None for other types.
pub(crate) fn varchar_length(t: &ast::DataType) -> Option<Option<&ast::CharacterLength>> {
    use ast::DataType as D;
    match t {
        D::Varchar(l) | D::CharacterVarying(l) | D::CharVarying(l) => Some(l.as_ref()),
        _ => None,
    }
}

/// The length a cast to a blank-padded type gives (`char` alone is `char(1)`; -1 for
/// `bpchar`, which has none), or None for other types. `"char"` (quoted, the one-byte
/// type of the catalogs) is not one of them.
fn bpchar_length(t: &ast::DataType) -> Option<i64> {
    use ast::DataType as D;
    match t {
        D::Char(l) | D::Character(l) => match l {
            None => Some(1),
            Some(ast::CharacterLength::IntegerLength { length, .. }) => i64::try_from(*length).ok(),
            Some(ast::CharacterLength::Max) => None,
        },
        D::Custom(name, mods) if mods.is_empty() => match name.0.as_slice() {
            [part] => part
                .as_ident()
                .filter(|i| i.value.eq_ignore_ascii_case("bpchar"))
                .map(|_| -1),
            _ => None,
        },
        _ => None,
    }
}

impl VisitorMut for CharacterCasts {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        use ast::DataType as D;
        let Expr::Cast {
            data_type, expr, ..
        } = e
        else {
            return ControlFlow::Continue(());
        };
        if let Some(len) = varchar_length(data_type).map(|l| l.cloned()) {
            let length = match len {
                Some(ast::CharacterLength::IntegerLength { length, .. }) => length.to_string(),
                _ => "-1".to_string(),
            };
            let text = cast(expr.as_ref().clone(), D::Varchar(None));
            *e = function_call(
                crate::bpchar::VARCHAR_NAME,
                vec![text, Expr::value(Value::Number(length, false))],
            );
        } else if let Some(n) = bpchar_length(data_type) {
            let text = cast(expr.as_ref().clone(), D::Varchar(None));
            *e = function_call(
                crate::bpchar::NAME,
                vec![text, Expr::value(Value::Number(n.to_string(), false))],
            );
        }
        ControlFlow::Continue(())
    }
}

/// `$1 || $2`: PostgreSQL resolves `unknown || unknown` as `text || text`; DataFusion
/// cannot infer a type for either side (42883). Both bare parameters are cast to text.
/// (One bare parameter beside a typed operand is inferred by DataFusion from the other
/// side, e.g. `$1 || 'x'` or `$1 || ARRAY[1]`.)
struct UnknownConcat;

impl VisitorMut for UnknownConcat {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::StringConcat,
            right,
        } = e
            && is_placeholder(left)
            && is_placeholder(right)
        {
            for side in [left, right] {
                let inner = std::mem::replace(side.as_mut(), Expr::value(Value::Null));
                **side = cast(inner, ast::DataType::Text);
            }
        }
        ControlFlow::Continue(())
    }
}

/// Whether `x` is a bare parameter (`$1`).
fn is_placeholder(x: &Expr) -> bool {
    matches!(x, Expr::Value(v) if matches!(v.value, Value::Placeholder(_)))
}

/// `SELECT DISTINCT ON (a, b) ... ORDER BY b, a, ...`: PostgreSQL wants the ORDER BY to
/// start with the DISTINCT ON expressions in any order, DataFusion in the order of the
/// DISTINCT ON list. The list is a set (one row per distinct combination), so it takes the
/// ORDER BY's order; the answer and its order are unchanged.
struct DistinctOnOrder;

impl VisitorMut for DistinctOnOrder {
    type Break = ();

    fn post_visit_query(&mut self, q: &mut ast::Query) -> ControlFlow<()> {
        let Some(ast::OrderByKind::Expressions(order)) = q.order_by.as_ref().map(|o| &o.kind)
        else {
            return ControlFlow::Continue(());
        };
        let ast::SetExpr::Select(select) = q.body.as_mut() else {
            return ControlFlow::Continue(());
        };
        let Some(ast::Distinct::On(on)) = &mut select.distinct else {
            return ControlFlow::Continue(());
        };
        let Some(prefix) = order.get(..on.len()) else {
            return ControlFlow::Continue(());
        };
        let prefix: Vec<&Expr> = prefix.iter().map(|o| &o.expr).collect();
        let same_set =
            prefix.iter().all(|e| on.contains(e)) && on.iter().all(|e| prefix.contains(&e));
        if same_set {
            *on = prefix.into_iter().cloned().collect();
        }
        ControlFlow::Continue(())
    }
}

/// Composite values as catalog queries use them (pgjdbc's `getPrimaryKeys`):
/// `information_schema._pg_expandarray(a)` in a select list becomes
/// `unnest(pg_expandarray(a))` (a row per element, as the set-returning function gives),
/// and `(expr).field` becomes `get_field(expr, 'field')` (DataFusion's planner refuses a
/// dot after a parenthesised expression);
/// - `unnest(i.indkey)` of a catalog `int2vector`/`oidvector` or small array column (held
///   as text here, see `crate::expandarray`) unnests `pg_int2vector_items(i.indkey)` (or
///   `pg_oidvector_items`), and `generate_subscripts(a, dim)` becomes
///   `unnest(pg_subscripts(a, dim))` (SQLAlchemy's `get_pk_constraint` and `get_indexes`);
///   `x = ANY(i.indkey)` compares with `pg_int2vector_items(i.indkey)` likewise.
struct CompositeAccess;

/// The element type of a catalog vector column by its name: `Some(true)` for `int2`
/// (`int2vector`, `int2[]`), `Some(false)` for `oid` (`oidvector`, `oid[]`).
fn catalog_vector_column(e: &Expr) -> Option<bool> {
    let name = match e {
        Expr::Identifier(i) => i,
        Expr::CompoundIdentifier(p) => p.last()?,
        _ => return None,
    };
    match name.value.to_lowercase().as_str() {
        "indkey" | "indoption" | "conkey" | "confkey" | "stxkeys" | "partattrs" | "tgattr" => {
            Some(true)
        }
        "indclass" | "indcollation" | "proargtypes" | "partclass" | "conpfeqop" | "conppeqop"
        | "conffeqop" | "conexclop" => Some(false),
        _ => None,
    }
}

/// The plain arguments of a function call.
fn call_args(f: &ast::Function) -> Option<Vec<Expr>> {
    let ast::FunctionArguments::List(list) = &f.args else {
        return None;
    };
    list.args
        .iter()
        .map(|a| match a {
            ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => Some(x.clone()),
            _ => None,
        })
        .collect()
}

impl VisitorMut for CompositeAccess {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        match e {
            Expr::Function(f)
                if f.name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .is_some_and(|i| i.value.eq_ignore_ascii_case("_pg_expandarray")) =>
            {
                let ast::FunctionArguments::List(list) = &f.args else {
                    return ControlFlow::Continue(());
                };
                let args: Vec<Expr> = list
                    .args
                    .iter()
                    .filter_map(|a| match a {
                        ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => Some(x.clone()),
                        _ => None,
                    })
                    .collect();
                *e = function_call(
                    "unnest",
                    vec![function_call(crate::expandarray::EXPANDARRAY_FN, args)],
                );
            }
            Expr::Function(f) if f.over.is_none() => {
                let Some(name) = f.name.0.last().and_then(|p| p.as_ident()) else {
                    return ControlFlow::Continue(());
                };
                let name = name.value.to_lowercase();
                let Some(args) = call_args(f) else {
                    return ControlFlow::Continue(());
                };
                match (name.as_str(), args.as_slice()) {
                    ("unnest", [v]) => {
                        if let Some(int2) = catalog_vector_column(v) {
                            let items = if int2 {
                                crate::expandarray::INT2_ITEMS_FN
                            } else {
                                crate::expandarray::OID_ITEMS_FN
                            };
                            *e = function_call("unnest", vec![function_call(items, args)]);
                        }
                    }
                    ("generate_subscripts", [_, _]) => {
                        *e = function_call(
                            "unnest",
                            vec![function_call(crate::expandarray::SUBSCRIPTS_FN, args)],
                        );
                    }
                    _ => {}
                }
            }
            // `a.attnum = ANY(ix.indkey)` (SQLAlchemy 1.4's get_indexes and
            // get_unique_constraints): compare with the vector's elements.
            Expr::AnyOp { right, .. } | Expr::AllOp { right, .. } => {
                if let Some(int2) = catalog_vector_column(right) {
                    let items = if int2 {
                        crate::expandarray::INT2_ITEMS_FN
                    } else {
                        crate::expandarray::OID_ITEMS_FN
                    };
                    **right = function_call(items, vec![(**right).clone()]);
                }
            }
            Expr::CompoundFieldAccess { root, access_chain }
                if !access_chain.is_empty()
                    && access_chain
                        .iter()
                        .all(|a| matches!(a, ast::AccessExpr::Dot(Expr::Identifier(_)))) =>
            {
                let mut out = (**root).clone();
                for a in access_chain.iter() {
                    if let ast::AccessExpr::Dot(Expr::Identifier(i)) = a {
                        let name = if i.quote_style.is_some() {
                            i.value.clone()
                        } else {
                            i.value.to_lowercase()
                        };
                        out = function_call(
                            "get_field",
                            vec![out, Expr::value(Value::SingleQuotedString(name))],
                        );
                    }
                }
                *e = out;
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// `FROM generate_series(...) g` and `FROM unnest(a) g` name the output column `g` in
/// PostgreSQL (a function returning a scalar set takes its alias, or its own name, as
/// column name); DataFusion calls it `value` or `UNNEST(...)`. The alias gets the column
/// list PostgreSQL implies. `pg_catalog.unnest(a)` is `unnest(a)` (sqlparser takes the
/// qualified name for a table function DataFusion does not have).
struct SetFunctionColumnNames;

impl VisitorMut for SetFunctionColumnNames {
    type Break = ();

    fn pre_visit_table_factor(&mut self, tf: &mut ast::TableFactor) -> ControlFlow<Self::Break> {
        if let ast::TableFactor::Table {
            name,
            alias,
            args: Some(args),
            with_ordinality,
            ..
        } = tf
            && name.0.len() == 2
            && name.0[0]
                .as_ident()
                .is_some_and(|i| i.value.eq_ignore_ascii_case("pg_catalog"))
            && name.0[1]
                .as_ident()
                .is_some_and(|i| i.value.eq_ignore_ascii_case("unnest"))
            && let Some(array_exprs) = args
                .args
                .iter()
                .map(|a| match a {
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => Some(x.clone()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
        {
            *tf = ast::TableFactor::UNNEST {
                alias: alias.take(),
                array_exprs,
                with_offset: false,
                with_offset_alias: None,
                with_ordinality: *with_ordinality,
            };
        }
        if let ast::TableFactor::UNNEST {
            alias,
            array_exprs,
            with_offset: false,
            with_ordinality: false,
            ..
        } = tf
            && array_exprs.len() == 1
        {
            set_function_alias(alias, "unnest");
        }
        if let ast::TableFactor::Table {
            name,
            alias,
            args: Some(_),
            ..
        } = tf
        {
            let fname = name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(|i| i.value.to_lowercase())
                .unwrap_or_default();
            if fname == "generate_series" {
                set_function_alias(alias, &fname);
            }
        }
        if let Some(series) = int4_series(tf) {
            *tf = series;
        }
        ControlFlow::Continue(())
    }
}

/// `generate_series(a, b [, step])` of `integer` literals is a series of `integer` in
/// PostgreSQL; DataFusion's has only a `bigint` form (drivers would see int8). Rewritten to
/// `(SELECT CAST(value AS integer) AS col FROM generate_series(a, b [, step]) ...) alias(col)`.
/// Other arguments (columns, casts, parameters, values beyond `integer`) keep `bigint`.
fn int4_series(tf: &ast::TableFactor) -> Option<ast::TableFactor> {
    let ast::TableFactor::Table {
        name,
        alias: Some(alias),
        args: Some(args),
        with_ordinality: false,
        ..
    } = tf
    else {
        return None;
    };
    let is_series = name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .is_some_and(|i| i.value.eq_ignore_ascii_case("generate_series"));
    if !is_series || !(2..=3).contains(&args.args.len()) || alias.columns.len() != 1 {
        return None;
    }
    let int4 = |a: &ast::FunctionArg| {
        let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) = a else {
            return None;
        };
        let (negative, v) = match e {
            Expr::UnaryOp {
                op: ast::UnaryOperator::Minus,
                expr,
            } => (true, expr.as_ref()),
            e => (false, e),
        };
        let Expr::Value(v) = v else { return None };
        let Value::Number(n, _) = &v.value else {
            return None;
        };
        let n: i64 = n.parse().ok()?;
        i32::try_from(if negative { -n } else { n }).ok()
    };
    let bounds = args.args.iter().map(int4).collect::<Option<Vec<i32>>>()?;
    // The inner call's bigint casts and column list keep this rule and the alias rule
    // above from applying to it again.
    let bounds: Vec<String> = bounds
        .iter()
        .map(|b| format!("CAST({b} AS bigint)"))
        .collect();
    let sql = format!(
        "SELECT CAST(value AS integer) AS {} FROM generate_series({}) AS s(value)",
        alias.columns[0].name,
        bounds.join(", ")
    );
    let subquery = sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_query())
        .ok()?;
    Some(ast::TableFactor::Derived {
        lateral: false,
        subquery,
        alias: Some(alias.clone()),
        sample: None,
    })
}

/// The column list of a scalar set function's alias: its alias, or `fname` without one.
fn set_function_alias(alias: &mut Option<ast::TableAlias>, fname: &str) {
    match alias {
        Some(a) if a.columns.is_empty() => {
            a.columns = vec![ast::TableAliasColumnDef::from_name(a.name.value.clone())];
        }
        Some(_) => {}
        None => {
            *alias = Some(ast::TableAlias {
                explicit: true,
                name: ast::Ident::new(fname),
                columns: vec![ast::TableAliasColumnDef::from_name(fname)],
                at: None,
            });
        }
    }
}

// ------------------------------------------------------------ catalog-query syntax

/// Marker between a column's PostgreSQL name and a suffix that makes it unique for
/// DataFusion (which refuses two output columns with the same name, PostgreSQL does not:
/// `SELECT n.oid, n.*`). [`crate::names::apply_names`] cuts it off again.
pub const DUP_MARKER: &str = "\u{1}strata_dup_";

/// Keywords that are function calls in PostgreSQL but plain identifiers to sqlparser
/// (`SELECT current_schema`).
pub fn is_niladic_keyword(i: &ast::Ident) -> bool {
    i.quote_style.is_none()
        && matches!(
            i.value.to_lowercase().as_str(),
            "current_schema" | "current_role"
        )
}

/// `CAST(expr AS data_type)` as a sqlparser expression.
pub(crate) fn cast(expr: Expr, data_type: ast::DataType) -> Expr {
    Expr::Cast {
        kind: ast::CastKind::Cast,
        expr: Box::new(expr),
        data_type,
        array: false,
        format: None,
    }
}

/// `name(args...)` as a sqlparser expression.
pub(crate) fn function_call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(ast::Function {
        name: ast::ObjectName::from(vec![ast::Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: ast::FunctionArguments::None,
        args: ast::FunctionArguments::List(ast::FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// Parses a one-dimensional PostgreSQL array literal (`{a,"b c",NULL}`) into its elements
/// (None = NULL). None for anything else (nested arrays, bad syntax).
pub fn parse_array_literal(s: &str) -> Option<Vec<Option<String>>> {
    let inner = s.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut out = vec![];
    if inner.trim().is_empty() {
        return Some(out);
    }
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut item = String::new();
        let mut quoted = false;
        if chars.peek() == Some(&'"') {
            quoted = true;
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => item.push(chars.next()?),
                    c => item.push(c),
                }
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '{' || c == '}' || c == '"' {
                    return None;
                }
                if c == '\\' {
                    chars.next();
                    item.push(chars.next()?);
                    continue;
                }
                item.push(c);
                chars.next();
            }
            item = item.trim_end().to_string();
            if item.is_empty() {
                return None;
            }
        }
        if !quoted && item.eq_ignore_ascii_case("null") {
            out.push(None);
        } else {
            out.push(Some(item));
        }
        match chars.next() {
            None => return Some(out),
            Some(',') => continue,
            Some(_) => return None,
        }
    }
}

/// `ARRAY[...]` of a literal's elements, each cast to `elem` when given.
fn array_of(items: Vec<Option<String>>, elem: Option<&ast::DataType>) -> Expr {
    let elems = items
        .into_iter()
        .map(|i| {
            let v = match i {
                Some(s) => Expr::value(Value::SingleQuotedString(s)),
                None => Expr::value(Value::Null),
            };
            match elem {
                Some(t) => Expr::Cast {
                    kind: ast::CastKind::DoubleColon,
                    expr: Box::new(v),
                    data_type: t.clone(),
                    array: false,
                    format: None,
                },
                None => v,
            }
        })
        .collect();
    Expr::Array(ast::Array {
        elem: elems,
        named: true,
    })
}

/// Syntax of clients' catalog queries:
///
/// - `current_user`, `session_user`, `user`, `current_catalog` (sqlparser: a function
///   without argument list, which DataFusion takes for a column), and `current_schema` /
///   `current_role` (an identifier; in PostgreSQL these are keywords, so an unquoted
///   `current_schema` is never a column): calls of the functions of the same name;
/// - `'{r,p}'::char[]`: the array literal as `ARRAY['r'::char, 'p'::char]` (DataFusion
///   would make a one-element array of the whole string);
/// - `x = ANY('{r,p}')`: the untyped literal as an array of the elements (PostgreSQL
///   gives it the type of `x`'s array, DataFusion cannot).
struct CatalogSyntax;

impl VisitorMut for CatalogSyntax {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        match e {
            Expr::Function(f)
                if matches!(f.args, ast::FunctionArguments::None)
                    && f.name.0.len() == 1
                    && f.name.0[0].as_ident().is_some_and(|i| {
                        matches!(
                            i.value.to_lowercase().as_str(),
                            "current_user" | "session_user" | "user" | "current_catalog"
                        )
                    }) =>
            {
                f.args = ast::FunctionArguments::List(ast::FunctionArgumentList {
                    duplicate_treatment: None,
                    args: vec![],
                    clauses: vec![],
                });
            }
            Expr::Identifier(i) if is_niladic_keyword(i) => {
                *e = function_call(&i.value.to_lowercase(), vec![]);
            }
            Expr::Cast {
                expr, data_type, ..
            } => {
                if let ast::DataType::Array(
                    ast::ArrayElemTypeDef::SquareBracket(elem, _)
                    | ast::ArrayElemTypeDef::AngleBracket(elem)
                    | ast::ArrayElemTypeDef::Parenthesis(elem),
                ) = data_type
                    && let Some(items) = literal_text(expr).and_then(parse_array_literal)
                {
                    // `'{}'::int[]`: the empty array, cast to the array type
                    if items.is_empty() {
                        **expr = array_of(items, None);
                    } else {
                        *e = array_of(items, Some(elem));
                    }
                }
            }
            Expr::AnyOp { right, .. } | Expr::AllOp { right, .. } => {
                if let Some(items) = literal_text(right).and_then(parse_array_literal)
                    && !items.is_empty()
                {
                    **right = array_of(items, None);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// The name a select-list item's column gets in PostgreSQL, for duplicate detection.
fn item_name(item: &ast::SelectItem) -> Option<String> {
    match item {
        ast::SelectItem::ExprWithAlias { alias, .. } => Some(crate::ddl::ident_name(alias)),
        ast::SelectItem::UnnamedExpr(e) => crate::names::figure_colname_of(e),
        _ => None,
    }
}

/// Select-list rewrites of the top-level query:
///
/// - duplicate output column names (`SELECT n.oid, n.*`, `SELECT 1 AS a, 2 AS a`): the
///   colliding items get unique aliases `name<DUP_MARKER>k`, cut back to `name` in the
///   output schema. With a wildcard every item is treated so (the wildcard's names are
///   known only after planning), except aliases that ORDER BY names. Only the top-level
///   select list: a derived table with duplicate names still fails in DataFusion;
/// - `generate_series(...)` as a select-list item is a set-returning function in
///   PostgreSQL (one row per value); DataFusion's scalar `generate_series` returns one
///   array: it is unnested.
fn select_list(stmt: &mut ast::Statement) {
    let ast::Statement::Query(q) = stmt else {
        return;
    };
    // Output names ORDER BY refers to: those aliases keep their name.
    let ordered: Vec<String> = match q.order_by.as_ref().map(|o| &o.kind) {
        Some(ast::OrderByKind::Expressions(es)) => es
            .iter()
            .filter_map(|e| match &e.expr {
                Expr::Identifier(i) => Some(crate::ddl::ident_name(i)),
                _ => None,
            })
            .collect(),
        _ => vec![],
    };
    let ast::SetExpr::Select(sel) = q.body.as_mut() else {
        return;
    };
    for item in sel.projection.iter_mut() {
        if let ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } =
            item
            && let Expr::Function(f) = e
            && f.name.0.len() == 1
            && f.name.0[0]
                .as_ident()
                .is_some_and(|i| i.value.eq_ignore_ascii_case("generate_series"))
        {
            let inner = e.clone();
            *e = function_call("unnest", vec![inner]);
            if let ast::SelectItem::UnnamedExpr(x) = item {
                *item = ast::SelectItem::ExprWithAlias {
                    expr: x.clone(),
                    alias: ast::Ident::with_quote('"', "generate_series"),
                };
            }
        }
    }
    let wildcard = sel.projection.iter().any(|i| {
        matches!(
            i,
            ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..)
        )
    });
    let names: Vec<Option<String>> = sel.projection.iter().map(item_name).collect();
    for (k, item) in sel.projection.iter_mut().enumerate() {
        let Some(name) = &names[k] else {
            continue;
        };
        let dup = names.iter().filter(|n| n.as_ref() == Some(name)).count() > 1;
        let alias = ast::Ident::with_quote('"', format!("{name}{DUP_MARKER}{k}"));
        match item {
            ast::SelectItem::UnnamedExpr(e) if dup || wildcard => {
                *item = ast::SelectItem::ExprWithAlias {
                    expr: e.clone(),
                    alias,
                };
            }
            ast::SelectItem::UnnamedExpr(e) if named_by_its_operand(e) => {
                *item = ast::SelectItem::ExprWithAlias {
                    expr: e.clone(),
                    alias: ast::Ident::with_quote('"', name.as_str()),
                };
            }
            ast::SelectItem::ExprWithAlias { alias: a, .. }
                if (dup || wildcard) && !ordered.contains(name) =>
            {
                *a = alias
            }
            _ => {}
        }
    }
}

/// Whether DataFusion names `e` after its operand: a cast (`ts::date` is `m.ts`, as the
/// column itself; `2.5::float8::int8` and `2.5::float4::int2` are both `2.5`) or `AT TIME
/// ZONE` (planned as a cast). Such an item is given its PostgreSQL name as an alias
/// (`ts::date AS ts`), so that it does not collide with its operand or a sibling in
/// DataFusion's unique-name check, and so that `ORDER BY ts` means the output column,
/// as in PostgreSQL.
fn named_by_its_operand(e: &Expr) -> bool {
    match e {
        Expr::Cast { .. } | Expr::AtTimeZone { .. } => true,
        Expr::Nested(inner) => named_by_its_operand(inner),
        _ => false,
    }
}

/// Unqualified `pg_*` relations that name a `pg_catalog` table (`FROM pg_class`): in
/// PostgreSQL `pg_catalog` is always searched first; DataFusion searches `public` only.
/// `catalog_tables` are the table names of the `pg_catalog` schema. Names of the
/// statement's CTEs are left alone.
pub fn qualify_pg_catalog(stmt: &mut ast::Statement, catalog_tables: &[String]) {
    struct Ctes(Vec<String>);
    impl ast::Visitor for Ctes {
        type Break = ();
        fn pre_visit_query(&mut self, q: &ast::Query) -> ControlFlow<()> {
            if let Some(w) = &q.with {
                for c in &w.cte_tables {
                    self.0.push(c.alias.name.value.to_lowercase());
                }
            }
            ControlFlow::Continue(())
        }
    }
    struct Qualify<'a> {
        tables: &'a [String],
        ctes: Vec<String>,
    }
    impl VisitorMut for Qualify<'_> {
        type Break = ();
        fn pre_visit_table_factor(&mut self, tf: &mut ast::TableFactor) -> ControlFlow<()> {
            if let ast::TableFactor::Table {
                name, args: None, ..
            } = tf
                && name.0.len() == 1
                && let Some(i) = name.0[0].as_ident()
            {
                let n = crate::ddl::ident_name(i);
                if n.starts_with("pg_")
                    && !self.ctes.contains(&n)
                    && self.tables.iter().any(|t| *t == n)
                {
                    name.0.insert(
                        0,
                        ast::ObjectNamePart::Identifier(ast::Ident::new("pg_catalog")),
                    );
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut ctes = Ctes(vec![]);
    let _ = ast::Visit::visit(&*stmt, &mut ctes);
    let _ = stmt.visit(&mut Qualify {
        tables: catalog_tables,
        ctes: ctes.0,
    });
}

/// Whether the statement names an unqualified `pg_*` relation (then
/// [`qualify_pg_catalog`] is worth its catalog lookup).
pub fn mentions_pg_relation(stmt: &ast::Statement) -> bool {
    struct Find(bool);
    impl ast::Visitor for Find {
        type Break = ();
        fn pre_visit_relation(&mut self, r: &ast::ObjectName) -> ControlFlow<()> {
            if r.0.len() == 1
                && r.0[0]
                    .as_ident()
                    .is_some_and(|i| i.value.to_lowercase().starts_with("pg_"))
            {
                self.0 = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut f = Find(false);
    let _ = ast::Visit::visit(stmt, &mut f);
    f.0
}

/// Name of the function that reports an unknown function with PostgreSQL's message (it
/// sees the argument types when planned; see `pg_functions::unknown_function_udf`).
pub const UNKNOWN_FN: &str = "__strata_unknown_function";

/// What to plan instead of a statement DataFusion refused with `error`, if anything:
///
/// - an unknown function `f`: every call of `f` becomes `__strata_unknown_function('f',
///   args...)`, whose planning fails with PostgreSQL's `function f(integer, unknown) does
///   not exist` (DataFusion says `Invalid function 'f'. Did you mean 'g'?`);
/// - the `xmin` system column (clients read it for optimistic locking), which Strata's
///   tables do not have: the constant 2 (PostgreSQL's FrozenTransactionId: a row visible
///   to every transaction).
pub fn after_plan_error(stmt: &ast::Statement, error: &str) -> Option<ast::Statement> {
    if let Some(rest) = error.split("Invalid function '").nth(1) {
        let name = rest.split('\'').next()?.to_lowercase();
        struct Unknown(String);
        impl VisitorMut for Unknown {
            type Break = ();
            fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
                if let Expr::Function(f) = e
                    && f.name
                        .0
                        .last()
                        .and_then(|p| p.as_ident())
                        .is_some_and(|i| i.value.to_lowercase() == self.0)
                {
                    let mut args = vec![Expr::value(Value::SingleQuotedString(self.0.clone()))];
                    if let ast::FunctionArguments::List(l) = &f.args {
                        for a in &l.args {
                            if let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) = a {
                                args.push(x.clone());
                            }
                        }
                    }
                    *e = function_call(UNKNOWN_FN, args);
                }
                ControlFlow::Continue(())
            }
        }
        let mut s = stmt.clone();
        let _ = s.visit(&mut Unknown(name));
        return Some(s);
    }
    if let Some(rest) = error.split("table function '").nth(1) {
        let name = rest.split('\'').next()?.to_lowercase();
        return scalar_function_in_from(stmt, &name);
    }
    let lower = error.to_lowercase();
    if lower.contains("xmin") {
        let is_xmin = |e: &Expr| match e {
            Expr::Identifier(i) => i.value.eq_ignore_ascii_case("xmin"),
            Expr::CompoundIdentifier(p) => p
                .last()
                .is_some_and(|i| i.value.eq_ignore_ascii_case("xmin")),
            _ => false,
        };
        let frozen = || Expr::Cast {
            kind: ast::CastKind::Cast,
            expr: Box::new(Expr::value(Value::Number("2".into(), false))),
            data_type: ast::DataType::BigInt(None),
            array: false,
            format: None,
        };
        let mut s = stmt.clone();
        if let ast::Statement::Query(q) = &mut s
            && let ast::SetExpr::Select(sel) = q.body.as_mut()
        {
            for item in sel.projection.iter_mut() {
                if let ast::SelectItem::UnnamedExpr(e) = item
                    && is_xmin(e)
                {
                    *item = ast::SelectItem::ExprWithAlias {
                        expr: frozen(),
                        alias: ast::Ident::with_quote('"', "xmin"),
                    };
                }
            }
        }
        struct Xmin<F: Fn() -> Expr>(F);
        impl<F: Fn() -> Expr> VisitorMut for Xmin<F> {
            type Break = ();
            fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
                let hit = match e {
                    Expr::Identifier(i) => i.value.eq_ignore_ascii_case("xmin"),
                    Expr::CompoundIdentifier(p) => p
                        .last()
                        .is_some_and(|i| i.value.eq_ignore_ascii_case("xmin")),
                    _ => false,
                };
                if hit {
                    *e = (self.0)();
                }
                ControlFlow::Continue(())
            }
        }
        let _ = s.visit(&mut Xmin(frozen));
        return Some(s);
    }
    None
}

/// A scalar function in FROM (`FROM string_to_array(x, ',') s`, as Grafana's schema
/// queries write it): PostgreSQL makes it a one-row relation whose one column is named
/// after the alias (else the function); DataFusion looks for a table function. Every such
/// call of `name` becomes `(SELECT name(args) AS s) AS s`.
fn scalar_function_in_from(stmt: &ast::Statement, name: &str) -> Option<ast::Statement> {
    struct Scalar<'a>(&'a str, bool);
    impl VisitorMut for Scalar<'_> {
        type Break = ();
        fn pre_visit_table_factor(&mut self, tf: &mut ast::TableFactor) -> ControlFlow<()> {
            if let ast::TableFactor::Table {
                name,
                alias,
                args: Some(args),
                ..
            } = tf
                && name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .is_some_and(|i| i.value.to_lowercase() == self.0)
                && alias.as_ref().is_none_or(|a| a.columns.len() <= 1)
            {
                let col = match alias {
                    Some(a) => a
                        .columns
                        .first()
                        .map(|c| c.name.clone())
                        .unwrap_or_else(|| a.name.clone()),
                    None => ast::Ident::new(self.0),
                };
                let rel = alias
                    .as_ref()
                    .map(|a| a.name.clone())
                    .unwrap_or_else(|| col.clone());
                let call = Expr::Function(ast::Function {
                    name: name.clone(),
                    uses_odbc_syntax: false,
                    parameters: ast::FunctionArguments::None,
                    args: ast::FunctionArguments::List(ast::FunctionArgumentList {
                        duplicate_treatment: None,
                        args: args.args.clone(),
                        clauses: vec![],
                    }),
                    filter: None,
                    null_treatment: None,
                    over: None,
                    within_group: vec![],
                });
                let sql = format!("SELECT * FROM (SELECT {call} AS {col}) AS {rel}");
                let Ok(ast::Statement::Query(q)) =
                    sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
                        .try_with_sql(&sql)
                        .and_then(|mut p| p.parse_statement())
                else {
                    return ControlFlow::Continue(());
                };
                let ast::SetExpr::Select(sel) = *q.body else {
                    return ControlFlow::Continue(());
                };
                let Some(from) = sel.from.into_iter().next() else {
                    return ControlFlow::Continue(());
                };
                *tf = from.relation;
                self.1 = true;
            }
            ControlFlow::Continue(())
        }
    }
    let mut s = stmt.clone();
    let mut v = Scalar(name, false);
    let _ = s.visit(&mut v);
    v.1.then_some(s)
}

/// `pg_catalog` tables that are always empty in Strata: it has no row security
/// policies, extended statistics, publications, subscriptions, inheritance, triggers,
/// partitioned or foreign tables, sequences or event triggers.
pub const EMPTY_CATALOG_TABLES: &[&str] = &[
    "pg_policy",
    "pg_statistic_ext",
    "pg_statistic_ext_data",
    "pg_publication",
    "pg_publication_rel",
    "pg_publication_namespace",
    "pg_subscription",
    "pg_subscription_rel",
    "pg_inherits",
    "pg_trigger",
    "pg_partitioned_table",
    "pg_foreign_table",
    "pg_sequence",
    "pg_event_trigger",
];

/// Whether a SELECT yields no row because it reads one of [`EMPTY_CATALOG_TABLES`] as an
/// inner source (a FROM item not on the outer side of a join, or an inner join), and has
/// no aggregate, GROUP BY or HAVING (which could make one row out of none).
fn select_is_empty(sel: &ast::Select, is_aggregate: &dyn Fn(&str) -> bool) -> bool {
    let grouped = match &sel.group_by {
        ast::GroupByExpr::Expressions(g, _) => !g.is_empty(),
        ast::GroupByExpr::All(_) => true,
    };
    if grouped || sel.having.is_some() {
        return false;
    }
    struct Agg<'b>(&'b dyn Fn(&str) -> bool);
    impl ast::Visitor for Agg<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = e
                && f.name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .is_some_and(|i| (self.0)(&i.value.to_lowercase()))
            {
                return ControlFlow::Break(());
            }
            // Aggregates inside a subquery belong to it.
            if let Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } = e {
                return ControlFlow::Continue(());
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_query(&mut self, _: &ast::Query) -> ControlFlow<()> {
            ControlFlow::Continue(())
        }
    }
    for item in &sel.projection {
        let e = match item {
            ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => e,
            _ => continue,
        };
        // Only aggregates of this query level: a subquery is skipped whole.
        let mut top = e.clone();
        struct Strip;
        impl VisitorMut for Strip {
            type Break = ();
            fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
                if matches!(
                    e,
                    Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
                ) {
                    *e = Expr::value(Value::Null);
                }
                ControlFlow::Continue(())
            }
        }
        let _ = top.visit(&mut Strip);
        if ast::Visit::visit(&top, &mut Agg(is_aggregate)).is_break() {
            return false;
        }
    }
    let empty = |tf: &ast::TableFactor| match tf {
        ast::TableFactor::Table {
            name, args: None, ..
        } => {
            let parts: Vec<String> = name
                .0
                .iter()
                .filter_map(|p| p.as_ident().map(crate::ddl::ident_name))
                .collect();
            match parts.as_slice() {
                [t] | [_, t] if parts.len() == 1 || parts[0] == "pg_catalog" => {
                    EMPTY_CATALOG_TABLES.contains(&t.as_str())
                }
                _ => false,
            }
        }
        _ => false,
    };
    sel.from.iter().any(|t| {
        let outer_follows = t.joins.iter().any(|j| {
            matches!(
                j.join_operator,
                ast::JoinOperator::Right(_)
                    | ast::JoinOperator::RightOuter(_)
                    | ast::JoinOperator::FullOuter(_)
            )
        });
        (empty(&t.relation) && !outer_follows)
            || t.joins.iter().any(|j| {
                empty(&j.relation)
                    && matches!(
                        j.join_operator,
                        ast::JoinOperator::Join(_)
                            | ast::JoinOperator::Inner(_)
                            | ast::JoinOperator::CrossJoin(_)
                    )
            })
    })
}

/// A query that reads only always-empty catalog tables (every branch of a UNION, see
/// [`select_is_empty`]) yields no row, whatever its select list: when DataFusion cannot
/// plan it (psql's `\d t` asks for policies with `array(SELECT ...)`, for statistics
/// objects with `= any(stxkind)`, for publications with a UNION), it is answered by
/// `SELECT NULL AS c1, ... WHERE false` with as many columns. Output names are
/// PostgreSQL's, computed from the original statement (`crate::names`).
pub fn over_empty_catalog(
    stmt: &ast::Statement,
    is_aggregate: &dyn Fn(&str) -> bool,
) -> Option<ast::Statement> {
    let ast::Statement::Query(q) = stmt else {
        return None;
    };
    fn all_empty(body: &ast::SetExpr, f: &dyn Fn(&ast::Select) -> bool) -> Option<usize> {
        match body {
            ast::SetExpr::Select(sel) => f(sel).then_some(sel.projection.len()),
            ast::SetExpr::SetOperation {
                op: ast::SetOperator::Union,
                left,
                right,
                ..
            } => {
                let n = all_empty(left, f)?;
                all_empty(right, f)?;
                Some(n)
            }
            ast::SetExpr::Query(inner) => all_empty(&inner.body, f),
            _ => None,
        }
    }
    let wildcard = |sel: &ast::Select| {
        sel.projection.iter().any(|i| {
            matches!(
                i,
                ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..)
            )
        })
    };
    let n = all_empty(&q.body, &|sel| {
        !wildcard(sel) && select_is_empty(sel, is_aggregate)
    })?;
    let cols = (1..=n)
        .map(|i| format!("NULL AS c{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
        .try_with_sql(&format!("SELECT {cols} WHERE false"))
        .and_then(|mut p| p.parse_statement())
        .ok()
}

/// The name by which `select` refers to the relation `name` in its FROM clause (its
/// alias, or the name itself), if it reads it.
fn reference_to(select: &ast::Select, name: &str) -> Option<String> {
    select
        .from
        .iter()
        .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)))
        .find_map(|tf| match tf {
            ast::TableFactor::Table { name: n, alias, .. }
                if n.0.len() == 1
                    && n.0[0]
                        .as_ident()
                        .is_some_and(|i| crate::ddl::ident_name(i) == name) =>
            {
                Some(
                    alias
                        .as_ref()
                        .map_or_else(|| name.to_string(), |a| crate::ddl::ident_name(&a.name)),
                )
            }
            _ => None,
        })
}

/// `+ - * / %`.
pub(crate) fn is_arithmetic(op: &ast::BinaryOperator) -> bool {
    matches!(
        op,
        ast::BinaryOperator::Plus
            | ast::BinaryOperator::Minus
            | ast::BinaryOperator::Multiply
            | ast::BinaryOperator::Divide
            | ast::BinaryOperator::Modulo
    )
}

#[cfg(test)]
mod catalog_syntax_tests {
    use super::*;

    #[test]
    fn array_literals() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(parse_array_literal("{r,p}"), Some(vec![s("r"), s("p")]));
        assert_eq!(
            parse_array_literal("{ a , \"b c\",NULL,\"NULL\",x\\,y}"),
            Some(vec![s("a"), s("b c"), None, s("NULL"), s("x,y")])
        );
        assert_eq!(parse_array_literal("{}"), Some(vec![]));
        assert_eq!(parse_array_literal("{{1,2},{3,4}}"), None);
        assert_eq!(parse_array_literal("r,p"), None);
        assert_eq!(parse_array_literal("{a,}"), None);
    }
}

/// Correlated scalar subqueries without aggregate, as catalog queries write them (psql's
/// `\d t`: `(SELECT pg_get_expr(d.adbin, d.adrelid, true) FROM pg_attrdef d WHERE
/// d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef)`): DataFusion refuses
/// them ("Correlated scalar subquery must be aggregated"). The one value becomes
/// `first_value(...)`, the same answer whenever the subquery yields at most one row (more
/// is an error in PostgreSQL), and conditions on outer columns only (`a.atthasdef`),
/// which DataFusion cannot decorrelate, move out: `CASE WHEN a.atthasdef THEN (SELECT
/// ...) END`. A subquery counts as correlated when it names a qualifier (`a.` above) that
/// none of its own FROM items defines; `is_aggregate` tells aggregate function names.
pub fn correlated_subqueries(stmt: &mut ast::Statement, is_aggregate: &dyn Fn(&str) -> bool) {
    let _ = stmt.visit(&mut ArraySubqueries(is_aggregate));
    let _ = stmt.visit(&mut SubqueriesOverNoRows(is_aggregate));
    let _ = stmt.visit(&mut ExistsAsValue);
    let _ = stmt.visit(&mut AggregateScalarSubqueries(is_aggregate));
}

/// A select-list subquery of a SELECT that yields no row because it reads a table of
/// [`EMPTY_CATALOG_TABLES`] (psql's `\d+`: `array(select rolname from pg_roles where oid
/// = any (pol.polroles) ...)` over `pg_policy`) is never evaluated; it becomes NULL under
/// the item's name, since DataFusion may not be able to decorrelate it.
struct SubqueriesOverNoRows<'a>(&'a dyn Fn(&str) -> bool);

impl VisitorMut for SubqueriesOverNoRows<'_> {
    type Break = ();

    fn pre_visit_select(&mut self, sel: &mut ast::Select) -> ControlFlow<()> {
        if !select_is_empty(sel, self.0) {
            return ControlFlow::Continue(());
        }
        struct HasSubquery;
        impl ast::Visitor for HasSubquery {
            type Break = ();
            fn pre_visit_query(&mut self, _: &ast::Query) -> ControlFlow<()> {
                ControlFlow::Break(())
            }
        }
        for item in sel.projection.iter_mut() {
            let (e, name) = match item {
                ast::SelectItem::UnnamedExpr(e) => {
                    let name = crate::names::figure_colname_of(e);
                    (e, name)
                }
                ast::SelectItem::ExprWithAlias { expr, .. } => (expr, None),
                _ => continue,
            };
            if ast::Visit::visit(e, &mut HasSubquery).is_continue() {
                continue;
            }
            *e = Expr::value(Value::Null);
            if let Some(name) = name {
                *item = ast::SelectItem::ExprWithAlias {
                    expr: Expr::value(Value::Null),
                    alias: ast::Ident::with_quote('"', name),
                };
            }
        }
        ControlFlow::Continue(())
    }
}

/// `[NOT] EXISTS (SELECT ... WHERE c)` as a select-list value (psql's `\d index`:
/// `(NOT i.indimmediate) AND EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid =
/// i.indrelid ...) AS condeferrable`): DataFusion plans EXISTS only as a filter. It
/// becomes `[NOT] coalesce((SELECT bool_or(true) FROM ... WHERE c), false)`, the same
/// value, as an aggregated scalar subquery DataFusion decorrelates.
struct ExistsAsValue;

impl VisitorMut for ExistsAsValue {
    type Break = ();

    fn pre_visit_select(&mut self, sel: &mut ast::Select) -> ControlFlow<()> {
        struct Replace;
        impl VisitorMut for Replace {
            type Break = ();
            fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
                let Expr::Exists { subquery, negated } = e else {
                    return ControlFlow::Continue(());
                };
                let mut q = subquery.clone();
                let ast::SetExpr::Select(inner) = q.body.as_mut() else {
                    return ControlFlow::Continue(());
                };
                if q.limit_clause.is_some() || inner.having.is_some() {
                    return ControlFlow::Continue(());
                }
                inner.projection = vec![ast::SelectItem::UnnamedExpr(function_call(
                    "bool_or",
                    vec![Expr::value(Value::Boolean(true))],
                ))];
                q.order_by = None;
                let value = function_call(
                    "coalesce",
                    vec![Expr::Subquery(q), Expr::value(Value::Boolean(false))],
                );
                *e = if *negated {
                    Expr::UnaryOp {
                        op: ast::UnaryOperator::Not,
                        expr: Box::new(Expr::Nested(Box::new(value))),
                    }
                } else {
                    value
                };
                ControlFlow::Continue(())
            }
        }
        let grouped = match &sel.group_by {
            ast::GroupByExpr::Expressions(g, _) => !g.is_empty(),
            ast::GroupByExpr::All(_) => true,
        };
        if grouped {
            return ControlFlow::Continue(());
        }
        for item in sel.projection.iter_mut() {
            if let ast::SelectItem::UnnamedExpr(e)
            | ast::SelectItem::ExprWithAlias { expr: e, .. } = item
            {
                let _ = e.visit(&mut Replace);
            }
        }
        ControlFlow::Continue(())
    }
}

/// `ARRAY(subquery)` (psql's `\du`: `ARRAY(SELECT b.rolname FROM pg_auth_members m JOIN
/// pg_roles b ON ... WHERE m.member = r.oid)`), which DataFusion takes for a call of a
/// function `array`, becomes the aggregate scalar subquery
/// `coalesce((SELECT array_agg(x ORDER BY ...) FROM ... WHERE ...), make_array())`:
/// PostgreSQL's value, with the subquery's ORDER BY as the aggregate's (a position or an
/// output name resolved to its expression) and an empty array, not NULL, for no rows.
/// A correlated one is then decorrelated by DataFusion as any aggregate subquery.
/// A subquery that groups, aggregates, or has LIMIT or a set operation is aggregated
/// over as a derived table (keeping its ORDER BY keys as extra columns).
///
/// Over the elements of an array (`ARRAY(SELECT 'toast.' || x FROM unnest(tc.reloptions)
/// x)`, psql's `\d+`), where the array usually comes from the outer row and DataFusion
/// cannot plan a table function of an outer column, it becomes
/// `array_transform(array_filter(a, x -> <where>), x -> <item>)`.
struct ArraySubqueries<'a>(&'a dyn Fn(&str) -> bool);

impl VisitorMut for ArraySubqueries<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = e
            && f.name.0.len() == 1
            && f.name.0[0]
                .as_ident()
                .is_some_and(|i| i.quote_style.is_none() && i.value.eq_ignore_ascii_case("array"))
            && let ast::FunctionArguments::Subquery(q) = &f.args
            && let Some(value) = unnest_transform(q).or_else(|| array_aggregate(q, self.0))
        {
            *e = function_call("coalesce", vec![value, function_call("make_array", vec![])]);
        }
        ControlFlow::Continue(())
    }
}

/// The one select-list expression of a plain SELECT (None for `*`, several items, or
/// another query form).
fn single_item(sel: &ast::Select) -> Option<(Expr, Option<String>)> {
    match sel.projection.as_slice() {
        [ast::SelectItem::UnnamedExpr(x)] => Some((x.clone(), None)),
        [ast::SelectItem::ExprWithAlias { expr, alias }] => {
            Some((expr.clone(), Some(crate::ddl::ident_name(alias))))
        }
        _ => None,
    }
}

/// `array_agg` over the rows of `q` (see [`ArraySubqueries`]).
fn array_aggregate(q: &ast::Query, is_aggregate: &dyn Fn(&str) -> bool) -> Option<Expr> {
    if q.with.is_some() || q.fetch.is_some() || !q.locks.is_empty() {
        return None;
    }
    let order: Vec<ast::OrderByExpr> = match q.order_by.as_ref().map(|o| &o.kind) {
        None => vec![],
        Some(ast::OrderByKind::Expressions(es)) => es.clone(),
        Some(ast::OrderByKind::All(_)) => return None,
    };
    let aggregate = |arg: Expr, distinct: bool, order: Vec<ast::OrderByExpr>| {
        let mut call = function_call("array_agg", vec![arg]);
        if let Expr::Function(f) = &mut call
            && let ast::FunctionArguments::List(l) = &mut f.args
        {
            if distinct {
                l.duplicate_treatment = Some(ast::DuplicateTreatment::Distinct);
            }
            if !order.is_empty() {
                l.clauses = vec![ast::FunctionArgumentClause::OrderBy(order)];
            }
        }
        call
    };
    let ast::SetExpr::Select(sel) = q.body.as_ref() else {
        // A set operation: its rows, in no particular order (ORDER BY over the output
        // columns of a UNION is not carried over).
        if !order.is_empty() {
            return None;
        }
        return over_derived(q.clone(), aggregate(derived_column(), false, vec![]));
    };
    let (item, alias) = single_item(sel)?;
    // ORDER BY 1 / ORDER BY <output name> mean the select-list item.
    let order: Vec<ast::OrderByExpr> = order
        .into_iter()
        .map(|mut o| {
            let by_item = match &o.expr {
                Expr::Value(v) => matches!(&v.value, Value::Number(n, _) if n == "1"),
                Expr::Identifier(i) => alias.as_deref() == Some(crate::ddl::ident_name(i).as_str()),
                _ => false,
            };
            if by_item {
                o.expr = item.clone();
            }
            o
        })
        .collect();
    let grouped = match &sel.group_by {
        ast::GroupByExpr::Expressions(g, _) => !g.is_empty(),
        ast::GroupByExpr::All(_) => true,
    };
    let simple = !grouped
        && sel.having.is_none()
        && q.limit_clause.is_none()
        && !matches!(sel.distinct, Some(ast::Distinct::On(_)))
        && ast::Visit::visit(&item, &mut HasAgg(is_aggregate)).is_continue();
    if simple {
        let mut inner = q.clone();
        inner.order_by = None;
        let ast::SetExpr::Select(s) = inner.body.as_mut() else {
            return None;
        };
        let distinct = matches!(s.distinct, Some(ast::Distinct::Distinct));
        s.distinct = None;
        s.projection = vec![ast::SelectItem::UnnamedExpr(aggregate(
            item, distinct, order,
        ))];
        return Some(Expr::Subquery(Box::new(inner)));
    }
    // Grouped, aggregated or limited: the rows as a derived table, with its ORDER BY keys
    // as extra columns the aggregate orders by.
    let mut inner = q.clone();
    let ast::SetExpr::Select(s) = inner.body.as_mut() else {
        return None;
    };
    s.projection = vec![ast::SelectItem::ExprWithAlias {
        expr: item,
        alias: ast::Ident::new(DERIVED_VALUE),
    }];
    let mut outer_order = vec![];
    for (k, o) in order.into_iter().enumerate() {
        let key = ast::Ident::new(format!("{DERIVED_VALUE}_key{k}"));
        s.projection.push(ast::SelectItem::ExprWithAlias {
            expr: o.expr.clone(),
            alias: key.clone(),
        });
        outer_order.push(ast::OrderByExpr {
            expr: Expr::CompoundIdentifier(vec![ast::Ident::new(DERIVED_ALIAS), key]),
            ..o
        });
    }
    // DISTINCT is over the value only: the extra keys would change it.
    if s.distinct.is_some() && !outer_order.is_empty() {
        return None;
    }
    over_derived(inner, aggregate(derived_column(), false, outer_order))
}

const DERIVED_ALIAS: &str = "strata_array_rows";
const DERIVED_VALUE: &str = "strata_array_value";

fn derived_column() -> Expr {
    Expr::CompoundIdentifier(vec![
        ast::Ident::new(DERIVED_ALIAS),
        ast::Ident::new(DERIVED_VALUE),
    ])
}

/// `(SELECT <value> FROM (<q>) AS strata_array_rows)`; a plain `q` names its one column
/// `strata_array_value` itself, a set operation gets it as a column alias.
fn over_derived(q: ast::Query, value: Expr) -> Option<Expr> {
    let columns = if matches!(q.body.as_ref(), ast::SetExpr::Select(_)) {
        String::new()
    } else {
        format!("({DERIVED_VALUE})")
    };
    sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
        .try_with_sql(&format!(
            "(SELECT {value} FROM ({q}) AS {DERIVED_ALIAS}{columns})"
        ))
        .and_then(|mut p| p.parse_expr())
        .ok()
}

/// `array_transform(array_filter(a, x -> <where>), x -> <item>)` for `SELECT <item> FROM
/// unnest(a) x [WHERE ...]` (see [`ArraySubqueries`]); None for any other query.
fn unnest_transform(q: &ast::Query) -> Option<Expr> {
    if q.with.is_some() || q.order_by.is_some() || q.limit_clause.is_some() || q.fetch.is_some() {
        return None;
    }
    let ast::SetExpr::Select(sel) = q.body.as_ref() else {
        return None;
    };
    let grouped = match &sel.group_by {
        ast::GroupByExpr::Expressions(g, _) => !g.is_empty(),
        ast::GroupByExpr::All(_) => true,
    };
    if grouped || sel.having.is_some() || sel.distinct.is_some() {
        return None;
    }
    let (item, _) = single_item(sel)?;
    let [from] = sel.from.as_slice() else {
        return None;
    };
    if !from.joins.is_empty() {
        return None;
    }
    let (array, alias) = match &from.relation {
        ast::TableFactor::UNNEST {
            alias,
            array_exprs,
            with_offset: false,
            with_ordinality: false,
            ..
        } if array_exprs.len() == 1 => (array_exprs[0].clone(), alias.clone()),
        ast::TableFactor::Table {
            name,
            args: Some(args),
            alias,
            with_ordinality: false,
            ..
        } if name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .is_some_and(|i| i.value.eq_ignore_ascii_case("unnest")) =>
        {
            match args.args.as_slice() {
                [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(a))] => {
                    (a.clone(), alias.clone())
                }
                _ => return None,
            }
        }
        _ => return None,
    };
    // The element's name: the alias's column, else the alias, else `unnest`.
    let (rel, var) = match &alias {
        Some(a) => (
            Some(crate::ddl::ident_name(&a.name)),
            a.columns
                .first()
                .map(|c| c.name.clone())
                .unwrap_or_else(|| a.name.clone()),
        ),
        None => (None, ast::Ident::new("unnest")),
    };
    let var_name = crate::ddl::ident_name(&var);
    struct Element<'b> {
        rel: Option<&'b str>,
        var: &'b ast::Ident,
        name: &'b str,
        nested: bool,
    }
    impl VisitorMut for Element<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, _: &mut ast::Query) -> ControlFlow<()> {
            self.nested = true;
            ControlFlow::Break(())
        }
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            let hit = match e {
                Expr::Identifier(i) => crate::ddl::ident_name(i) == self.name,
                Expr::CompoundIdentifier(p) if p.len() == 2 => {
                    self.rel == Some(crate::ddl::ident_name(&p[0]).as_str())
                        && crate::ddl::ident_name(&p[1]) == self.name
                }
                _ => false,
            };
            if hit {
                *e = Expr::Identifier(self.var.clone());
            }
            ControlFlow::Continue(())
        }
    }
    let lambda = |mut body: Expr| -> Option<Expr> {
        let mut v = Element {
            rel: rel.as_deref(),
            var: &var,
            name: &var_name,
            nested: false,
        };
        let _ = body.visit(&mut v);
        if v.nested {
            return None;
        }
        Some(Expr::Lambda(ast::LambdaFunction {
            params: ast::OneOrManyWithParens::One(ast::LambdaFunctionParameter {
                name: var.clone(),
                data_type: None,
            }),
            body: Box::new(body),
            syntax: ast::LambdaSyntax::Arrow,
        }))
    };
    let mut array = array;
    if let Some(w) = &sel.selection {
        array = function_call("array_filter", vec![array, lambda(w.clone())?]);
    }
    Some(function_call("array_transform", vec![array, lambda(item)?]))
}

/// Qualifiers (aliases, else table names) the FROM items of `sel` define.
fn from_qualifiers(sel: &ast::Select) -> Vec<String> {
    let mut out = vec![];
    let mut add = |tf: &ast::TableFactor| match tf {
        ast::TableFactor::Table { name, alias, .. } => match alias {
            Some(a) => out.push(crate::ddl::ident_name(&a.name)),
            None => {
                if let Some(i) = name.0.last().and_then(|p| p.as_ident()) {
                    out.push(crate::ddl::ident_name(i))
                }
            }
        },
        ast::TableFactor::Derived { alias: Some(a), .. }
        | ast::TableFactor::Function { alias: Some(a), .. }
        | ast::TableFactor::UNNEST { alias: Some(a), .. } => {
            out.push(crate::ddl::ident_name(&a.name))
        }
        _ => {}
    };
    for t in &sel.from {
        add(&t.relation);
        for j in &t.joins {
            add(&j.relation);
        }
    }
    out
}

/// Qualifiers of the compound identifiers in `e` (`a` of `a.attrelid`), and whether it has
/// unqualified column references too.
fn qualifiers_in(e: &Expr) -> (Vec<String>, bool) {
    struct Q(Vec<String>, bool);
    impl ast::Visitor for Q {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            match e {
                Expr::CompoundIdentifier(p) if p.len() >= 2 => {
                    self.0.push(crate::ddl::ident_name(&p[p.len() - 2]))
                }
                Expr::Identifier(_) => self.1 = true,
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let mut q = Q(vec![], false);
    let _ = ast::Visit::visit(e, &mut q);
    (q.0, q.1)
}

fn split_and(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::And,
            right,
        } => {
            split_and(*left, out);
            split_and(*right, out);
        }
        Expr::Nested(inner)
            if matches!(
                *inner,
                Expr::BinaryOp {
                    op: ast::BinaryOperator::And,
                    ..
                }
            ) =>
        {
            split_and(*inner, out)
        }
        other => out.push(other),
    }
}

fn join_and(mut v: Vec<Expr>) -> Option<Expr> {
    let first = if v.is_empty() {
        return None;
    } else {
        v.remove(0)
    };
    Some(v.into_iter().fold(first, |acc, x| Expr::BinaryOp {
        left: Box::new(acc),
        op: ast::BinaryOperator::And,
        right: Box::new(x),
    }))
}

/// An outer column equal to an inner one (`c.oid = a.attcollation`) is replaced by that
/// inner column in the subquery's other conditions: `a.attcollation <> t.typcollation`
/// becomes `c.oid <> t.typcollation` (psql's collation subquery of `\d t`), the same rows
/// (the equality holds for every row that passes), and a condition DataFusion can plan
/// (it decorrelates equalities only).
fn bind_outer_columns(conjuncts: &mut [Expr], own: &[String]) {
    let qual = |e: &Expr| match e {
        Expr::CompoundIdentifier(p) if p.len() >= 2 => {
            Some(crate::ddl::ident_name(&p[p.len() - 2]))
        }
        _ => None,
    };
    let mut bound: Vec<(String, Expr)> = vec![];
    let mut is_binding = vec![false; conjuncts.len()];
    for (i, c) in conjuncts.iter().enumerate() {
        if let Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::Eq,
            right,
        } = c
        {
            for (a, b) in [(left, right), (right, left)] {
                if let (Some(qa), Some(qb)) = (qual(a), qual(b))
                    && !own.contains(&qa)
                    && own.contains(&qb)
                {
                    bound.push((a.to_string().to_lowercase(), (**b).clone()));
                    is_binding[i] = true;
                }
            }
        }
    }
    if bound.is_empty() {
        return;
    }
    struct Sub<'b>(&'b [(String, Expr)]);
    impl VisitorMut for Sub<'_> {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let Expr::CompoundIdentifier(_) = e {
                let key = e.to_string().to_lowercase();
                if let Some((_, with)) = self.0.iter().find(|(k, _)| *k == key) {
                    *e = with.clone();
                }
            }
            ControlFlow::Continue(())
        }
    }
    for (c, binding) in conjuncts.iter_mut().zip(is_binding) {
        if !binding {
            let _ = c.visit(&mut Sub(&bound));
        }
    }
}

/// Breaks at an aggregate call (a function `.0` says is one, without OVER) or a nested
/// subquery (on the safe side, an expression holding one is left alone).
struct HasAgg<'b>(&'b dyn Fn(&str) -> bool);

impl ast::Visitor for HasAgg<'_> {
    type Break = ();
    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = e
            && f.over.is_none()
            && f.name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| (self.0)(&i.value.to_lowercase()))
        {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
    fn pre_visit_query(&mut self, _: &ast::Query) -> ControlFlow<()> {
        ControlFlow::Break(())
    }
}

struct AggregateScalarSubqueries<'a>(&'a dyn Fn(&str) -> bool);

impl VisitorMut for AggregateScalarSubqueries<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let Expr::Subquery(q) = e else {
            return ControlFlow::Continue(());
        };
        if q.with.is_some() && !lift_cte_correlation(q) {
            return ControlFlow::Continue(());
        }
        let first_by = match (&q.limit_clause, &q.order_by) {
            (None, None) => None,
            (
                Some(ast::LimitClause::LimitOffset {
                    limit: Some(limit),
                    offset: None,
                    limit_by,
                }),
                Some(ast::OrderBy {
                    kind: ast::OrderByKind::Expressions(order),
                    interpolate: None,
                }),
            ) if int_literal(limit) == Some(1) && limit_by.is_empty() => Some(order.clone()),
            _ => return ControlFlow::Continue(()),
        };
        let ast::SetExpr::Select(sel) = q.body.as_mut() else {
            return ControlFlow::Continue(());
        };
        let grouped = match &sel.group_by {
            ast::GroupByExpr::Expressions(g, _) => !g.is_empty(),
            ast::GroupByExpr::All(_) => true,
        };
        if grouped || sel.having.is_some() || sel.projection.len() != 1 || sel.from.is_empty() {
            return ControlFlow::Continue(());
        }
        let (expr, alias) = match &sel.projection[0] {
            ast::SelectItem::UnnamedExpr(x) => (x.clone(), None),
            ast::SelectItem::ExprWithAlias { expr, alias } => (expr.clone(), Some(alias.clone())),
            _ => return ControlFlow::Continue(()),
        };
        if ast::Visit::visit(&expr, &mut HasAgg(self.0)).is_break() {
            return ControlFlow::Continue(());
        }
        let own = from_qualifiers(sel);
        let Some(selection) = sel.selection.take() else {
            return ControlFlow::Continue(());
        };
        let mut conjuncts = vec![];
        split_and(selection.clone(), &mut conjuncts);
        let mut inner = vec![];
        let mut outer = vec![];
        let mut correlated = false;
        for c in conjuncts {
            let (quals, unqualified) = qualifiers_in(&c);
            let foreign = quals.iter().filter(|q| !own.contains(q)).count();
            if foreign > 0 {
                correlated = true;
            }
            let nested = ast::Visit::visit(&c, &mut HasAgg(&|_| false)).is_break();
            if !quals.is_empty() && foreign == quals.len() && !unqualified && !nested {
                outer.push(c);
            } else {
                inner.push(c);
            }
        }
        if !correlated {
            sel.selection = Some(selection);
            return ControlFlow::Continue(());
        }
        bind_outer_columns(&mut inner, &own);
        sel.selection = join_and(inner);
        let outer_in_value = qualifiers_in(&expr).0.iter().any(|q| !own.contains(q));
        if outer_in_value {
            *e = outer_value(q, expr, &own);
        } else {
            let mut wrapped = function_call("first_value", vec![expr]);
            if let (Some(order), Expr::Function(f)) = (first_by, &mut wrapped)
                && let ast::FunctionArguments::List(list) = &mut f.args
            {
                list.clauses
                    .push(ast::FunctionArgumentClause::OrderBy(order));
                q.order_by = None;
                q.limit_clause = None;
            }
            sel.projection[0] = match alias {
                Some(alias) => ast::SelectItem::ExprWithAlias {
                    expr: wrapped,
                    alias,
                },
                None => ast::SelectItem::UnnamedExpr(wrapped),
            };
        }
        if let Some(cond) = join_and(outer) {
            let sub = e.clone();
            *e = case_when(cond, sub);
        }
        ControlFlow::Continue(())
    }
}

/// A correlated recursive CTE in a scalar subquery (asyncpg's type introspection: the
/// base type of a domain, `(WITH RECURSIVE typebases(oid, depth) AS (SELECT
/// t2.typbasetype, 0 FROM pg_type t2 WHERE t2.oid = t.oid UNION ALL SELECT ... FROM
/// pg_type t2, typebases tb WHERE ...) SELECT oid FROM typebases ORDER BY depth DESC
/// LIMIT 1)`), which DataFusion cannot decorrelate: each equality between an inner and an
/// outer column in the anchor member moves out of the CTE. The CTE then runs for every
/// anchor row and carries the inner side as an extra column (`__strata_corr_N`, passed on
/// by the recursive member), and the subquery's body keeps the rows whose column equals
/// the outer side: the same rows, now correlated by equality in the body only. True when
/// `q` is left without a correlated CTE (there was none, or every one was lifted); when
/// false, `q` is unchanged.
fn lift_cte_correlation(q: &mut ast::Query) -> bool {
    let mut lifted = q.clone();
    let ok = lift_cte_correlation_in(&mut lifted);
    if ok {
        *q = lifted;
    }
    ok
}

fn lift_cte_correlation_in(q: &mut ast::Query) -> bool {
    let Some(with) = q.with.as_mut() else {
        return true;
    };
    let mut bindings: Vec<(String, Vec<Expr>)> = vec![];
    for cte in with.cte_tables.iter_mut() {
        let name = crate::ddl::ident_name(&cte.alias.name);
        let ast::SetExpr::SetOperation {
            op: ast::SetOperator::Union,
            left,
            right,
            ..
        } = cte.query.body.as_mut()
        else {
            if cte_is_correlated(&cte.query) {
                return false;
            }
            continue;
        };
        let (ast::SetExpr::Select(anchor), ast::SetExpr::Select(step)) =
            (left.as_mut(), right.as_mut())
        else {
            return false;
        };
        let own = from_qualifiers(anchor);
        let mut conjuncts = vec![];
        if let Some(sel) = anchor.selection.take() {
            split_and(sel, &mut conjuncts);
        }
        let (mut keep, mut lifted) = (vec![], vec![]);
        for c in conjuncts {
            let pair = match &c {
                Expr::BinaryOp {
                    left: l,
                    op: ast::BinaryOperator::Eq,
                    right: r,
                } => {
                    let side = |x: &Expr| {
                        let (quals, unqualified) = qualifiers_in(x);
                        let inner = quals.iter().all(|q| own.contains(q));
                        let outer = quals.iter().all(|q| !own.contains(q));
                        (!quals.is_empty() && !unqualified).then_some((inner, outer))
                    };
                    match (side(l), side(r)) {
                        (Some((true, _)), Some((_, true))) => Some(((**l).clone(), (**r).clone())),
                        (Some((_, true)), Some((true, _))) => Some(((**r).clone(), (**l).clone())),
                        _ => None,
                    }
                }
                _ => None,
            };
            match pair {
                Some(p) => lifted.push(p),
                None => keep.push(c),
            }
        }
        anchor.selection = join_and(keep);
        if lifted.is_empty() {
            return !cte_is_correlated(&cte.query);
        }
        // The recursive member names the CTE by its alias (or its name).
        let step_ref = reference_to(step, &name);
        let Some(step_ref) = step_ref else {
            return false;
        };
        let mut outer_sides = vec![];
        for (k, (inner, outer)) in lifted.into_iter().enumerate() {
            let col = ast::Ident::new(format!("__strata_corr_{k}"));
            anchor.projection.push(ast::SelectItem::ExprWithAlias {
                expr: inner,
                alias: col.clone(),
            });
            step.projection.push(ast::SelectItem::ExprWithAlias {
                expr: Expr::CompoundIdentifier(vec![
                    ast::Ident::new(step_ref.clone()),
                    col.clone(),
                ]),
                alias: col.clone(),
            });
            if !cte.alias.columns.is_empty() {
                cte.alias.columns.push(ast::TableAliasColumnDef {
                    name: col,
                    data_type: None,
                });
            }
            outer_sides.push(outer);
        }
        if cte_is_correlated(&cte.query) {
            return false;
        }
        bindings.push((name, outer_sides));
    }
    if bindings.is_empty() {
        return true;
    }
    let ast::SetExpr::Select(body) = q.body.as_mut() else {
        return false;
    };
    let mut conds = vec![];
    if let Some(sel) = body.selection.take() {
        conds.push(sel);
    }
    for (name, outer_sides) in bindings {
        let reference = reference_to(body, &name);
        let Some(reference) = reference else {
            return false;
        };
        for (k, outer) in outer_sides.into_iter().enumerate() {
            conds.push(Expr::BinaryOp {
                left: Box::new(Expr::CompoundIdentifier(vec![
                    ast::Ident::new(reference.clone()),
                    ast::Ident::new(format!("__strata_corr_{k}")),
                ])),
                op: ast::BinaryOperator::Eq,
                right: Box::new(outer),
            });
        }
    }
    body.selection = join_and(conds);
    true
}

/// Whether a CTE's query names a qualifier that none of its selects' FROM items defines
/// (or the CTE's own name, for the recursive member).
fn cte_is_correlated(q: &ast::Query) -> bool {
    let selects: Vec<&ast::Select> = match q.body.as_ref() {
        ast::SetExpr::Select(s) => vec![s],
        ast::SetExpr::SetOperation { left, right, .. } => [left, right]
            .into_iter()
            .filter_map(|x| match x.as_ref() {
                ast::SetExpr::Select(s) => Some(s.as_ref()),
                _ => None,
            })
            .collect(),
        _ => return true,
    };
    selects.iter().any(|sel| {
        let own = from_qualifiers(sel);
        let mut quals = vec![];
        for item in &sel.projection {
            if let ast::SelectItem::UnnamedExpr(x)
            | ast::SelectItem::ExprWithAlias { expr: x, .. } = item
            {
                quals.extend(qualifiers_in(x).0);
            }
        }
        if let Some(w) = &sel.selection {
            quals.extend(qualifiers_in(w).0);
        }
        quals.iter().any(|q| !own.contains(q))
    })
}

/// `CASE WHEN cond THEN value END`.
fn case_when(condition: Expr, result: Expr) -> Expr {
    Expr::Case {
        case_token: ast::helpers::attached_token::AttachedToken::empty(),
        end_token: ast::helpers::attached_token::AttachedToken::empty(),
        operand: None,
        conditions: vec![ast::CaseWhen { condition, result }],
        else_result: None,
    }
}

/// The value of a correlated scalar subquery `q` whose select-list expression `value`
/// names outer columns too (SQLAlchemy's `get_columns`: `(SELECT json_build_object(
/// 'always', a.attidentity = 'a', 'start', s.seqstart, ...) FROM pg_sequence s WHERE
/// ...)`), which DataFusion cannot decorrelate: each inner column of `value` (qualified by
/// one of `own`) becomes its own subquery `(SELECT first_value(col) FROM ... WHERE ...)`,
/// and the whole is `CASE WHEN (SELECT bool_or(true) FROM ... WHERE ...) THEN value END`
/// (NULL when the subquery yields no row, as in PostgreSQL). The same answer whenever it
/// yields at most one row, as for [`AggregateScalarSubqueries`].
fn outer_value(q: &ast::Query, mut value: Expr, own: &[String]) -> Expr {
    let with_projection = |item: Expr| {
        let mut sub = q.clone();
        if let ast::SetExpr::Select(sel) = sub.body.as_mut() {
            sel.projection = vec![ast::SelectItem::UnnamedExpr(item)];
        }
        Expr::Subquery(Box::new(sub))
    };
    struct Inner<'b, F: Fn(Expr) -> Expr>(&'b [String], F);
    impl<F: Fn(Expr) -> Expr> VisitorMut for Inner<'_, F> {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let Expr::CompoundIdentifier(p) = e
                && p.len() >= 2
                && self.0.contains(&crate::ddl::ident_name(&p[p.len() - 2]))
            {
                *e = (self.1)(function_call("first_value", vec![e.clone()]));
            }
            ControlFlow::Continue(())
        }
    }
    let _ = value.visit(&mut Inner(own, &with_projection));
    let found = with_projection(function_call(
        "bool_or",
        vec![Expr::value(Value::Boolean(true))],
    ));
    case_when(found, Expr::Nested(Box::new(value)))
}

// ------------------------------------------------------------ LIKE ... ESCAPE

/// A string literal, or a `||` chain of them (after client-side parameter interpolation).
fn folded_text(e: &Expr) -> Option<String> {
    match e {
        Expr::Nested(inner) => folded_text(inner),
        Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::StringConcat,
            right,
        } => Some(folded_text(left)? + &folded_text(right)?),
        e => literal_text(e).map(str::to_string),
    }
}

/// The pattern `p` (escape character `esc`, `None`: no escape at all) with backslash as
/// its escape character, which is all DataFusion's LIKE knows.
fn backslash_pattern(p: &str, esc: Option<char>) -> String {
    let mut out = String::with_capacity(p.len() + 4);
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if Some(c) == esc {
            out.push('\\');
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    out
}

/// `x [I]LIKE p ESCAPE 'c'` with `c` other than backslash (SQLAlchemy escapes with `/` in
/// its reflection queries and `startswith`/`contains(autoescape=True)`): DataFusion
/// refuses any escape but backslash, so a pattern that is a literal (or literals joined
/// with `||`) is rewritten to backslash escapes. Other patterns are left to fail.
struct LikeEscape;

impl VisitorMut for LikeEscape {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Expr::Like {
            pattern,
            escape_char,
            ..
        }
        | Expr::ILike {
            pattern,
            escape_char,
            ..
        } = e
            && let Some(v) = escape_char
            && let Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) = &v.value
            && s != "\\"
            && s.chars().count() <= 1
            && let Some(p) = folded_text(pattern)
        {
            let esc = s.chars().next();
            **pattern = Expr::value(Value::SingleQuotedString(backslash_pattern(&p, esc)));
            *escape_char = None;
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod like_escape_tests {
    use super::*;

    #[test]
    fn patterns_get_backslash_escapes() {
        assert_eq!(backslash_pattern("pg/_%", Some('/')), "pg\\_%");
        assert_eq!(backslash_pattern("a\\b//c", Some('/')), "a\\\\b\\/c");
        assert_eq!(backslash_pattern("a\\_", None), "a\\\\_");
    }
}

// ------------------------------------------------------------ pg_table_is_visible

/// `pg_table_is_visible(c.oid)` over `pg_class` → `c.relnamespace IN (SELECT oid FROM
/// pg_catalog.pg_namespace WHERE nspname = ANY(current_schemas(true)))`: a relation is
/// visible when its schema is on the search path (or is pg_catalog), so that
/// `timescaledb_information` views are not listed as the user's (SQLAlchemy's
/// `get_view_names`, psql's `\dv`). Relation oids are assigned by the catalog emulation,
/// not known to a scalar function, hence the rewrite; the argument must name a `pg_class`
/// oid column (`oid`, `c.oid`, `pg_catalog.pg_class.oid`).
/// `pg_type_is_visible(t.oid)` over `pg_type` becomes the same test of `t.typnamespace`
/// (information_schema's domains are not visible).
/// Only conditions (WHERE, HAVING, JOIN ... ON) are rewritten: DataFusion plans an `IN
/// (subquery)` there but not in a select list, where the call keeps its answer (true).
struct TableIsVisible;

impl TableIsVisible {
    fn in_conditions(body: &mut ast::SetExpr) {
        match body {
            ast::SetExpr::Select(sel) => {
                let mut v = VisibleCall;
                if let Some(w) = sel.selection.as_mut() {
                    let _ = w.visit(&mut v);
                }
                if let Some(h) = sel.having.as_mut() {
                    let _ = h.visit(&mut v);
                }
                for t in sel.from.iter_mut() {
                    for j in t.joins.iter_mut() {
                        use ast::JoinOperator as J;
                        let c = match &mut j.join_operator {
                            J::Join(c)
                            | J::Inner(c)
                            | J::Left(c)
                            | J::LeftOuter(c)
                            | J::Right(c)
                            | J::RightOuter(c)
                            | J::FullOuter(c) => c,
                            _ => continue,
                        };
                        if let ast::JoinConstraint::On(e) = c {
                            let _ = e.visit(&mut v);
                        }
                    }
                }
            }
            ast::SetExpr::SetOperation { left, right, .. } => {
                Self::in_conditions(left);
                Self::in_conditions(right);
            }
            _ => {}
        }
    }
}

impl VisitorMut for TableIsVisible {
    type Break = ();

    fn post_visit_query(&mut self, q: &mut ast::Query) -> ControlFlow<()> {
        Self::in_conditions(&mut q.body);
        ControlFlow::Continue(())
    }
}

struct VisibleCall;

impl VisitorMut for VisibleCall {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let Expr::Function(f) = e else {
            return ControlFlow::Continue(());
        };
        let namespace_column = match f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(|i| i.value.to_ascii_lowercase())
            .as_deref()
        {
            Some("pg_table_is_visible") => "relnamespace",
            Some("pg_type_is_visible") => "typnamespace",
            _ => return ControlFlow::Continue(()),
        };
        let ast::FunctionArguments::List(l) = &f.args else {
            return ControlFlow::Continue(());
        };
        let [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(arg))] = l.args.as_slice() else {
            return ControlFlow::Continue(());
        };
        let namespace = match arg {
            Expr::Identifier(i) if i.value.eq_ignore_ascii_case("oid") => {
                Expr::Identifier(ast::Ident::new(namespace_column))
            }
            Expr::CompoundIdentifier(parts)
                if parts
                    .last()
                    .is_some_and(|i| i.value.eq_ignore_ascii_case("oid")) =>
            {
                let mut p = parts.clone();
                if let Some(last) = p.last_mut() {
                    *last = ast::Ident::new(namespace_column);
                }
                Expr::CompoundIdentifier(p)
            }
            _ => return ControlFlow::Continue(()),
        };
        let dialect = sqlparser::dialect::PostgreSqlDialect {};
        let Ok(sub) = sqlparser::parser::Parser::new(&dialect)
            .try_with_sql(
                "SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = ANY(current_schemas(true))",
            )
            .and_then(|mut p| p.parse_query())
        else {
            return ControlFlow::Continue(());
        };
        *e = Expr::InSubquery {
            expr: Box::new(namespace),
            subquery: sub,
            negated: false,
        };
        ControlFlow::Continue(())
    }
}

// ------------------------------------------------------------ bigint ranking functions

/// `row_number()`, `rank()`, `dense_rank()` are bigint and `ntile(n)` integer in
/// PostgreSQL; DataFusion's are unsigned 64-bit, which the wire reports as numeric. They
/// are cast (the output name stays the function's).
struct RankingBigint;

impl VisitorMut for RankingBigint {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = e
            && f.over.is_some()
            && f.name.0.len() == 1
            && let Some(data_type) =
                f.name.0[0]
                    .as_ident()
                    .and_then(|i| match i.value.to_ascii_lowercase().as_str() {
                        "row_number" | "rank" | "dense_rank" => Some(ast::DataType::BigInt(None)),
                        "ntile" => Some(ast::DataType::Int(None)),
                        _ => None,
                    })
        {
            *e = Expr::Cast {
                kind: ast::CastKind::DoubleColon,
                expr: Box::new(e.clone()),
                data_type,
                array: false,
                format: None,
            };
        }
        ControlFlow::Continue(())
    }
}
