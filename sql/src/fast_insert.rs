//! The INSERT fast path: `VALUES` rows of literals and `$n` parameters are turned into
//! Arrow arrays directly with PostgreSQL's input syntax, without DataFusion planning.
//!
//! Anything else in a VALUES list (an expression, a function call other than `now()`)
//! makes [`try_build`] return `None`, and the statement takes the planned path.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::ScalarValue;
use sqlparser::ast::{self, Expr, SetExpr, UnaryOperator, Value};
use strata_pgtypes::decode::ColumnBuilder;
use strata_storage::TableDef;

use crate::dml::{complete_batch, sqlstate_of_code};
use crate::error::{Error, Result, SqlState};

/// One VALUES cell as the fast path understands it.
enum Cell<'a> {
    Null,
    /// Text in PostgreSQL input syntax (string literals, booleans).
    Text(std::borrow::Cow<'a, str>),
    /// A numeric literal: assigned with PostgreSQL's numeric → column cast (`1.5` into an
    /// integer column rounds to 2).
    Number(std::borrow::Cow<'a, str>),
    /// `$n` (1-based).
    Param(usize),
    /// `now()` / `CURRENT_TIMESTAMP`.
    Now,
    /// `DEFAULT`.
    Default,
}

fn cell(e: &Expr) -> Option<Cell<'_>> {
    Some(match e {
        Expr::Value(v) => match &v.value {
            Value::Null => Cell::Null,
            Value::Number(n, _) => Cell::Number(n.as_str().into()),
            Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => {
                Cell::Text(s.as_str().into())
            }
            Value::Boolean(b) => Cell::Text(if *b { "t".into() } else { "f".into() }),
            Value::Placeholder(p) => Cell::Param(p.strip_prefix('$')?.parse().ok()?),
            _ => return None,
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match expr.as_ref() {
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => Cell::Number(format!("-{n}").into()),
                _ => return None,
            },
            _ => return None,
        },
        // A cast to `varchar(n)` cuts the value first (`rewrite::CharacterCasts`): planned.
        Expr::Cast { data_type, .. }
            if crate::rewrite::varchar_length(data_type).is_some_and(|l| l.is_some()) =>
        {
            return None;
        }
        // `'...'::timestamptz` and `TIMESTAMP '...'`: the column type decides the parse,
        // which is what PostgreSQL's assignment cast does for these literal forms.
        Expr::Cast { expr, .. } => match cell(expr)? {
            c @ (Cell::Text(_) | Cell::Null | Cell::Param(_)) => c,
            Cell::Number(n) => Cell::Text(n),
            _ => return None,
        },
        Expr::TypedString(ts) => match &ts.value.value {
            Value::SingleQuotedString(s) => Cell::Text(s.as_str().into()),
            _ => return None,
        },
        Expr::Function(f)
            if matches!(
                f.name.to_string().to_lowercase().as_str(),
                "now" | "current_timestamp"
            ) =>
        {
            Cell::Now
        }
        Expr::Identifier(i)
            if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default") =>
        {
            Cell::Default
        }
        Expr::Identifier(i)
            if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("current_timestamp") =>
        {
            Cell::Now
        }
        Expr::Nested(e) => cell(e)?,
        _ => return None,
    })
}

fn values_of(source: &ast::Query) -> Option<&ast::Values> {
    if source.with.is_some() || source.order_by.is_some() || source.limit_clause.is_some() {
        return None;
    }
    match source.body.as_ref() {
        SetExpr::Values(v) => Some(v),
        _ => None,
    }
}

/// Parameter fields for a prepared fast-path INSERT: `$n` takes its column's type (with
/// its PostgreSQL tag, so a jsonb column's parameter is described as jsonb).
/// None if the statement does not take the fast path.
pub fn param_fields(
    def: &TableDef,
    targets: &[usize],
    source: Option<&ast::Query>,
) -> Option<Vec<Field>> {
    let values = values_of(source?)?;
    let mut types: Vec<Option<Field>> = vec![];
    for row in &values.rows {
        for (i, e) in row.content.iter().enumerate() {
            let c = cell(e)?;
            if let Cell::Param(n) = c {
                let col = *targets.get(i)?;
                if types.len() < n {
                    types.resize(n, None);
                }
                types[n - 1] = Some(def.columns[col].arrow_field().with_name(format!("${n}")));
            }
        }
    }
    Some(
        types
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                t.unwrap_or_else(|| Field::new(format!("${}", i + 1), DataType::Utf8, true))
            })
            .collect(),
    )
}

/// Builds the batch for `INSERT INTO def (targets) VALUES ...` if every cell is a literal,
/// a parameter, `now()` or DEFAULT. Returns None otherwise.
pub fn try_build(
    def: &TableDef,
    targets: &[usize],
    source: &ast::Query,
    params: Option<&[ScalarValue]>,
    tz: strata_pgtypes::tz::TimeZoneSetting,
) -> Result<Option<RecordBatch>> {
    let Some(values) = values_of(source) else {
        return Ok(None);
    };
    let mut cells: Vec<Vec<Cell<'_>>> = Vec::with_capacity(values.rows.len());
    for row in &values.rows {
        let row = &row.content;
        if row.len() > targets.len() {
            return Err(Error::user(
                SqlState::SyntaxError,
                "INSERT has more expressions than target columns",
            ));
        }
        if row.len() < targets.len() {
            return Err(Error::user(
                SqlState::SyntaxError,
                "INSERT has more target columns than expressions",
            ));
        }
        let mut r = Vec::with_capacity(row.len());
        for e in row {
            match cell(e) {
                Some(c) => r.push(c),
                None => return Ok(None),
            }
        }
        cells.push(r);
    }
    let schema = def.arrow_schema();
    let rows = cells.len();
    let now = chrono::Utc::now().timestamp_micros();
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(targets.len());
    for (ci, &t) in targets.iter().enumerate() {
        let field = schema.field(t);
        let has_default = cells.iter().any(|r| matches!(r[ci], Cell::Default));
        let has_param_or_now = cells
            .iter()
            .any(|r| matches!(r[ci], Cell::Param(_) | Cell::Now));
        // DEFAULT in some rows: the column's default values, taken row by row.
        let defaults = if has_default {
            Some(Arc::clone(
                complete_batch(def, &schema, &[], vec![], rows, now)?.column(t),
            ))
        } else {
            None
        };
        if !has_param_or_now && !has_default {
            // Numbers into float/text columns parse as text input (same result, faster);
            // into integer/numeric columns they take the numeric assignment cast.
            let numeric_cast = !matches!(
                field.data_type(),
                DataType::Float32 | DataType::Float64 | DataType::Utf8
            );
            let mut b = ColumnBuilder::new(field, rows, tz);
            for r in &cells {
                match &r[ci] {
                    Cell::Null => b.append_null(),
                    Cell::Text(s) => b.append_text(s).map_err(|e| value_error(e, field))?,
                    Cell::Number(s) if numeric_cast => {
                        let v = strata_pgtypes::decode::parse_numeric_literal(s)
                            .map_err(|e| value_error(e, field))?;
                        b.append_scalar_owned(v)
                            .map_err(|e| value_error(e, field))?
                    }
                    Cell::Number(s) => b.append_text(s).map_err(|e| value_error(e, field))?,
                    Cell::Param(_) | Cell::Now | Cell::Default => return Ok(None),
                }
            }
            cols.push(b.finish());
            continue;
        }
        let mut vals = Vec::with_capacity(rows);
        for (ri, r) in cells.iter().enumerate() {
            let v = match &r[ci] {
                Cell::Null => ScalarValue::try_from(field.data_type())?,
                Cell::Text(s) => {
                    let mut b = ColumnBuilder::new(field, 1, tz);
                    b.append_text(s).map_err(|e| value_error(e, field))?;
                    ScalarValue::try_from_array(&b.finish(), 0)?
                }
                Cell::Number(s) => {
                    let v = strata_pgtypes::decode::parse_numeric_literal(s)
                        .map_err(|e| value_error(e, field))?;
                    let a = strata_pgtypes::decode::scalar_to_array(&v, field, tz)
                        .map_err(|e| value_error(e, field))?;
                    ScalarValue::try_from_array(&a, 0)?
                }
                Cell::Default => match &defaults {
                    Some(d) => ScalarValue::try_from_array(d, ri)?,
                    None => ScalarValue::try_from(field.data_type())?,
                },
                Cell::Param(n) => {
                    let p = params.and_then(|p| p.get(n - 1)).ok_or_else(|| {
                        Error::user(
                            SqlState::ProtocolViolation,
                            format!("there is no parameter ${n}"),
                        )
                    })?;
                    scalar_to_field(p, field, tz)?
                }
                Cell::Now => match field.data_type() {
                    DataType::Timestamp(_, tz) => {
                        ScalarValue::TimestampMicrosecond(Some(now), tz.clone())
                    }
                    DataType::Date32 => {
                        ScalarValue::Date32(Some(now.div_euclid(86_400_000_000) as i32))
                    }
                    other => {
                        return Err(Error::user(
                            SqlState::DatatypeMismatch,
                            format!(
                                "column \"{}\" is of type {other} but now() is a timestamp",
                                field.name()
                            ),
                        ));
                    }
                },
            };
            vals.push(v);
        }
        cols.push(ScalarValue::iter_to_array(vals)?);
    }
    Ok(Some(complete_batch(
        def, &schema, targets, cols, rows, now,
    )?))
}

fn value_error(e: strata_pgtypes::decode::DecodeError, _field: &Field) -> Error {
    Error::user(sqlstate_of_code(e.sqlstate), e.message)
}

/// Converts a bound parameter to the column's type.
fn scalar_to_field(
    v: &ScalarValue,
    field: &Field,
    tz: strata_pgtypes::tz::TimeZoneSetting,
) -> Result<ScalarValue> {
    if v.is_null() {
        return Ok(ScalarValue::try_from(field.data_type())?);
    }
    if &v.data_type() == field.data_type() {
        return Ok(v.clone());
    }
    if let ScalarValue::Utf8(Some(s))
    | ScalarValue::LargeUtf8(Some(s))
    | ScalarValue::Utf8View(Some(s)) = v
    {
        let mut b = ColumnBuilder::new(field, 1, tz);
        b.append_text(s).map_err(|e| value_error(e, field))?;
        return Ok(ScalarValue::try_from_array(&b.finish(), 0)?);
    }
    let arr = v.to_array()?;
    let c = crate::dml::convert_column(&arr, field, tz)?;
    Ok(ScalarValue::try_from_array(&c, 0)?)
}

/// Builds the batch of a statement recognised by [`crate::fast_scan`]. None if a cell
/// needs the general path (DEFAULT).
pub fn build_raw(
    def: &TableDef,
    targets: &[usize],
    sql: &str,
    raw: &crate::fast_scan::RawInsert,
    tz: strata_pgtypes::tz::TimeZoneSetting,
) -> Result<Option<RecordBatch>> {
    use crate::fast_scan::RawCell;
    for row in &raw.rows {
        if row.len() > targets.len() {
            return Err(Error::user(
                SqlState::SyntaxError,
                "INSERT has more expressions than target columns",
            ));
        }
        if row.len() < targets.len() {
            return Err(Error::user(
                SqlState::SyntaxError,
                "INSERT has more target columns than expressions",
            ));
        }
        if row.iter().any(|c| matches!(c, RawCell::Default)) {
            return Ok(None);
        }
    }
    let schema = def.arrow_schema();
    let rows = raw.rows.len();
    let now = chrono::Utc::now().timestamp_micros();
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(targets.len());
    let mut unescaped = String::new();
    for (ci, &t) in targets.iter().enumerate() {
        let field = schema.field(t);
        let numeric_cast = !matches!(
            field.data_type(),
            DataType::Float32 | DataType::Float64 | DataType::Utf8
        );
        let mut b = ColumnBuilder::new(field, rows, tz);
        for r in &raw.rows {
            match r[ci] {
                RawCell::Null => b.append_null(),
                RawCell::Text {
                    start,
                    end,
                    escaped,
                } => {
                    let s = &sql[start..end];
                    let s = if escaped {
                        unescaped.clear();
                        unescaped.push_str(&s.replace("''", "'"));
                        unescaped.as_str()
                    } else {
                        s
                    };
                    b.append_text(s).map_err(|e| value_error(e, field))?
                }
                RawCell::Number { start, end } => {
                    let s = &sql[start..end];
                    if numeric_cast {
                        let v = strata_pgtypes::decode::parse_numeric_literal(s)
                            .map_err(|e| value_error(e, field))?;
                        b.append_scalar_owned(v)
                            .map_err(|e| value_error(e, field))?
                    } else {
                        b.append_text(s).map_err(|e| value_error(e, field))?
                    }
                }
                RawCell::Bool(v) => b
                    .append_text(if v { "t" } else { "f" })
                    .map_err(|e| value_error(e, field))?,
                RawCell::Default => return Ok(None),
            }
        }
        cols.push(b.finish());
    }
    Ok(Some(complete_batch(
        def, &schema, targets, cols, rows, now,
    )?))
}
