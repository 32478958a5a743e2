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
        Expr::AtTimeZone { .. } => "timezone".into(),
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
        D::Varchar(_) | D::CharacterVarying(_) | D::CharVarying(_) => "varchar".into(),
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

// ------------------------------------------------------------ client-visible type names

/// Columns of PostgreSQL's catalog tables and views whose type is `name` (Strata keeps them
/// as text): a client reading `attname` or `relname` sees oid 19, as from PostgreSQL.
const NAME_COLUMNS: &[&str] = &[
    "attname",
    "relname",
    "nspname",
    "typname",
    "proname",
    "datname",
    "rolname",
    "usename",
    "conname",
    "collname",
    "extname",
    "amname",
    "lanname",
    "oprname",
    "spcname",
    "tgname",
    "rulename",
    "schemaname",
    "tablename",
    "viewname",
    "matviewname",
    "indexname",
    "tableowner",
    "viewowner",
    "matviewowner",
    "evtname",
    "polname",
    "srvname",
    "pubname",
    "subname",
];

/// Functions (and niladic keywords) returning `name` in PostgreSQL.
const NAME_FUNCTIONS: &[&str] = &[
    "current_database",
    "current_schema",
    "current_user",
    "session_user",
    "user",
    "current_catalog",
    "current_role",
];

/// Does the FROM clause read a `pg_catalog` relation (`pg_class`, `pg_catalog.pg_type`, ...)?
fn reads_pg_catalog(sel: &ast::Select) -> bool {
    fn factor(tf: &ast::TableFactor) -> bool {
        match tf {
            ast::TableFactor::Table { name, .. } => {
                let parts: Vec<String> = name
                    .0
                    .iter()
                    .filter_map(|p| p.as_ident().map(ident_name))
                    .collect();
                match parts.as_slice() {
                    [t] => t.starts_with("pg_"),
                    [.., s, t] => s == "pg_catalog" || (s == "public" && t.starts_with("pg_")),
                    _ => false,
                }
            }
            ast::TableFactor::NestedJoin {
                table_with_joins, ..
            } => joins(table_with_joins),
            _ => false,
        }
    }
    fn joins(t: &ast::TableWithJoins) -> bool {
        factor(&t.relation) || t.joins.iter().any(|j| factor(&j.relation))
    }
    sel.from.iter().any(joins)
}

/// The PostgreSQL type tag of a select-list expression whose type Strata's plan cannot
/// carry (it only has Utf8): casts to `text`/`varchar`/`json`/`jsonb`/`name`, to an unconstrained
/// `numeric` (stored as `Decimal128(38, 10)`, see `strata_pgtypes::encode`), functions returning
/// `name`, and `name` columns of the catalog.
fn type_tag(e: &Expr, catalog: bool) -> Option<&'static str> {
    use ast::DataType as D;
    match e {
        Expr::Nested(inner) => type_tag(inner, catalog),
        Expr::Cast { data_type, .. } => match data_type {
            D::Varchar(_) | D::CharacterVarying(_) | D::CharVarying(_) => Some("varchar"),
            // a char(n) or varchar(n) value cast to text is text: no padding, no length
            D::Text => Some("text"),
            D::JSON => Some("json"),
            D::JSONB => Some("jsonb"),
            // An unconstrained numeric prints without the storage scale's zeros.
            D::Numeric(ast::ExactNumberInfo::None) | D::Decimal(ast::ExactNumberInfo::None) => {
                Some("numeric")
            }
            // A cast to `numeric(p[, s])` keeps its modifier (RowDescription's typmod), as
            // a `numeric(p, s)` column does; `(38, 10)` is how an unconstrained numeric is
            // stored, so that one cast is left untagged and prints all ten places.
            D::Numeric(info) | D::Decimal(info) if constrained_numeric(info) => Some("numeric"),
            D::Custom(n, _) if n.to_string().eq_ignore_ascii_case("name") => Some("name"),
            _ => None,
        },
        Expr::Function(f) => {
            let n = f.name.0.last()?.as_ident().map(ident_name)?;
            NAME_FUNCTIONS.contains(&n.as_str()).then_some("name")
        }
        Expr::Identifier(i) if crate::rewrite::is_niladic_keyword(i) => NAME_FUNCTIONS
            .contains(&ident_name(i).as_str())
            .then_some("name"),
        Expr::Identifier(i) if catalog => NAME_COLUMNS
            .contains(&ident_name(i).as_str())
            .then_some("name"),
        Expr::CompoundIdentifier(parts) if catalog => {
            let last = parts.last().map(ident_name)?;
            NAME_COLUMNS.contains(&last.as_str()).then_some("name")
        }
        _ => None,
    }
}

/// Whether `numeric(p[, s])`'s modifier is one a cast result keeps as a typmod (all but
/// the storage type of an unconstrained numeric, `(38, 10)`).
fn constrained_numeric(info: &ast::ExactNumberInfo) -> bool {
    match info {
        ast::ExactNumberInfo::None => false,
        ast::ExactNumberInfo::Precision(_) => true,
        ast::ExactNumberInfo::PrecisionAndScale(p, s) => (*p, *s) != (38, 10),
    }
}

/// PostgreSQL type tags for the select list of `query` (see [`type_tag`]); None when there
/// is nothing to tag or the select list has wildcards.
pub fn pg_type_tags(query: &ast::Query) -> Option<Vec<Option<&'static str>>> {
    let SetExpr::Select(sel) = query.body.as_ref() else {
        return None;
    };
    let catalog = reads_pg_catalog(sel);
    let mut tags = Vec::with_capacity(sel.projection.len());
    for item in &sel.projection {
        match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                tags.push(type_tag(e, catalog))
            }
            _ => return None,
        }
    }
    tags.iter().any(Option::is_some).then_some(tags)
}

/// Puts the tags of [`pg_type_tags`] on the text fields of `schema`.
pub fn apply_type_tags(schema: &SchemaRef, tags: Option<&[Option<&'static str>]>) -> SchemaRef {
    use datafusion::arrow::datatypes::DataType;
    let Some(tags) = tags else {
        return Arc::clone(schema);
    };
    if tags.len() != schema.fields().len() {
        return Arc::clone(schema);
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(tags)
        .map(|(f, t)| match t {
            Some(t)
                if matches!(
                    (f.data_type(), *t),
                    (DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8, _)
                        | (DataType::Decimal128(..), "numeric")
                ) =>
            {
                let mut md = f.metadata().clone();
                let key = strata_storage::schema::PG_TYPE_METADATA_KEY;
                // A cast to another type drops the length of the value's own type
                // (`code::text` of a char(4) column is not padded to 4).
                if md.get(key).is_some_and(|old| old != t) {
                    md.remove(strata_storage::schema::CHAR_LENGTH_METADATA_KEY);
                    md.remove(strata_pgtypes::oid::CHAR_PAD_METADATA_KEY);
                }
                md.insert(key.to_string(), (*t).to_string());
                f.as_ref().clone().with_metadata(md)
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// The schema a client sees for `query`: PostgreSQL's names and type tags.
pub fn pg_client_schema(query: &ast::Query, schema: &SchemaRef) -> SchemaRef {
    apply_type_tags(
        &pg_output_schema(query, schema),
        pg_type_tags(query).as_deref(),
    )
}
