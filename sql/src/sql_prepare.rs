//! SQL-level `PREPARE name [(type, ...)] AS statement`, `EXECUTE name [(arg, ...)]` and
//! `DEALLOCATE name`, as PostgreSQL has them.
//!
//! A statement prepared by SQL is prepared exactly as a Parse message prepares one
//! ([`crate::Session::prepare`], so it shares the plan cache) and is kept by the session
//! under its name. PostgreSQL has one namespace for both kinds: the wire layer refuses a
//! Parse whose name SQL already uses, and a `PREPARE` whose name a Parse already uses
//! ([`prepare_target`]); `DEALLOCATE` removes either kind.
//!
//! `EXECUTE`'s arguments are expressions. Each is evaluated, then given the parameter's
//! type as PostgreSQL's assignment coercion would: a string (an untyped literal in
//! PostgreSQL) is read as that type's text input, exactly as a parameter bound in text
//! format ([`strata_pgtypes::decode::parse_text_value`]); a fractional number given to an
//! integer parameter is rounded; other values are cast.

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::ScalarValue;
use sqlparser::ast::{self, Statement};
use strata_pgtypes::tz::TimeZoneSetting;

use crate::ddl::ident_name;
use crate::error::{Error, Result, SqlState};
use crate::session::Stmt;

/// The name a `PREPARE` statement would define (folded as PostgreSQL folds it).
pub fn prepare_target(stmt: &Stmt) -> Option<String> {
    match stmt {
        Stmt::Sql(s) => match s.as_ref() {
            Statement::Prepare { name, .. } => Some(ident_name(name)),
            _ => None,
        },
        _ => None,
    }
}

/// PostgreSQL's error for a prepared statement name already in use (42P05).
pub fn duplicate_statement(name: &str) -> Error {
    Error::user(
        SqlState::DuplicatePreparedStatement,
        format!("prepared statement \"{name}\" already exists"),
    )
}

/// PostgreSQL's error for a prepared statement name that is not defined (26000).
pub fn no_such_statement(name: &str) -> Error {
    Error::user(
        SqlState::InvalidSqlStatementName,
        format!("prepared statement \"{name}\" does not exist"),
    )
}

/// The statement name and arguments of PostgreSQL's `EXECUTE name [(arg, ...)]` (None for
/// the other dialects' forms sqlparser also reads: `EXECUTE IMMEDIATE`, `INTO`, `USING`).
pub(crate) fn plain_execute(s: &Statement) -> Option<(&ast::ObjectName, &[ast::Expr])> {
    match s {
        Statement::Execute {
            name: Some(name),
            parameters,
            immediate: false,
            into,
            using,
            output: false,
            default: false,
            ..
        } if into.is_empty() && using.is_empty() => Some((name, parameters)),
        _ => None,
    }
}

/// `EXECUTE`'s arguments may not be parameters themselves (PostgreSQL: 42P02 "there is no
/// parameter $1"): they are evaluated when `EXECUTE` is planned.
pub(crate) fn no_placeholders(args: &[ast::Expr]) -> Result<()> {
    use std::ops::ControlFlow;
    for arg in args {
        let found = ast::visit_expressions(arg, |e| match e {
            ast::Expr::Value(v) => match &v.value {
                ast::Value::Placeholder(p) => ControlFlow::Break(p.clone()),
                _ => ControlFlow::Continue(()),
            },
            _ => ControlFlow::Continue(()),
        });
        if let ControlFlow::Break(p) = found {
            return Err(Error::user(
                SqlState::UndefinedParameter,
                format!("there is no parameter {p}"),
            ));
        }
    }
    Ok(())
}

/// The statement a `PREPARE` may prepare: a query, INSERT, UPDATE or DELETE, as in
/// PostgreSQL (anything else is a syntax error there).
pub(crate) fn preparable(statement: &Statement) -> Result<Stmt> {
    match statement {
        Statement::Query(_)
        | Statement::Insert(_)
        | Statement::Update(_)
        | Statement::Delete(_) => Ok(Stmt::Sql(Box::new(statement.clone()))),
        other => {
            let first = other
                .to_string()
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            Err(Error::user(
                SqlState::SyntaxError,
                format!("syntax error at or near \"{first}\""),
            ))
        }
    }
}

/// The Arrow types of `PREPARE name (type, ...)`'s declared parameter types.
pub(crate) fn declared_types(types: &[ast::DataType]) -> Result<Vec<Option<DataType>>> {
    types
        .iter()
        .map(|t| {
            let arrow = match crate::ddl::column_type(t) {
                Ok(c) => c.arrow_type(),
                // `oid` is not a column type, but catalog queries bind it.
                Err(_) if t.to_string().eq_ignore_ascii_case("oid") => DataType::Int32,
                Err(_) => {
                    return Err(Error::user(
                        SqlState::UndefinedObject,
                        format!("type \"{t}\" does not exist"),
                    ));
                }
            };
            Ok(Some(arrow))
        })
        .collect()
}

/// The SQL type a parameter declared by a Parse message with this type oid is cast to
/// ([`crate::params::declared_casts`]): the scalar types whose text form and Arrow type
/// round-trip exactly. Others (numeric, whose scale is per value in PostgreSQL; arrays;
/// json) are left to inference.
pub fn cast_of_oid(oid: u32) -> Option<ast::DataType> {
    let name = match oid {
        16 => "bool",
        17 => "bytea",
        20 => "int8",
        21 => "int2",
        23 => "int4",
        25 => "text",
        26 => "oid",
        700 => "float4",
        701 => "float8",
        1043 => "varchar",
        1082 => "date",
        1114 => "timestamp",
        1184 => "timestamptz",
        1186 => "interval",
        _ => return None,
    };
    sqlparser::parser::Parser::new(&sqlparser::dialect::PostgreSqlDialect {})
        .try_with_sql(name)
        .and_then(|mut p| p.parse_data_type())
        .ok()
}

/// `EXECUTE`'s argument count must be the statement's parameter count.
pub(crate) fn check_arity(name: &str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        return Ok(());
    }
    Err(Error::user(
        SqlState::SyntaxError,
        format!("wrong number of parameters for prepared statement \"{name}\""),
    )
    .and_detail(format!("Expected {expected} parameters but got {got}.")))
}

/// The value of an evaluated `EXECUTE` argument as the parameter `field`'s type.
pub(crate) fn coerce_arg(
    v: ScalarValue,
    field: &Field,
    tz: TimeZoneSetting,
) -> Result<ScalarValue> {
    let target = field.data_type();
    if v.is_null() {
        return Ok(ScalarValue::try_from(target)?);
    }
    if &v.data_type() == target {
        return Ok(v);
    }
    let text = match &v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s.as_str()),
        _ => None,
    };
    let pg = |e: strata_pgtypes::decode::DecodeError| {
        Error::user(crate::dml::sqlstate_of_code(e.sqlstate), e.message)
    };
    if let Some(s) = text
        && !matches!(target, DataType::List(_))
    {
        let x = strata_pgtypes::decode::parse_text_value(s, field, tz).map_err(pg)?;
        let arr = strata_pgtypes::decode::scalar_to_array(&x, field, tz).map_err(pg)?;
        return Ok(ScalarValue::try_from_array(&arr, 0)?);
    }
    let fractional = matches!(
        v.data_type(),
        DataType::Float16 | DataType::Float32 | DataType::Float64 | DataType::Decimal128(..)
    );
    let v = if fractional && target.is_integer() {
        match v.cast_to(&DataType::Float64)? {
            ScalarValue::Float64(Some(f)) => ScalarValue::Float64(Some(f.round())),
            other => other,
        }
    } else {
        v
    };
    v.cast_to(target).map_err(|_| {
        Error::user(
            SqlState::DatatypeMismatch,
            format!(
                "parameter of type {} cannot be coerced to the expected type {}",
                crate::gapfill::pg_type_name(&v.data_type()),
                crate::gapfill::pg_type_name(target)
            ),
        )
        .and_hint("You will need to rewrite or cast the expression.")
    })
}
