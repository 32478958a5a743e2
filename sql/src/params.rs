//! Substituting bound parameter values into a statement that is not planned by DataFusion
//! (DELETE, SET, DDL with `$n`) or not before its values are known (a table function's
//! arguments, see [`table_function_params`]): each `$n` becomes a typed literal.

use datafusion::arrow::datatypes::{DataType, Field, IntervalMonthDayNano, IntervalUnit};
use datafusion::common::ScalarValue;
use sqlparser::ast::{self, Expr, Statement, Value, Visit, VisitMut, Visitor, VisitorMut};
use std::collections::HashMap;
use std::ops::ControlFlow;

use crate::error::{Error, Result, SqlState};

/// The values a substitution puts in place of `$n`.
enum Values<'a> {
    /// Every parameter, `$1` first (a `$n` without a value is an error).
    All(&'a [ScalarValue]),
    /// Some parameters by number; the others stay placeholders.
    Some(&'a HashMap<usize, ScalarValue>),
}

struct Sub<'a> {
    params: Values<'a>,
    err: Option<Error>,
}

impl VisitorMut for Sub<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Expr::Value(v) = e
            && let Value::Placeholder(p) = &v.value
        {
            let Some(n) = param_number(p) else {
                return ControlFlow::Continue(());
            };
            let val = match &self.params {
                Values::All(all) => n.checked_sub(1).and_then(|i| all.get(i)),
                Values::Some(some) => match some.get(&n) {
                    Some(v) => Some(v),
                    None => return ControlFlow::Continue(()),
                },
            };
            let Some(val) = val else {
                self.err = Some(Error::user(
                    SqlState::ProtocolViolation,
                    format!("there is no parameter ${n}"),
                ));
                return ControlFlow::Break(());
            };
            *e = literal(val);
        }
        ControlFlow::Continue(())
    }
}

/// `n` of a placeholder `$n`.
pub fn param_number(placeholder: &str) -> Option<usize> {
    placeholder.strip_prefix('$')?.parse().ok()
}

/// The SQL literal for a parameter value.
pub fn literal(v: &ScalarValue) -> Expr {
    if v.is_null() {
        return Expr::value(Value::Null);
    }
    let s = pg_text(v).unwrap_or_else(|| v.to_string());
    let lit = Expr::value(Value::SingleQuotedString(s.clone()));
    let ty = match v {
        ScalarValue::Boolean(_) => Some(ast::DataType::Boolean),
        ScalarValue::Int8(_)
        | ScalarValue::Int16(_)
        | ScalarValue::Int32(_)
        | ScalarValue::Int64(_)
        | ScalarValue::UInt8(_)
        | ScalarValue::UInt16(_)
        | ScalarValue::UInt32(_)
        | ScalarValue::UInt64(_) => {
            return Expr::value(Value::Number(s, false));
        }
        ScalarValue::Float32(_) | ScalarValue::Float64(_) => Some(ast::DataType::DoublePrecision),
        ScalarValue::Decimal128(..) => Some(ast::DataType::Numeric(ast::ExactNumberInfo::None)),
        ScalarValue::TimestampMicrosecond(_, Some(_))
        | ScalarValue::TimestampNanosecond(_, Some(_))
        | ScalarValue::TimestampMillisecond(_, Some(_))
        | ScalarValue::TimestampSecond(_, Some(_)) => Some(ast::DataType::Timestamp(
            None,
            ast::TimezoneInfo::WithTimeZone,
        )),
        ScalarValue::TimestampMicrosecond(..)
        | ScalarValue::TimestampNanosecond(..)
        | ScalarValue::TimestampMillisecond(..)
        | ScalarValue::TimestampSecond(..) => {
            Some(ast::DataType::Timestamp(None, ast::TimezoneInfo::None))
        }
        ScalarValue::Date32(_) => Some(ast::DataType::Date),
        ScalarValue::IntervalMonthDayNano(_)
        | ScalarValue::IntervalDayTime(_)
        | ScalarValue::IntervalYearMonth(_) => Some(ast::DataType::Interval {
            fields: None,
            precision: None,
        }),
        _ => None,
    };
    match ty {
        Some(data_type) => Expr::Cast {
            kind: ast::CastKind::DoubleColon,
            expr: Box::new(lit),
            data_type,
            array: false,
            format: None,
        },
        None => lit,
    }
}

/// A value's PostgreSQL text form (in UTC), which a cast parses back to the same value
/// (ScalarValue's Display shows a timestamp as its integer and an interval as a struct).
fn pg_text(v: &ScalarValue) -> Option<String> {
    let array = v.to_array().ok()?;
    let field = Field::new("", array.data_type().clone(), true);
    let mut out = vec![];
    strata_pgtypes::encode::encode_text(
        &array,
        &field,
        0,
        &strata_pgtypes::encode::TextOptions::default(),
        &mut out,
    )
    .ok()?;
    String::from_utf8(out).ok()
}

/// Replaces `$n` placeholders in `s` with literals of `params`.
pub fn substitute(s: &Statement, params: &[ScalarValue]) -> Result<Statement> {
    let mut s = s.clone();
    let mut v = Sub {
        params: Values::All(params),
        err: None,
    };
    let _ = VisitMut::visit(&mut s, &mut v);
    match v.err {
        Some(e) => Err(e),
        None => Ok(s),
    }
}

/// Replaces the placeholders `$n` of `s` whose `n` is in `values`; the others stay.
pub fn substitute_some(s: &Statement, values: &HashMap<usize, ScalarValue>) -> Statement {
    let mut s = s.clone();
    let mut v = Sub {
        params: Values::Some(values),
        err: None,
    };
    let _ = VisitMut::visit(&mut s, &mut v);
    s
}

/// `s` with each `$n` that has a declared type (`casts`, `$1`'s first) cast to it, so
/// that the placeholder has the type the client gave wherever it is used: `SELECT $1`
/// declared `int8` returns an `int8`, and `$1 * 2` declared `int4` is `int4`, as in
/// PostgreSQL (DataFusion types an untyped placeholder from the other operand, here a
/// `bigint` literal, or as text). `LIMIT $n`, `OFFSET $n` and table functions' arguments
/// stay as they are (elsewhere the same `$n` is cast). None when nothing changes.
pub fn declared_casts(s: &Statement, casts: &[Option<ast::DataType>]) -> Option<Statement> {
    let types: HashMap<usize, ast::DataType> = casts
        .iter()
        .enumerate()
        .filter_map(|(i, t)| Some((i + 1, t.clone()?)))
        .collect();
    if types.is_empty() {
        return None;
    }
    let kept: Vec<usize> = table_function_params(s)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    struct Wrap<'a> {
        types: &'a HashMap<usize, ast::DataType>,
        kept: Vec<usize>,
        changed: bool,
    }
    impl VisitorMut for Wrap<'_> {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let Expr::Value(v) = e
                && let Some(n) = placeholder_index(&v.value)
                && !self.kept.contains(&n)
                && let Some(t) = self.types.get(&n)
            {
                *e = Expr::Cast {
                    kind: ast::CastKind::Cast,
                    expr: Box::new(e.clone()),
                    data_type: t.clone(),
                    array: false,
                    format: None,
                };
                self.changed = true;
            }
            ControlFlow::Continue(())
        }

        /// DataFusion wants `LIMIT $n` and `OFFSET $n` as they were.
        fn post_visit_query(&mut self, q: &mut ast::Query) -> ControlFlow<()> {
            fn unwrap(e: &mut Expr) {
                if let Expr::Cast { expr, .. } = e
                    && placeholder_number(expr).is_some()
                    && matches!(expr.as_ref(), Expr::Value(_))
                {
                    *e = (**expr).clone();
                }
            }
            if let Some(ast::LimitClause::LimitOffset { limit, offset, .. }) = &mut q.limit_clause {
                limit.iter_mut().for_each(unwrap);
                offset.iter_mut().for_each(|o| unwrap(&mut o.value));
            }
            ControlFlow::Continue(())
        }
    }
    let mut out = s.clone();
    let mut w = Wrap {
        types: &types,
        kept,
        changed: false,
    };
    let _ = VisitMut::visit(&mut out, &mut w);
    w.changed.then_some(out)
}

/// Date/time literals among the arguments of the functions in FROM
/// (`generate_series('2024-01-01 00:00+00'::timestamptz, '2024-01-02', '1 hour')`) read
/// with PostgreSQL's input syntax in the session zone and written back in ISO 8601.
/// DataFusion evaluates a table function's arguments while it plans, with Arrow's casts,
/// before our analyzer could parse them (`pg_semantics::parse_datetime_literal`): Arrow
/// does not read `+00` offsets, `May 15 2024` or a local time in the session zone. A
/// string argument next to a timestamptz literal is read as one too (PostgreSQL resolves
/// it from the function's signature), and `generate_series`' step an interval. Values Arrow's
/// nanosecond timestamps cannot hold are left as written (their error stands).
pub fn table_function_datetimes(s: &mut Statement, zone: strata_pgtypes::tz::TimeZoneSetting) {
    use datafusion::arrow::datatypes::TimeUnit;
    use strata_pgtypes::decode::{ScalarLike, parse_text_value};
    /// The Arrow type of a date/time SQL type PostgreSQL's input syntax reads.
    fn target(t: &ast::DataType) -> Option<DataType> {
        match t {
            ast::DataType::Timestamp(_, tz) => Some(DataType::Timestamp(
                TimeUnit::Microsecond,
                matches!(tz, ast::TimezoneInfo::WithTimeZone | ast::TimezoneInfo::Tz)
                    .then(|| "+00:00".into()),
            )),
            ast::DataType::Date => Some(DataType::Date32),
            _ => None,
        }
    }
    /// `'text'::type`, `CAST('text' AS type)` or `type 'text'`: the text, the type and
    /// its Arrow type.
    fn typed_literal(e: &mut Expr) -> Option<(&mut String, ast::DataType, DataType)> {
        match e {
            Expr::Cast {
                expr,
                data_type,
                format: None,
                ..
            } => {
                let t = target(data_type)?;
                match expr.as_mut() {
                    Expr::Value(v) => match &mut v.value {
                        Value::SingleQuotedString(s) => Some((s, data_type.clone(), t)),
                        _ => None,
                    },
                    _ => None,
                }
            }
            Expr::TypedString(ts) => {
                let t = target(&ts.data_type)?;
                match &mut ts.value.value {
                    Value::SingleQuotedString(s) => Some((s, ts.data_type.clone(), t)),
                    _ => None,
                }
            }
            _ => None,
        }
    }
    fn untyped(e: &mut Expr) -> Option<&mut String> {
        match e {
            Expr::Value(v) => match &mut v.value {
                Value::SingleQuotedString(s) => Some(s),
                _ => None,
            },
            _ => None,
        }
    }
    /// ISO 8601 text of `s` read as `t`, or None if it is not one or out of Arrow's range.
    fn iso(s: &str, t: &DataType, zone: strata_pgtypes::tz::TimeZoneSetting) -> Option<String> {
        let field = Field::new("v", t.clone(), true);
        let us = match parse_text_value(s, &field, zone).ok()? {
            ScalarLike::Date(d) => {
                let d = chrono::NaiveDate::from_num_days_from_ce_opt(d.checked_add(719_163)?)?;
                return (1678..=2261)
                    .contains(&chrono::Datelike::year(&d))
                    .then(|| d.format("%Y-%m-%d").to_string());
            }
            ScalarLike::TimestampMicros(us) | ScalarLike::TimestamptzMicros(us) => us,
            _ => return None,
        };
        let dt = chrono::DateTime::from_timestamp_micros(us)?;
        if !(1678..=2261).contains(&chrono::Datelike::year(&dt)) {
            return None;
        }
        Some(
            match t {
                DataType::Timestamp(_, Some(_)) => dt.format("%Y-%m-%dT%H:%M:%S%.6f+00:00"),
                _ => dt.format("%Y-%m-%dT%H:%M:%S%.6f"),
            }
            .to_string(),
        )
    }
    struct W(strata_pgtypes::tz::TimeZoneSetting);
    impl VisitorMut for W {
        type Break = ();
        fn pre_visit_table_factor(&mut self, t: &mut ast::TableFactor) -> ControlFlow<()> {
            let (name, args) = match t {
                ast::TableFactor::Table {
                    name,
                    args: Some(a),
                    ..
                } => (name, &mut a.args),
                ast::TableFactor::Function { name, args, .. } => (name, args),
                _ => return ControlFlow::Continue(()),
            };
            let series = name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| i.value.eq_ignore_ascii_case("generate_series"));
            let mut exprs: Vec<&mut Expr> = args
                .iter_mut()
                .filter_map(|a| match a {
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => Some(e),
                    _ => None,
                })
                .collect();
            let mut common: Option<(ast::DataType, DataType)> = None;
            for e in exprs.iter_mut() {
                if let Some((text, sql, t)) = typed_literal(e) {
                    if let Some(v) = iso(text, &t, self.0) {
                        *text = v;
                    }
                    common.get_or_insert((sql, t));
                }
            }
            if let Some((sql, t @ DataType::Timestamp(..))) = &common {
                for (i, e) in exprs.iter_mut().enumerate() {
                    if series && i == 2 {
                        // the step of a series of timestamps is an interval
                        if untyped(e).is_some() {
                            let text = std::mem::replace(*e, Expr::Value(Value::Null.into()));
                            **e = Expr::Cast {
                                kind: ast::CastKind::DoubleColon,
                                expr: Box::new(text),
                                data_type: ast::DataType::Interval {
                                    fields: None,
                                    precision: None,
                                },
                                array: false,
                                format: None,
                            };
                        }
                        continue;
                    }
                    if let Some(text) = untyped(e)
                        && let Some(v) = iso(text, t, self.0)
                    {
                        // typed: DataFusion's generate_series takes no text
                        **e = Expr::Cast {
                            kind: ast::CastKind::DoubleColon,
                            expr: Box::new(Expr::Value(Value::SingleQuotedString(v).into())),
                            data_type: sql.clone(),
                            array: false,
                            format: None,
                        };
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = VisitMut::visit(s, &mut W(zone));
}

/// The parameters among the arguments of the functions in FROM (`generate_series(1, $1)`,
/// `generate_series($1::timestamptz, $2, $3::interval)`), each with the type PostgreSQL
/// gives it: its own cast, else the type of the other arguments (an integer literal is
/// `int4`; the step of a series of timestamps or dates is an `interval`), else None.
/// DataFusion evaluates a table function's arguments when it plans the statement, so
/// such a statement cannot be planned before its values are bound.
pub fn table_function_params(s: &Statement) -> Vec<(usize, Option<DataType>)> {
    struct V(Vec<(usize, Option<DataType>)>);
    impl Visitor for V {
        type Break = ();
        fn pre_visit_table_factor(&mut self, t: &ast::TableFactor) -> ControlFlow<()> {
            let (name, args) = match t {
                ast::TableFactor::Table {
                    name,
                    args: Some(a),
                    ..
                } => (name, &a.args),
                ast::TableFactor::Function { name, args, .. } => (name, args),
                _ => return ControlFlow::Continue(()),
            };
            let exprs: Vec<&Expr> = args
                .iter()
                .filter_map(|a| match a {
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e))
                    | ast::FunctionArg::Named {
                        arg: ast::FunctionArgExpr::Expr(e),
                        ..
                    }
                    | ast::FunctionArg::ExprNamed {
                        arg: ast::FunctionArgExpr::Expr(e),
                        ..
                    } => Some(e),
                    _ => None,
                })
                .collect();
            let known = exprs.iter().find_map(|e| argument_type(e));
            let series = name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| i.value.eq_ignore_ascii_case("generate_series"));
            for (i, e) in exprs.iter().enumerate() {
                let mut inner = Placeholders(vec![]);
                let _ = e.visit(&mut inner);
                for (n, operand) in inner.0 {
                    let ty = match (placeholder_number(e), argument_type(e)) {
                        (Some(m), Some(t)) if m == n => Some(t),
                        (Some(m), None) if m == n => match &known {
                            Some(DataType::Timestamp(..) | DataType::Date32)
                                if series && i == 2 =>
                            {
                                Some(DataType::Interval(IntervalUnit::MonthDayNano))
                            }
                            k => k.clone(),
                        },
                        // Nested in arithmetic (`$1 + 1`): the other operand's type.
                        _ => operand,
                    };
                    self.0.push((n, ty));
                }
            }
            ControlFlow::Continue(())
        }
    }
    /// Every parameter of an expression, with the type of the other operand where the
    /// parameter is one side of an arithmetic operator whose other side is numeric and
    /// typed: PostgreSQL resolves `$1 + 1` as `int4 + int4`.
    struct Placeholders(Vec<(usize, Option<DataType>)>);
    impl Visitor for Placeholders {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            match e {
                Expr::Value(v) => {
                    if let Some(n) = placeholder_index(&v.value)
                        && !self.0.iter().any(|(m, _)| *m == n)
                    {
                        self.0.push((n, None));
                    }
                }
                Expr::BinaryOp { left, op, right } if crate::rewrite::is_arithmetic(op) => {
                    for (p, other) in [(left, right), (right, left)] {
                        if let Some(n) = placeholder_number(p)
                            && argument_type(p).is_none()
                            && let Some(t) = argument_type(other).filter(DataType::is_numeric)
                        {
                            self.0.retain(|(m, _)| *m != n);
                            self.0.push((n, Some(t)));
                        }
                    }
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let mut v = V(vec![]);
    let _ = s.visit(&mut v);
    v.0
}

fn placeholder_index(v: &Value) -> Option<usize> {
    match v {
        Value::Placeholder(p) => param_number(p),
        _ => None,
    }
}

/// `n` of `$n` or of `$n::type`.
fn placeholder_number(e: &Expr) -> Option<usize> {
    match e {
        Expr::Value(v) => placeholder_index(&v.value),
        Expr::Cast { expr, .. } | Expr::Nested(expr) => placeholder_number(expr),
        _ => None,
    }
}

/// The type of a table function's argument, as far as the text tells: a cast, a typed
/// string, a number.
fn argument_type(e: &Expr) -> Option<DataType> {
    match e {
        Expr::Cast { data_type, .. } => crate::ddl::column_type(data_type)
            .ok()
            .map(|t| t.arrow_type()),
        Expr::TypedString(t) => crate::ddl::column_type(&t.data_type)
            .ok()
            .map(|t| t.arrow_type()),
        Expr::Nested(e) => argument_type(e),
        Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => argument_type(expr),
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) if n.parse::<i32>().is_ok() => Some(DataType::Int32),
            Value::Number(n, _) if n.parse::<i64>().is_ok() => Some(DataType::Int64),
            Value::Number(..) => Some(strata_storage::ColumnType::DEFAULT_NUMERIC.arrow_type()),
            _ => None,
        },
        _ => None,
    }
}

/// A value of type `t` that stands for a parameter while a statement is described (see
/// [`table_function_params`]): one, zero or a one-day interval.
pub fn sample_value(t: &DataType) -> ScalarValue {
    match t {
        DataType::Interval(_) => {
            ScalarValue::IntervalMonthDayNano(Some(IntervalMonthDayNano::new(0, 1, 0)))
        }
        _ => ScalarValue::new_one(t)
            .or_else(|_| ScalarValue::new_zero(t))
            .or_else(|_| ScalarValue::try_from(t))
            .unwrap_or(ScalarValue::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::PostgreSqlDialect;
    use sqlparser::parser::Parser;

    fn parse(sql: &str) -> Statement {
        Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn table_function_parameter_types() {
        let s = parse("SELECT * FROM generate_series(1, $1)");
        assert_eq!(table_function_params(&s), vec![(1, Some(DataType::Int32))]);
        let s = parse(
            "SELECT * FROM generate_series($1::timestamptz, $2, $3::interval) g WHERE g > $4",
        );
        let p = table_function_params(&s);
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(
            matches!(p[1], (2, Some(DataType::Timestamp(_, Some(_))))),
            "{p:?}"
        );
        let s = parse("SELECT * FROM generate_series($1::date, $2, $3)");
        let p = table_function_params(&s);
        assert_eq!(
            p[2],
            (3, Some(DataType::Interval(IntervalUnit::MonthDayNano)))
        );
        let s = parse("SELECT * FROM generate_series($1, $2)");
        assert_eq!(table_function_params(&s), vec![(1, None), (2, None)]);
        let s = parse("SELECT * FROM t WHERE a = $1");
        assert!(table_function_params(&s).is_empty());
        // Nested in arithmetic: the other operand's type, as PostgreSQL resolves it.
        let s = parse("SELECT * FROM generate_series(1, $1 + 1, 2 * $2)");
        assert_eq!(
            table_function_params(&s),
            vec![(1, Some(DataType::Int32)), (2, Some(DataType::Int32))]
        );
        let s = parse("SELECT * FROM generate_series(1, $1 || 'x')");
        assert_eq!(table_function_params(&s), vec![(1, None)]);
    }

    #[test]
    fn samples_are_typed_literals() {
        let s = parse("SELECT * FROM generate_series($1::timestamptz, $2, $3::interval) WHERE $4");
        let mut values = HashMap::new();
        for (n, t) in table_function_params(&s) {
            values.insert(n, sample_value(&t.unwrap()));
        }
        let out = substitute_some(&s, &values).to_string();
        assert_eq!(
            out,
            "SELECT * FROM generate_series('1970-01-01 00:00:00+00'::TIMESTAMP WITH TIME ZONE::TIMESTAMPTZ, \
             '1970-01-01 00:00:00+00'::TIMESTAMP WITH TIME ZONE, '1 day'::INTERVAL::INTERVAL) WHERE $4"
        );
    }
}
