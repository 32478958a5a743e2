//! Substituting bound parameter values into a statement that is not planned by DataFusion
//! (DELETE, SET, DDL with `$n`): each `$n` becomes a typed literal.

use datafusion::common::ScalarValue;
use sqlparser::ast::{self, Expr, Statement, Value, VisitMut, VisitorMut};
use std::ops::ControlFlow;

use crate::error::{Error, Result, SqlState};

struct Sub<'a> {
    params: &'a [ScalarValue],
    err: Option<Error>,
}

impl VisitorMut for Sub<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Expr::Value(v) = e
            && let Value::Placeholder(p) = &v.value
        {
            let Some(n) = p.strip_prefix('$').and_then(|x| x.parse::<usize>().ok()) else {
                return ControlFlow::Continue(());
            };
            let Some(val) = n.checked_sub(1).and_then(|i| self.params.get(i)) else {
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

/// The SQL literal for a parameter value.
pub fn literal(v: &ScalarValue) -> Expr {
    if v.is_null() {
        return Expr::value(Value::Null);
    }
    let s = v.to_string();
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

/// Replaces `$n` placeholders in `s` with literals of `params`.
pub fn substitute(s: &Statement, params: &[ScalarValue]) -> Result<Statement> {
    let mut s = s.clone();
    let mut v = Sub { params, err: None };
    let _ = s.visit(&mut v);
    match v.err {
        Some(e) => Err(e),
        None => Ok(s),
    }
}
