//! `'name'::regclass` (and `regtype`, `regnamespace`, `regproc`): PostgreSQL looks the
//! name up when the literal is parsed and fails if there is no such object. DataFusion has
//! no such types (datafusion-pg-catalog's type planner maps them to `int4`, so a literal
//! name fails as an invalid integer). Before planning, every cast of a string literal to
//! one of these types is replaced by the object's oid from the emulated `pg_catalog`
//! (the same oids its tables report), or the statement fails with PostgreSQL's error:
//! 42P01 `relation "x" does not exist`, 42704 `type "x" does not exist`, 3F000
//! `schema "x" does not exist`, 42883 `function "x" does not exist`.
//!
//! The value is the oid as an integer: `c.oid = 't'::regclass`, `'t'::regclass::oid` and
//! `format_type('int4'::regtype, NULL)` answer as in PostgreSQL, but a bare
//! `SELECT 't'::regclass` shows the number, where PostgreSQL shows the name.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::prelude::SessionContext;
use datafusion_pg_catalog::pg_catalog::oid_type_planner::PgOidTypePlanner;
use sqlparser::ast::{self, Expr, Value, Visit, VisitMut, Visitor, VisitorMut};

use crate::error::{Error, Result, SqlState};
use crate::session::Settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Class,
    Type,
    Namespace,
    Proc,
}

fn kind_of(dt: &ast::DataType) -> Option<Kind> {
    let s = dt.to_string().to_lowercase();
    let s = s.strip_prefix("pg_catalog.").unwrap_or(&s);
    Some(match s {
        "regclass" => Kind::Class,
        "regtype" => Kind::Type,
        "regnamespace" => Kind::Namespace,
        "regproc" | "regprocedure" => Kind::Proc,
        _ => return None,
    })
}

fn literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

/// Splits a possibly qualified, possibly quoted name (`public."My T"`) into its parts,
/// folding unquoted parts to lower case as PostgreSQL does.
pub(crate) fn name_parts(s: &str) -> Option<Vec<String>> {
    let mut parts = vec![];
    let mut chars = s.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    '"' => break,
                    c => part.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                part.extend(c.to_lowercase());
                chars.next();
            }
            part = part.trim().to_string();
        }
        if part.is_empty() {
            return None;
        }
        parts.push(part);
        match chars.next() {
            None => return Some(parts),
            Some('.') => continue,
            Some(_) => return None,
        }
    }
}

/// PostgreSQL's `pg_type.typname` for a type name as written (`integer` → `int4`,
/// `character varying(10)` → `varchar`, `int[]` → `_int4`).
fn typname(s: &str) -> String {
    let mut t = s.trim().to_lowercase();
    if let Some(p) = t.find('(') {
        let close = t[p..].find(')').map(|c| p + c + 1).unwrap_or(t.len());
        t = format!("{}{}", &t[..p], &t[close..]).trim().to_string();
    }
    let t = t.strip_prefix("pg_catalog.").unwrap_or(&t).to_string();
    let (base, array) = match t.strip_suffix("[]") {
        Some(b) => (b.trim().to_string(), true),
        None => (t, false),
    };
    let base = match base
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .as_str()
    {
        "integer" | "int" => "int4".to_string(),
        "smallint" => "int2".into(),
        "bigint" => "int8".into(),
        "real" => "float4".into(),
        "double precision" | "float" => "float8".into(),
        "boolean" => "bool".into(),
        "character varying" => "varchar".into(),
        "character" | "char" => "bpchar".into(),
        "decimal" => "numeric".into(),
        "timestamp with time zone" => "timestamptz".into(),
        "timestamp without time zone" => "timestamp".into(),
        "time with time zone" => "timetz".into(),
        "time without time zone" => "time".into(),
        "bit varying" => "varbit".into(),
        "\"char\"" => "char".into(),
        other => other.trim_matches('"').to_string(),
    };
    if array { format!("_{base}") } else { base }
}

fn quote_lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

async fn first_oid(ctx: &SessionContext, sql: &str) -> Result<Option<String>> {
    let batches = ctx.sql(sql).await?.collect().await?;
    for b in batches {
        if b.num_rows() > 0 {
            let v = ScalarValue::try_from_array(b.column(0), 0)?;
            if !v.is_null() {
                return Ok(Some(v.to_string()));
            }
        }
    }
    Ok(None)
}

async fn resolve_one(
    ctx: &SessionContext,
    settings: &Settings,
    kind: Kind,
    text: &str,
) -> Result<String> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(text.to_string());
    }
    let not_found =
        |what: &str, code: SqlState| Error::user(code, format!("{what} \"{text}\" does not exist"));
    match kind {
        Kind::Class => {
            let parts = name_parts(text).ok_or_else(|| {
                Error::user(
                    SqlState::InvalidTextRepresentation,
                    format!("invalid name syntax: \"{text}\""),
                )
            })?;
            let (schemas, rel) = match parts.as_slice() {
                [rel] => {
                    let mut path = crate::pg_functions::search_path_schemas(settings);
                    path.retain(|s| s != "pg_catalog");
                    path.insert(0, "pg_catalog".into());
                    (path, rel.clone())
                }
                [schema, rel] => (vec![schema.clone()], rel.clone()),
                [db, schema, rel] if db == crate::engine::DATABASE => {
                    (vec![schema.clone()], rel.clone())
                }
                _ => {
                    return Err(Error::user(
                        SqlState::InvalidTextRepresentation,
                        format!("improper relation name (too many dotted names): {text}"),
                    ));
                }
            };
            let order = schemas
                .iter()
                .enumerate()
                .map(|(i, s)| format!("WHEN {} THEN {i}", quote_lit(s)))
                .collect::<Vec<_>>()
                .join(" ");
            let list = schemas
                .iter()
                .map(|s| quote_lit(s))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n \
                 ON c.relnamespace = n.oid WHERE c.relname = {} AND n.nspname IN ({list}) \
                 ORDER BY CASE n.nspname {order} END LIMIT 1",
                quote_lit(&rel)
            );
            let display = parts.join(".");
            first_oid(ctx, &sql).await?.ok_or_else(|| {
                Error::user(
                    SqlState::UndefinedTable,
                    format!("relation \"{display}\" does not exist"),
                )
            })
        }
        Kind::Type => {
            let sql = format!(
                "SELECT oid FROM pg_catalog.pg_type WHERE typname = {} ORDER BY oid LIMIT 1",
                quote_lit(&typname(text))
            );
            first_oid(ctx, &sql)
                .await?
                .ok_or_else(|| not_found("type", SqlState::UndefinedObject))
        }
        Kind::Namespace => {
            let name = name_parts(text)
                .and_then(|p| p.into_iter().next())
                .unwrap_or_default();
            let sql = format!(
                "SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = {} LIMIT 1",
                quote_lit(&name)
            );
            first_oid(ctx, &sql)
                .await?
                .ok_or_else(|| not_found("schema", SqlState::InvalidSchemaName))
        }
        Kind::Proc => {
            let name = text.split('(').next().unwrap_or(text);
            let name = name_parts(name)
                .and_then(|p| p.last().cloned())
                .unwrap_or_default();
            let sql = format!(
                "SELECT oid FROM pg_catalog.pg_proc WHERE proname = {} ORDER BY oid LIMIT 1",
                quote_lit(&name)
            );
            first_oid(ctx, &sql)
                .await?
                .ok_or_else(|| not_found("function", SqlState::UndefinedFunction))
        }
    }
}

/// The regproc columns of the emulated `pg_type`, which hold the function's name (text)
/// rather than its oid.
fn is_name_regproc_column(e: &Expr) -> bool {
    let name = match e {
        Expr::Identifier(i) => &i.value,
        Expr::CompoundIdentifier(parts) => match parts.last() {
            Some(i) => &i.value,
            None => return false,
        },
        _ => return false,
    };
    matches!(
        name.to_lowercase().as_str(),
        "typinput"
            | "typoutput"
            | "typreceive"
            | "typsend"
            | "typmodin"
            | "typmodout"
            | "typanalyze"
    )
}

/// Function that casts text (or an oid) to `regclass` at run time (`crate::pg_relations`).
pub const REGCLASS_FN: &str = "__strata_regclass";
/// Function that prints a `regclass` as PostgreSQL does: the relation's name.
pub const REGCLASS_NAME_FN: &str = "__strata_regclass_name";

fn is_text_type(dt: &ast::DataType) -> bool {
    matches!(
        dt.to_string()
            .to_lowercase()
            .trim_start_matches("pg_catalog."),
        "text" | "varchar" | "character varying" | "name"
    )
}

fn call(name: &str, arg: Expr) -> Expr {
    crate::rewrite::function_call(name, vec![arg])
}

/// `x::regtype::text` of a non-literal (asyncpg's type introspection names element and
/// base types so): `format_type(x, NULL)`, and `-` for 0 as PostgreSQL prints no type.
fn regtype_text(oid: &Expr) -> Expr {
    let oid = Expr::Nested(Box::new(oid.clone()));
    Expr::Case {
        case_token: ast::helpers::attached_token::AttachedToken::empty(),
        end_token: ast::helpers::attached_token::AttachedToken::empty(),
        operand: None,
        conditions: vec![ast::CaseWhen {
            condition: Expr::BinaryOp {
                left: Box::new(oid.clone()),
                op: ast::BinaryOperator::Eq,
                right: Box::new(Expr::value(Value::Number("0".into(), false))),
            },
            result: Expr::value(Value::SingleQuotedString("-".into())),
        }],
        else_result: Some(Box::new(crate::rewrite::function_call(
            "format_type",
            vec![oid, Expr::value(Value::Null)],
        ))),
    }
}

/// `regclass` values shown as PostgreSQL shows them, the relation's name: in `x::regclass
/// ::text` and as a whole select-list item (`SELECT 't'::regclass`, `SELECT
/// c.oid::regclass`); a non-literal cast to `regclass` (`format('%I.%I', s, t)::regclass`,
/// Metabase) is resolved at run time. Elsewhere (comparisons, `::oid`) a regclass stays
/// its oid.
fn regclass_output(stmt: &mut ast::Statement) {
    let is_regclass = |e: &Expr| matches!(e, Expr::Cast { data_type, .. } if kind_of(data_type) == Some(Kind::Class));
    if let ast::Statement::Query(q) = stmt
        && let ast::SetExpr::Select(sel) = q.body.as_mut()
    {
        for item in sel.projection.iter_mut() {
            if let ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } =
                item
                && is_regclass(e)
            {
                *e = call(REGCLASS_NAME_FN, e.clone());
            }
        }
    }
    struct Out;
    impl VisitorMut for Out {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let Expr::Cast {
                expr, data_type, ..
            } = e
            {
                if is_text_type(data_type)
                    && matches!(expr.as_ref(), Expr::Cast { data_type: d, .. } if kind_of(d) == Some(Kind::Class))
                {
                    *e = call(REGCLASS_NAME_FN, (**expr).clone());
                } else if is_text_type(data_type)
                    && let Expr::Cast {
                        expr: oid,
                        data_type: d,
                        ..
                    } = expr.as_ref()
                    && kind_of(d) == Some(Kind::Type)
                    && literal(oid).is_none()
                {
                    *e = regtype_text(oid);
                } else if kind_of(data_type) == Some(Kind::Class) && literal(expr).is_none() {
                    *e = call(REGCLASS_FN, (**expr).clone());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = stmt.visit(&mut Out);
}

/// Replaces the literal reg-casts of `stmt` by oids (see the module documentation).
pub async fn resolve(
    ctx: &SessionContext,
    settings: &Settings,
    stmt: &mut ast::Statement,
) -> Result<()> {
    regclass_output(stmt);
    struct Collect(Vec<(Kind, String)>);
    impl Visitor for Collect {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::Cast {
                expr, data_type, ..
            } = e
                && let Some(k) = kind_of(data_type)
                && let Some(t) = literal(expr)
            {
                self.0.push((k, t.to_string()));
            }
            ControlFlow::Continue(())
        }
    }
    let mut c = Collect(vec![]);
    let _ = Visit::visit(&*stmt, &mut c);
    if c.0.is_empty() {
        return Ok(());
    }
    let mut oids: HashMap<(Kind, String), String> = HashMap::new();
    for (k, t) in c.0 {
        if !oids.contains_key(&(k, t.clone())) {
            let oid = resolve_one(ctx, settings, k, &t).await?;
            oids.insert((k, t), oid);
        }
    }
    struct Replace(HashMap<(Kind, String), String>);
    impl VisitorMut for Replace {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            // `typinput = 'array_in'::regproc` (pgjdbc): the emulated pg_type keeps its
            // regproc columns as the function's name, so compare with the name.
            if let Expr::BinaryOp { left, op, right } = e
                && matches!(op, ast::BinaryOperator::Eq | ast::BinaryOperator::NotEq)
            {
                let name_of = |col: &Expr, other: &Expr| -> Option<String> {
                    if !is_name_regproc_column(col) {
                        return None;
                    }
                    let Expr::Cast {
                        expr, data_type, ..
                    } = other
                    else {
                        return None;
                    };
                    let t = literal(expr)?;
                    if kind_of(data_type) != Some(Kind::Proc)
                        || t.bytes().all(|b| b.is_ascii_digit())
                    {
                        return None;
                    }
                    let name = t.split('(').next().unwrap_or(t);
                    name_parts(name).and_then(|p| p.last().cloned())
                };
                if let Some(n) = name_of(left, right) {
                    **right = Expr::value(Value::SingleQuotedString(n));
                } else if let Some(n) = name_of(right, left) {
                    **left = Expr::value(Value::SingleQuotedString(n));
                }
            }
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let Expr::Cast {
                expr, data_type, ..
            } = e
                && let Some(k) = kind_of(data_type)
                && let Some(t) = literal(expr)
                && let Some(oid) = self.0.get(&(k, t.to_string()))
            {
                *e = Expr::value(Value::Number(oid.clone(), false));
            }
            ControlFlow::Continue(())
        }
    }
    let _ = stmt.visit(&mut Replace(oids));
    Ok(())
}

/// The SQL type planner: datafusion-pg-catalog's (oid aliases and `pg_catalog.`-qualified
/// builtins as `int4`), except that `oid` (and `pg_catalog.oid`) is an `int4` field tagged
/// `oid`, so `x::oid` and `$1::oid[]` are described to clients as PostgreSQL's `oid` (26)
/// and `oid[]` (1028) — asyncpg decodes its type introspection query only with those.
#[derive(Debug, Default)]
pub struct OidTypePlanner(PgOidTypePlanner);

impl TypePlanner for OidTypePlanner {
    fn plan_type_field(&self, sql_type: &ast::DataType) -> DfResult<Option<FieldRef>> {
        if let ast::DataType::Custom(name, args) = sql_type
            && args.is_empty()
            && let [.., last] = name.0.as_slice()
            && last
                .as_ident()
                .is_some_and(|i| i.value.eq_ignore_ascii_case("oid"))
            && (name.0.len() == 1
                || name.0.len() == 2
                    && name.0[0]
                        .as_ident()
                        .is_some_and(|i| i.value.eq_ignore_ascii_case("pg_catalog")))
        {
            return Ok(Some(Arc::new(oid_field(""))));
        }
        self.0.plan_type_field(sql_type)
    }
}

/// An `int4` field tagged as PostgreSQL's `oid`.
pub fn oid_field(name: &str) -> Field {
    Field::new(name, DataType::Int32, true).with_metadata(HashMap::from([(
        strata_storage::schema::PG_TYPE_METADATA_KEY.to_string(),
        "oid".to_string(),
    )]))
}

/// Makes [`OidTypePlanner`] the type planner of `ctx` (after `setup_pg_catalog`, which
/// installs datafusion-pg-catalog's).
pub fn install_type_planner(ctx: &SessionContext) {
    let state = ctx.state_ref();
    let existing = state.read().clone();
    let new_state =
        datafusion::execution::session_state::SessionStateBuilder::new_from_existing(existing)
            .with_type_planner(Arc::new(OidTypePlanner::default()))
            .build();
    *state.write() = new_state;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_types() {
        assert_eq!(
            name_parts("public.\"My T\""),
            Some(vec!["public".into(), "My T".into()])
        );
        assert_eq!(name_parts("T"), Some(vec!["t".into()]));
        assert_eq!(name_parts("a..b"), None);
        assert_eq!(typname("integer"), "int4");
        assert_eq!(typname("character varying(10)"), "varchar");
        assert_eq!(typname("int[]"), "_int4");
        assert_eq!(typname("timestamp with time zone"), "timestamptz");
    }
}
