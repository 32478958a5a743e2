//! PostgreSQL's output column names.
//!
//! DataFusion names an unaliased expression by its display (`count(*)`,
//! `avg(cpu.usage)`, `Int64(1)`); PostgreSQL names it by the rule in `FigureColname`:
//! a column reference gives the column name, a function call its function name, a cast
//! the name of what is cast (or the type name for a literal), `CASE` gives `case`, and
//! anything else `?column?`. Clients (and every ORM mapping rows by name) see these.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use sqlparser::ast::{self, Expr, SelectItem, SetExpr};

use crate::ddl::ident_name;

/// The PostgreSQL name of an unaliased select-list expression, or None when PostgreSQL
/// would also take it from elsewhere (handled by the caller).
fn figure_colname(e: &Expr) -> Option<String> {
    Some(match e {
        Expr::Identifier(i) => ident_name(i),
        Expr::CompoundIdentifier(parts) => parts.last().map(ident_name)?,
        Expr::Function(f) => {
            let n = f.name.0.last()?.as_ident().map(ident_name)?;
            match n.as_str() {
                // current_timestamp etc. are parsed as functions; PostgreSQL names them.
                _ => n,
            }
        }
        Expr::Cast {
            expr, data_type, ..
        } => match figure_colname(expr) {
            // A name that comes from a type is weaker than this cast's type (PostgreSQL's
            // FigureColname strength): `'t'::regclass::text` is `text`.
            Some(n) if n != "?column?" && !type_named(expr) => n,
            _ => pg_type_colname(data_type),
        },
        Expr::Nested(inner) => figure_colname(inner)?,
        Expr::CompoundFieldAccess { root, .. } => figure_colname(root)?,
        Expr::Case { .. } => "case".into(),
        Expr::Exists { .. } => "exists".into(),
        Expr::Array(_) => "array".into(),
        Expr::Extract { .. } => "extract".into(),
        Expr::Ceil { .. } => "ceil".into(),
        Expr::Floor { .. } => "floor".into(),
        Expr::Position { .. } => "position".into(),
        Expr::Substring { .. } => "substring".into(),
        Expr::Trim { .. } => "btrim".into(),
        Expr::Overlay { .. } => "overlay".into(),
        Expr::TypedString(ts) => pg_type_colname(&ts.data_type),
        Expr::Interval(_) => "interval".into(),
        Expr::Subquery(q) => subquery_name(q).unwrap_or_else(|| "?column?".into()),
        _ => "?column?".into(),
    })
}

/// Whether the name [`figure_colname`] gives `e` is a type's (a cast of something
/// unnamed, a typed literal).
fn type_named(e: &Expr) -> bool {
    match e {
        Expr::Cast { expr, .. } => {
            type_named(expr) || figure_colname(expr).is_none_or(|n| n == "?column?")
        }
        Expr::TypedString(_) => true,
        Expr::Nested(inner) => type_named(inner),
        _ => false,
    }
}

/// [`figure_colname`] for other modules (None only for expressions it cannot name).
pub fn figure_colname_of(e: &Expr) -> Option<String> {
    figure_colname(e)
}

fn subquery_name(q: &ast::Query) -> Option<String> {
    let SetExpr::Select(s) = q.body.as_ref() else {
        return None;
    };
    match s.projection.first()? {
        SelectItem::UnnamedExpr(e) => figure_colname(e),
        SelectItem::ExprWithAlias { alias, .. } => Some(ident_name(alias)),
        _ => None,
    }
}

fn pg_type_colname(dt: &ast::DataType) -> String {
    use ast::DataType as D;
    match dt {
        D::Int(_) | D::Integer(_) | D::Int4(_) => "int4".into(),
        D::BigInt(_) | D::Int8(_) => "int8".into(),
        D::SmallInt(_) | D::Int2(_) => "int2".into(),
        D::Real | D::Float4 => "float4".into(),
        D::Double(_) | D::DoublePrecision | D::Float8 => "float8".into(),
        D::Boolean | D::Bool => "bool".into(),
        D::Text => "text".into(),
        D::Varchar(_) | D::CharacterVarying(_) => "varchar".into(),
        D::Numeric(_) | D::Decimal(_) => "numeric".into(),
        D::Date => "date".into(),
        D::Timestamp(_, tz) => match tz {
            ast::TimezoneInfo::Tz | ast::TimezoneInfo::WithTimeZone => "timestamptz".into(),
            _ => "timestamp".into(),
        },
        D::Interval { .. } => "interval".into(),
        D::JSON => "json".into(),
        D::JSONB => "jsonb".into(),
        D::Bytea => "bytea".into(),
        D::Char(_) | D::Character(_) => "bpchar".into(),
        D::Array(
            ast::ArrayElemTypeDef::SquareBracket(e, _)
            | ast::ArrayElemTypeDef::AngleBracket(e)
            | ast::ArrayElemTypeDef::Parenthesis(e),
        ) => pg_type_colname(e),
        D::Custom(n, _) => n.to_string().to_lowercase(),
        other => other.to_string().to_lowercase(),
    }
}

/// PostgreSQL's names for the select list of `query`: `Some(name)` for an unaliased
/// expression to rename, `None` to keep DataFusion's. `None` overall when the select list
/// has wildcards or the query is not a plain SELECT.
pub fn pg_names(query: &ast::Query) -> Option<Vec<Option<String>>> {
    let SetExpr::Select(sel) = query.body.as_ref() else {
        return None;
    };
    let mut names = Vec::with_capacity(sel.projection.len());
    for item in &sel.projection {
        match item {
            SelectItem::UnnamedExpr(e) => names.push(match e {
                // Keywords that are function calls in PostgreSQL (see crate::rewrite).
                Expr::Identifier(i) if crate::rewrite::is_niladic_keyword(i) => {
                    Some(i.value.to_lowercase())
                }
                Expr::Identifier(_) | Expr::CompoundIdentifier(_) => None,
                other => figure_colname(other),
            }),
            SelectItem::ExprWithAlias { .. } => names.push(None),
            _ => return None,
        }
    }
    names.iter().any(Option::is_some).then_some(names)
}

/// Renames the fields of `schema` with names from [`pg_names`].
pub fn apply_names(schema: &SchemaRef, names: Option<&[Option<String>]>) -> SchemaRef {
    let schema = &strip_dup_markers(schema);
    let Some(names) = names else {
        return Arc::clone(schema);
    };
    if names.len() != schema.fields().len() {
        return Arc::clone(schema);
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(names)
        .map(|(f, n)| match n {
            Some(n) => f.as_ref().clone().with_name(n),
            None => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Cuts the uniqueness suffix [`crate::rewrite::DUP_MARKER`] off output column names.
fn strip_dup_markers(schema: &SchemaRef) -> SchemaRef {
    let marker = crate::rewrite::DUP_MARKER;
    if !schema.fields().iter().any(|f| f.name().contains(marker)) {
        return Arc::clone(schema);
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.name().split_once(marker) {
            Some((name, _)) => f.as_ref().clone().with_name(name),
            None => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Renames the fields of `schema` (the output of `query`) to PostgreSQL's names.
pub fn pg_output_schema(query: &ast::Query, schema: &SchemaRef) -> SchemaRef {
    apply_names(schema, pg_names(query).as_deref())
}
