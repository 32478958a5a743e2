//! `pg_get_viewdef(oid [, pretty])`: the defining query of a view or continuous aggregate
//! (SQLAlchemy's `get_view_definition`, psql's `\d+ view`), NULL for any other oid.
//!
//! PostgreSQL prints the query it deparses from the stored parse tree (`ruleutils.c`):
//! ` SELECT t.a,\n    t.b AS x\n   FROM t\n  WHERE t.a > 1;`, with every column qualified,
//! constants labelled with the type the parser gave them (`'01:00:00'::interval`,
//! `1::double precision` next to a float column) and, without `pretty`, parentheses
//! around every operator. Strata keeps the text the user wrote after `AS`; [`deparse`]
//! parses it again and prints it the way PostgreSQL does, knowing the column types of
//! the tables it reads. A shape whose PostgreSQL form depends on type resolution this
//! module does not do (see [`Resolver::expr`]) keeps the text as written.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use sqlparser::ast::{
    self, BinaryOperator as Bop, Expr, FunctionArg, FunctionArgExpr, FunctionArguments,
    GroupByExpr, JoinConstraint, JoinOperator, SelectItem, SetExpr, Statement, TableFactor,
    UnaryOperator, Value,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use strata_storage::{CatalogState, ColumnType, Storage};

use crate::ddl::ident_name;
use crate::engine::SCHEMA;
use crate::pg_functions::quote_ident;

/// Registers `pg_get_viewdef`.
pub fn register(ctx: &SessionContext, storage: &Arc<Storage>) {
    let st = Arc::clone(storage);
    ctx.register_udf(crate::pg_functions::array_udf(
        "pg_get_viewdef",
        crate::pg_functions::any_signature(&[1, 2]),
        DataType::Utf8,
        move |a, _| {
            let cat = st.catalog();
            let defs: Vec<(i64, &str, &[String])> = cat
                .views
                .iter()
                .map(|v| (v.name.as_str(), v.sql.as_str(), v.columns.as_slice()))
                .chain(
                    cat.caggs
                        .iter()
                        .map(|v| (v.name.as_str(), v.sql.as_str(), v.columns.as_slice())),
                )
                .map(|(name, sql, cols)| {
                    (
                        i64::from(crate::pg_relations::rel_oid(SCHEMA, name)),
                        sql,
                        cols,
                    )
                })
                .collect();
            let oids = cast(&a[0], &DataType::Int64)?;
            let pretty = match a.get(1) {
                Some(p) => Some(cast(p, &DataType::Boolean)?),
                None => None,
            };
            let out: StringArray = oids
                .as_primitive::<arrow::datatypes::Int64Type>()
                .iter()
                .enumerate()
                .map(|(row, oid)| {
                    let oid = oid?;
                    let pretty = pretty
                        .as_ref()
                        .is_some_and(|p| p.is_valid(row) && p.as_boolean().value(row));
                    let (_, sql, cols) = defs.iter().find(|(o, _, _)| *o == oid)?;
                    Some(definition(sql, cols, &cat, pretty))
                })
                .collect();
            Ok(Arc::new(out) as ArrayRef)
        },
    ));
}

/// What `pg_get_viewdef` answers for a view or continuous aggregate defined by `sql` (with
/// the column list `columns`): the deparsed query, or the text as written for a shape
/// [`deparse`] does not know. Also `pg_matviews.definition`,
/// `information_schema.views.view_definition` and TimescaleDB's `view_definition`, which
/// PostgreSQL and TimescaleDB take from `pg_get_viewdef(oid)`.
pub fn definition(sql: &str, columns: &[String], cat: &CatalogState, pretty: bool) -> String {
    deparse(sql, columns, cat, pretty).unwrap_or_else(|| sql.to_string())
}

/// PostgreSQL's `pg_get_viewdef` text of the view body `sql` (the view's column names
/// `columns` if it was created with a column list), or None for a shape this deparser
/// does not know.
pub fn deparse(sql: &str, columns: &[String], cat: &CatalogState, pretty: bool) -> Option<String> {
    let mut stmts = Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
    if stmts.len() != 1 {
        return None;
    }
    let Statement::Query(q) = stmts.pop()? else {
        return None;
    };
    let mut r = Resolver {
        cat,
        rels: Vec::new(),
    };
    let body = r.query(&q, columns)?;
    let mut p = Printer {
        pretty,
        buf: String::new(),
        indent: 0,
    };
    p.query(&body);
    p.buf.push(';');
    Some(p.buf)
}

// ---------------------------------------------------------------------------------------
// The resolved query: what PostgreSQL's parse tree holds for the shapes handled here.

/// An expression after name and type resolution, in the node kinds `ruleutils.c` prints.
#[derive(Debug, Clone)]
enum Node {
    /// A column, printed qualified (`c.ts`); `name` is the column's own name.
    Var {
        text: String,
        name: String,
    },
    /// A constant, already printed with its type label if PostgreSQL shows one.
    Const(String),
    /// A binary operator (`OpExpr`).
    Op {
        op: String,
        l: Box<Node>,
        r: Box<Node>,
    },
    /// A prefix operator (`- x`).
    Prefix {
        op: String,
        arg: Box<Node>,
    },
    /// `AND`/`OR` with its (flattened) arguments.
    Bool {
        and: bool,
        args: Vec<Node>,
    },
    Not(Box<Node>),
    NullTest {
        arg: Box<Node>,
        not: bool,
    },
    /// A function or aggregate call; `args` empty with `star` for `count(*)`.
    Func {
        name: String,
        args: Vec<Node>,
        star: bool,
        distinct: bool,
    },
    /// A cast, printed `arg::type`.
    Cast {
        arg: Box<Node>,
        ty: String,
    },
}

/// The PostgreSQL type of an expression, as far as this module resolves it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ty {
    Col(ColumnType),
    /// A string literal whose type comes from its context (`unknown`).
    Unknown,
    /// An integer literal (`integer`), which PostgreSQL may cast to the other side's type.
    IntLit,
    /// A literal with a decimal point (`numeric`).
    NumLit,
    /// A type this module does not follow: only allowed where no cast can be needed.
    Other,
}

struct SelectBody {
    distinct: bool,
    /// Select-list items with the output column name PostgreSQL shows (`AS` unless equal
    /// to the column's own name).
    targets: Vec<(Node, String)>,
    from: Vec<FromItem>,
    selection: Option<Node>,
    group_by: Vec<Node>,
    having: Option<Node>,
    order_by: Vec<(Node, String)>,
    offset: Option<Node>,
    limit: Option<Node>,
}

struct FromItem {
    first: String,
    joins: Vec<(&'static str, String, Option<Node>)>,
}

/// A relation of FROM: the name columns are qualified with and its columns.
struct Rel {
    refname: String,
    columns: Vec<(String, ColumnType)>,
}

struct Resolver<'a> {
    cat: &'a CatalogState,
    rels: Vec<Rel>,
}

/// A literal integer of the SQL text (`5`, not `5.0`).
fn int_literal(e: &Expr) -> Option<i64> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => n.parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// A string literal as PostgreSQL prints a constant (`'it''s'`).
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The type name `format_type` prints for a declared SQL type (`numeric(10,2)`,
/// `character varying(20)`), with the column type it is stored as.
fn type_name(dt: &ast::DataType) -> Option<(ColumnType, String)> {
    let ty = crate::ddl::column_type(dt).ok()?;
    let name = match (dt, ty) {
        (
            ast::DataType::Numeric(info) | ast::DataType::Decimal(info),
            ColumnType::Numeric { .. },
        ) => match info {
            ast::ExactNumberInfo::None => "numeric".to_string(),
            ast::ExactNumberInfo::Precision(p) => format!("numeric({p},0)"),
            ast::ExactNumberInfo::PrecisionAndScale(p, s) => format!("numeric({p},{s})"),
        },
        (_, ColumnType::Varchar) => match crate::ddl::declared_length(dt).ok()? {
            Some(n) => format!("character varying({n})"),
            None => "character varying".to_string(),
        },
        (_, t) => t.pg_name().to_string(),
    };
    Some((ty, name))
}

fn is_int(t: ColumnType) -> bool {
    matches!(t, ColumnType::Int2 | ColumnType::Int4 | ColumnType::Int8)
}

impl Resolver<'_> {
    fn query(&mut self, q: &ast::Query, columns: &[String]) -> Option<SelectBody> {
        if q.with.is_some()
            || q.fetch.is_some()
            || !q.locks.is_empty()
            || q.for_clause.is_some()
            || q.settings.is_some()
            || q.format_clause.is_some()
            || !q.pipe_operators.is_empty()
        {
            return None;
        }
        let SetExpr::Select(s) = q.body.as_ref() else {
            return None;
        };
        if s.top.is_some()
            || s.select_modifiers.is_some()
            || s.exclude.is_some()
            || s.into.is_some()
            || !s.lateral_views.is_empty()
            || s.prewhere.is_some()
            || !s.connect_by.is_empty()
            || !s.cluster_by.is_empty()
            || !s.distribute_by.is_empty()
            || !s.sort_by.is_empty()
            || !s.named_window.is_empty()
            || s.qualify.is_some()
            || s.value_table_mode.is_some()
        {
            return None;
        }
        let distinct = match &s.distinct {
            None => false,
            Some(ast::Distinct::Distinct) => true,
            Some(_) => return None,
        };
        // FROM first: it defines the names the rest refers to.
        let mut from = Vec::new();
        for twj in &s.from {
            let first = self.relation(&twj.relation)?;
            let mut joins = Vec::new();
            for j in &twj.joins {
                let (kw, c) = match &j.join_operator {
                    JoinOperator::Join(c) | JoinOperator::Inner(c) => ("JOIN", c),
                    JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => ("LEFT JOIN", c),
                    JoinOperator::Right(c) | JoinOperator::RightOuter(c) => ("RIGHT JOIN", c),
                    JoinOperator::FullOuter(c) => ("FULL JOIN", c),
                    JoinOperator::CrossJoin(c) => ("CROSS JOIN", c),
                    _ => return None,
                };
                let rel = self.relation(&j.relation)?;
                let on = match c {
                    JoinConstraint::On(e) if kw != "CROSS JOIN" => Some(self.boolean(e)?),
                    JoinConstraint::None if kw == "CROSS JOIN" => None,
                    _ => return None,
                };
                joins.push((kw, rel, on));
            }
            from.push(FromItem { first, joins });
        }
        // The select list, `*` expanded to the columns it stands for.
        let mut items: Vec<(Node, Ty, Option<String>, String)> = Vec::new();
        for item in &s.projection {
            match item {
                SelectItem::UnnamedExpr(e) => {
                    let (n, t) = self.expr(e)?;
                    let own = match &n {
                        Node::Var { name, .. } => name.clone(),
                        _ => crate::names::figure_colname_of(e)?,
                    };
                    items.push((n, t, None, own));
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    let (n, t) = self.expr(expr)?;
                    items.push((n, t, Some(ident_name(alias)), String::new()));
                }
                SelectItem::Wildcard(o) if *o == Default::default() => {
                    for rel in &self.rels {
                        for (c, t) in &rel.columns {
                            items.push((var(&rel.refname, c), Ty::Col(*t), None, c.clone()));
                        }
                    }
                }
                SelectItem::QualifiedWildcard(
                    ast::SelectItemQualifiedWildcardKind::ObjectName(n),
                    o,
                ) if *o == Default::default() && n.0.len() == 1 => {
                    let name = ident_name(n.0[0].as_ident()?);
                    let rel = self.rels.iter().find(|r| r.refname == name)?;
                    for (c, t) in &rel.columns {
                        items.push((var(&rel.refname, c), Ty::Col(*t), None, c.clone()));
                    }
                }
                _ => return None,
            }
        }
        if columns.len() > items.len() {
            return None;
        }
        if items.is_empty() {
            return None;
        }
        let mut targets = Vec::new();
        for (i, (n, t, alias, own)) in items.into_iter().enumerate() {
            let colname = columns
                .get(i)
                .cloned()
                .or(alias)
                .unwrap_or_else(|| own.clone());
            // `?column?` is shown for anything but a column, whose own name is its name.
            let shown = match &n {
                Node::Var { name, .. } => name.clone(),
                _ => "?column?".to_string(),
            };
            let as_name = if shown == colname {
                String::new()
            } else {
                colname
            };
            // A string literal alone is resolved to text.
            let n = match (n, t) {
                (Node::Const(s), Ty::Unknown) => typed_const(&s, ColumnType::Text, "text")?,
                (n, _) => n,
            };
            targets.push((n, as_name));
        }
        let selection = match &s.selection {
            Some(e) => Some(self.boolean(e)?),
            None => None,
        };
        let group_by = match &s.group_by {
            GroupByExpr::Expressions(exprs, mods) if mods.is_empty() => exprs
                .iter()
                .map(|e| self.sort_group_item(e, &targets, &s.projection))
                .collect::<Option<Vec<_>>>()?,
            _ => return None,
        };
        let having = match &s.having {
            Some(e) => Some(self.boolean(e)?),
            None => None,
        };
        let mut order_by = Vec::new();
        if let Some(ob) = &q.order_by {
            if ob.interpolate.is_some() {
                return None;
            }
            let ast::OrderByKind::Expressions(exprs) = &ob.kind else {
                return None;
            };
            for o in exprs {
                if o.with_fill.is_some() {
                    return None;
                }
                let n = self.sort_group_item(&o.expr, &targets, &s.projection)?;
                let desc = o.options.asc == Some(false);
                let suffix = match (desc, o.options.nulls_first) {
                    (false, Some(true)) => " NULLS FIRST",
                    (true, Some(false)) => " DESC NULLS LAST",
                    (true, _) => " DESC",
                    (false, _) => "",
                };
                order_by.push((n, suffix.to_string()));
            }
        }
        let (mut offset, mut limit) = (None, None);
        match &q.limit_clause {
            None => {}
            Some(ast::LimitClause::LimitOffset {
                limit: l,
                offset: o,
                limit_by,
            }) if limit_by.is_empty() => {
                let count = |e: &Expr| int_literal(e).map(|v| Node::Const(v.to_string()));
                if let Some(l) = l {
                    limit = Some(count(l)?);
                }
                if let Some(o) = o {
                    offset = Some(count(&o.value)?);
                }
            }
            Some(_) => return None,
        }
        Some(SelectBody {
            distinct,
            targets,
            from,
            selection,
            group_by,
            having,
            order_by,
            offset,
            limit,
        })
    }

    /// A table of FROM (`cpu`, `cpu c`), printed as PostgreSQL does; its columns become
    /// visible to the rest of the query.
    fn relation(&mut self, f: &TableFactor) -> Option<String> {
        let TableFactor::Table {
            name,
            alias,
            args: None,
            with_hints,
            version: None,
            with_ordinality: false,
            partitions,
            json_path: None,
            sample: None,
            index_hints,
        } = f
        else {
            return None;
        };
        if !with_hints.is_empty() || !partitions.is_empty() || !index_hints.is_empty() {
            return None;
        }
        let table = crate::ddl::object_name(name).ok()?;
        let def = self.cat.tables.iter().find(|t| t.name == table)?;
        let columns = def.columns.iter().map(|c| (c.name.clone(), c.ty)).collect();
        let mut text = quote_ident(&table);
        let refname = match alias {
            Some(a) if a.columns.is_empty() => {
                let n = ident_name(&a.name);
                text.push(' ');
                text.push_str(&quote_ident(&n));
                n
            }
            Some(_) => return None,
            None => table,
        };
        if self.rels.iter().any(|r| r.refname == refname) {
            return None;
        }
        self.rels.push(Rel { refname, columns });
        Some(text)
    }

    /// A GROUP BY or ORDER BY item: a select-list position or output name stands for that
    /// item's expression.
    fn sort_group_item(
        &mut self,
        e: &Expr,
        targets: &[(Node, String)],
        projection: &[SelectItem],
    ) -> Option<Node> {
        if let Some(pos) = int_literal(e) {
            let i = usize::try_from(pos).ok()?.checked_sub(1)?;
            return targets.get(i).map(|(n, _)| n.clone());
        }
        if let Expr::Identifier(id) = e {
            let name = ident_name(id);
            let is_column = self
                .rels
                .iter()
                .any(|r| r.columns.iter().any(|(c, _)| *c == name));
            let alias = projection.iter().position(|p| {
                matches!(p, SelectItem::ExprWithAlias { alias, .. } if ident_name(alias) == name)
            });
            // PostgreSQL takes an input column first for GROUP BY, an output name first
            // for ORDER BY: a name that is both is left as written.
            match (is_column, alias) {
                (false, Some(i)) => return targets.get(i).map(|(n, _)| n.clone()),
                (true, Some(i)) if !matches!(&targets.get(i)?.0, Node::Var { name: n, .. } if *n == name) =>
                {
                    return None;
                }
                _ => {}
            }
        }
        self.expr(e).map(|(n, _)| n)
    }

    /// A condition (WHERE, HAVING, ON): must be boolean.
    fn boolean(&self, e: &Expr) -> Option<Node> {
        match self.expr(e)? {
            (n, Ty::Col(ColumnType::Bool)) => Some(n),
            _ => None,
        }
    }

    fn column(&self, qualifier: Option<&str>, name: &str) -> Option<(Node, Ty)> {
        let mut found = self.rels.iter().filter_map(|r| {
            if qualifier.is_some_and(|q| q != r.refname) {
                return None;
            }
            let (c, t) = r.columns.iter().find(|(c, _)| c == name)?;
            Some((var(&r.refname, c), Ty::Col(*t)))
        });
        let first = found.next()?;
        // An ambiguous name is an error in PostgreSQL; leave it to the planner.
        if found.next().is_some() {
            return None;
        }
        Some(first)
    }

    /// Resolves an expression. Handled: columns; integer, decimal, string and interval
    /// literals; casts; comparison and arithmetic operators whose operands need no cast
    /// or only the casts of [`Resolver::operands`]; AND/OR/NOT, IS [NOT] NULL; count, sum,
    /// avg, min, max, time_bucket, date_trunc and other functions of non-literal
    /// arguments. Anything else is None.
    fn expr(&self, e: &Expr) -> Option<(Node, Ty)> {
        Some(match e {
            Expr::Identifier(id) => self.column(None, &ident_name(id))?,
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [t, c] => self.column(Some(&ident_name(t)), &ident_name(c))?,
                _ => return None,
            },
            Expr::Nested(inner) => self.expr(inner)?,
            Expr::Value(v) => match &v.value {
                Value::Number(n, false) => {
                    if let Ok(i) = n.parse::<i32>() {
                        (Node::Const(i.to_string()), Ty::IntLit)
                    } else if n.contains('.') && !n.contains(['e', 'E']) {
                        (Node::Const(n.clone()), Ty::NumLit)
                    } else {
                        return None;
                    }
                }
                Value::SingleQuotedString(s) => (Node::Const(s.clone()), Ty::Unknown),
                Value::Boolean(b) => (Node::Const(b.to_string()), Ty::Col(ColumnType::Bool)),
                _ => return None,
            },
            Expr::Interval(iv) => {
                if iv.leading_field.is_some()
                    || iv.last_field.is_some()
                    || iv.leading_precision.is_some()
                    || iv.fractional_seconds_precision.is_some()
                {
                    return None;
                }
                let s = crate::ddl::literal_string(&iv.value)?;
                (interval_const(&s)?, Ty::Col(ColumnType::Interval))
            }
            Expr::TypedString(ts) => {
                let Value::SingleQuotedString(s) = &ts.value.value else {
                    return None;
                };
                let (ty, name) = type_name(&ts.data_type)?;
                (typed_const(s, ty, &name)?, Ty::Col(ty))
            }
            Expr::Cast {
                kind: ast::CastKind::Cast | ast::CastKind::DoubleColon,
                expr,
                data_type,
                array: false,
                format: None,
            } => {
                let (ty, name) = type_name(data_type)?;
                let (n, from) = self.expr(expr)?;
                match from {
                    Ty::Unknown => {
                        let Node::Const(s) = n else { return None };
                        (typed_const(&s, ty, &name)?, Ty::Col(ty))
                    }
                    Ty::IntLit if ty == ColumnType::Int4 => (n, Ty::Col(ty)),
                    // A cast to the type something already has is no cast (but a
                    // modifier such as varchar(10) or numeric(10,2) is).
                    Ty::Col(t) if t == ty && name == ty.pg_name() && t != ColumnType::Varchar => {
                        (n, from)
                    }
                    _ => (
                        Node::Cast {
                            arg: Box::new(n),
                            ty: name,
                        },
                        Ty::Col(ty),
                    ),
                }
            }
            Expr::IsNull(inner) | Expr::IsNotNull(inner) => {
                let (n, t) = self.expr(inner)?;
                if t == Ty::Unknown {
                    return None;
                }
                (
                    Node::NullTest {
                        arg: Box::new(n),
                        not: matches!(e, Expr::IsNotNull(_)),
                    },
                    Ty::Col(ColumnType::Bool),
                )
            }
            Expr::UnaryOp { op, expr } => match op {
                UnaryOperator::Not => (
                    Node::Not(Box::new(self.boolean(expr)?)),
                    Ty::Col(ColumnType::Bool),
                ),
                UnaryOperator::Minus => match self.expr(expr)? {
                    // The parser folds the sign into the constant, which is then shown
                    // quoted with its type.
                    (Node::Const(c), Ty::IntLit) => (
                        Node::Const(format!("'-{c}'::integer")),
                        Ty::Col(ColumnType::Int4),
                    ),
                    (Node::Const(c), Ty::NumLit) => (
                        Node::Const(format!("'-{c}'::numeric")),
                        Ty::Col(ColumnType::DEFAULT_NUMERIC),
                    ),
                    (n, Ty::Col(t)) if t != ColumnType::Varchar && t != ColumnType::Text => (
                        Node::Prefix {
                            op: "-".into(),
                            arg: Box::new(n),
                        },
                        Ty::Col(t),
                    ),
                    _ => return None,
                },
                _ => return None,
            },
            Expr::BinaryOp { left, op, right } => match op {
                Bop::And | Bop::Or => {
                    let and = matches!(op, Bop::And);
                    // The parser appends to a left-hand AND (OR) of the same kind, even one
                    // written in parentheses.
                    let mut args = match self.boolean(left)? {
                        Node::Bool { and: a, args } if a == and => args,
                        n => vec![n],
                    };
                    args.push(self.boolean(right)?);
                    (Node::Bool { and, args }, Ty::Col(ColumnType::Bool))
                }
                Bop::Eq | Bop::NotEq | Bop::Lt | Bop::LtEq | Bop::Gt | Bop::GtEq => {
                    let (l, r, _) = self.operands(left, right, true)?;
                    (op_node(op, l, r), Ty::Col(ColumnType::Bool))
                }
                Bop::Plus | Bop::Minus | Bop::Multiply | Bop::Divide | Bop::Modulo => {
                    let (l, r, t) = self.operands(left, right, false)?;
                    let t = arithmetic_type(op, t)?;
                    (op_node(op, l, r), Ty::Col(t))
                }
                _ => return None,
            },
            Expr::Function(f) => self.function(f)?,
            _ => return None,
        })
    }

    /// The two operands of a comparison or arithmetic operator with the casts PostgreSQL's
    /// operator resolution adds, and the operand types it then works on (left, right).
    /// Handled: equal types; integer types mixed; an integer or decimal literal next to a
    /// float or numeric column; a string literal next to a column (of a type whose
    /// constants print as written); `varchar`, which compares as `text`; timestamps with
    /// intervals.
    #[allow(clippy::type_complexity)]
    fn operands(
        &self,
        left: &Expr,
        right: &Expr,
        comparison: bool,
    ) -> Option<(Node, Node, (ColumnType, ColumnType))> {
        let (mut l, lt) = self.expr(left)?;
        let (mut r, rt) = self.expr(right)?;
        let cast = |n: Node, ty: ColumnType| Node::Cast {
            arg: Box::new(n),
            ty: ty.pg_name().to_string(),
        };
        // A literal takes the type of the other side (a string literal is read as that
        // type, a number is cast to it).
        let lit = |n: Node, t: Ty, other: ColumnType| -> Option<(Node, ColumnType)> {
            match (t, other) {
                (Ty::Unknown, _) => {
                    let Node::Const(s) = n else { return None };
                    let other = if other == ColumnType::Varchar {
                        ColumnType::Text
                    } else {
                        other
                    };
                    Some((typed_const(&s, other, other.pg_name())?, other))
                }
                (Ty::IntLit, t) if is_int(t) => Some((n, ColumnType::Int4)),
                (Ty::IntLit | Ty::NumLit, ColumnType::Float8 | ColumnType::Numeric { .. }) => {
                    Some((cast(n, other), other))
                }
                (Ty::NumLit, _) => None,
                (Ty::Col(t), _) => Some((n, t)),
                _ => None,
            }
        };
        let (lt, rt) = match (lt, rt) {
            (Ty::Col(a), Ty::Col(b)) => (a, b),
            (Ty::Col(a), t) => {
                let (n, b) = lit(r, t, a)?;
                r = n;
                (a, b)
            }
            (t, Ty::Col(b)) => {
                let (n, a) = lit(l, t, b)?;
                l = n;
                (a, b)
            }
            (Ty::IntLit, Ty::IntLit) => (ColumnType::Int4, ColumnType::Int4),
            _ => return None,
        };
        // `varchar` has no operators of its own: it is relabelled `text`.
        let (lt, rt) = match (lt, rt) {
            (ColumnType::Varchar, ColumnType::Varchar | ColumnType::Text)
            | (ColumnType::Text, ColumnType::Varchar) => {
                if lt == ColumnType::Varchar {
                    l = cast(l, ColumnType::Text);
                }
                if rt == ColumnType::Varchar {
                    r = cast(r, ColumnType::Text);
                }
                (ColumnType::Text, ColumnType::Text)
            }
            p => p,
        };
        let ok = lt == rt
            || (is_int(lt) && is_int(rt))
            || (!comparison
                && matches!(
                    (lt, rt),
                    (
                        ColumnType::Timestamptz | ColumnType::Timestamp | ColumnType::Date,
                        ColumnType::Interval
                    )
                ));
        ok.then_some((l, r, (lt, rt)))
    }

    fn function(&self, f: &ast::Function) -> Option<(Node, Ty)> {
        if f.uses_odbc_syntax
            || f.filter.is_some()
            || f.null_treatment.is_some()
            || f.over.is_some()
            || !f.within_group.is_empty()
            || !matches!(f.parameters, FunctionArguments::None)
            || f.name.0.len() != 1
        {
            return None;
        }
        let name = ident_name(f.name.0[0].as_ident()?);
        let FunctionArguments::List(list) = &f.args else {
            return None;
        };
        if !list.clauses.is_empty() {
            return None;
        }
        let distinct = match list.duplicate_treatment {
            None | Some(ast::DuplicateTreatment::All) => false,
            Some(ast::DuplicateTreatment::Distinct) => true,
        };
        let mut args = Vec::new();
        let mut star = false;
        for a in &list.args {
            match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => args.push((e, self.expr(e)?)),
                FunctionArg::Unnamed(FunctionArgExpr::Wildcard) if name == "count" => star = true,
                _ => return None,
            }
        }
        let col = |i: usize| match args.get(i) {
            Some((_, (_, Ty::Col(t)))) => Some(*t),
            _ => None,
        };
        let ty = match (name.as_str(), args.len()) {
            ("count", _) => ColumnType::Int8,
            ("min" | "max", 1) => col(0)?,
            ("sum", 1) => match col(0)? {
                ColumnType::Int2 | ColumnType::Int4 => ColumnType::Int8,
                ColumnType::Int8 => ColumnType::DEFAULT_NUMERIC,
                t @ (ColumnType::Float4
                | ColumnType::Float8
                | ColumnType::Numeric { .. }
                | ColumnType::Interval) => t,
                _ => return None,
            },
            ("avg", 1) => match col(0)? {
                t if is_int(t) => ColumnType::DEFAULT_NUMERIC,
                ColumnType::Float4 | ColumnType::Float8 => ColumnType::Float8,
                t @ (ColumnType::Numeric { .. } | ColumnType::Interval) => t,
                _ => return None,
            },
            // The bucket width / field is a string literal read as interval / text.
            ("time_bucket" | "date_trunc", 2) => {
                let t = col(1)?;
                if !matches!(t, ColumnType::Timestamptz | ColumnType::Timestamp) {
                    return None;
                }
                let want = if name == "date_trunc" {
                    ColumnType::Text
                } else {
                    ColumnType::Interval
                };
                let first = match &args[0].1 {
                    (Node::Const(s), Ty::Unknown) => typed_const(s, want, want.pg_name())?,
                    (n, Ty::Col(c)) if *c == want => n.clone(),
                    _ => return None,
                };
                let second = args[1].1.0.clone();
                return Some((
                    Node::Func {
                        name,
                        args: vec![first, second],
                        star,
                        distinct,
                    },
                    Ty::Col(t),
                ));
            }
            // SQL-syntax functions PostgreSQL prints in capitals with unified types.
            ("coalesce" | "nullif" | "greatest" | "least", _) => return None,
            // Any other function of columns or expressions (no literal whose type would
            // come from the function's signature, no `varchar` that would be relabelled).
            _ => {
                if args.iter().any(|(_, (_, t))| {
                    !matches!(t, Ty::Col(c) if *c != ColumnType::Varchar) && *t != Ty::Other
                }) {
                    return None;
                }
                return Some((
                    Node::Func {
                        name,
                        args: args.into_iter().map(|(_, (n, _))| n).collect(),
                        star,
                        distinct,
                    },
                    Ty::Other,
                ));
            }
        };
        if args.iter().any(|(_, (_, t))| !matches!(t, Ty::Col(_))) {
            return None;
        }
        Some((
            Node::Func {
                name,
                args: args.into_iter().map(|(_, (n, _))| n).collect(),
                star,
                distinct,
            },
            Ty::Col(ty),
        ))
    }
}

fn var(rel: &str, col: &str) -> Node {
    Node::Var {
        text: format!("{}.{}", quote_ident(rel), quote_ident(col)),
        name: col.to_string(),
    }
}

fn op_node(op: &Bop, l: Node, r: Node) -> Node {
    Node::Op {
        op: op.to_string(),
        l: Box::new(l),
        r: Box::new(r),
    }
}

/// The result type of an arithmetic operator on operands of these types.
fn arithmetic_type(op: &Bop, (l, r): (ColumnType, ColumnType)) -> Option<ColumnType> {
    use ColumnType::*;
    Some(match (l, r) {
        (Int8, t) | (t, Int8) if is_int(t) => {
            // `int8 % int4` has no operator: PostgreSQL casts the int4 side.
            if matches!(op, Bop::Modulo) && l != r {
                return None;
            }
            Int8
        }
        (Int4, t) | (t, Int4) if is_int(t) => {
            if matches!(op, Bop::Modulo) && l != r {
                return None;
            }
            Int4
        }
        (Timestamptz, Interval) | (Timestamp, Interval) if matches!(op, Bop::Plus | Bop::Minus) => {
            l
        }
        (a, b) if a == b && !matches!(a, Text | Varchar | Bool | Bytea | Json | Jsonb) => {
            if matches!(a, Timestamptz | Timestamp | Date) {
                return None;
            }
            a
        }
        _ => return None,
    })
}

/// A string literal read as type `ty` (PostgreSQL converts it while parsing and prints the
/// converted value), for the types whose printed form this module knows.
fn typed_const(s: &str, ty: ColumnType, name: &str) -> Option<Node> {
    Some(Node::Const(match ty {
        ColumnType::Int4 => s
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|v| *v >= 0)?
            .to_string(),
        ColumnType::Text | ColumnType::Varchar => format!("{}::{name}", quoted(s)),
        ColumnType::Interval => return interval_const(s),
        ColumnType::Bool => match s.trim().to_ascii_lowercase().as_str() {
            "t" | "true" | "y" | "yes" | "on" | "1" => "true".into(),
            "f" | "false" | "n" | "no" | "off" | "0" => "false".into(),
            _ => return None,
        },
        _ => return None,
    }))
}

/// An interval constant as PostgreSQL prints it: `'01:00:00'::interval`.
fn interval_const(s: &str) -> Option<Node> {
    crate::tsdb_info::parse_interval(s)?;
    Some(Node::Const(format!(
        "{}::interval",
        quoted(&crate::tsdb_info::interval_text(s))
    )))
}

// ---------------------------------------------------------------------------------------
// Printing, after `ruleutils.c` (get_query_def and get_rule_expr with PRETTYFLAG_INDENT,
// plus PRETTYFLAG_PAREN when `pretty`).

const INDENT_STD: i32 = 8;
const INDENT_JOIN: i32 = 4;
const INDENT_VAR: i32 = 4;

struct Printer {
    pretty: bool,
    buf: String,
    indent: i32,
}

impl Printer {
    /// `appendContextKeyword`: a new line indented for the clause, then `s`.
    fn keyword(&mut self, s: &str, before: i32, after: i32, plus: i32) {
        self.indent += before;
        let trimmed = self.buf.trim_end_matches(' ').len();
        self.buf.truncate(trimmed);
        self.buf.push('\n');
        let n = self.indent.max(0) + plus;
        self.buf
            .push_str(&" ".repeat(usize::try_from(n).unwrap_or(0)));
        self.buf.push_str(s);
        self.indent = (self.indent + after).max(0);
    }

    fn query(&mut self, q: &SelectBody) {
        self.indent += INDENT_STD;
        self.buf.push_str(" SELECT");
        if q.distinct {
            self.buf.push_str(" DISTINCT");
        }
        for (i, (n, as_name)) in q.targets.iter().enumerate() {
            if i == 0 {
                self.buf.push(' ');
            } else {
                self.buf.push_str(", ");
                self.keyword("", -INDENT_STD, INDENT_STD, INDENT_VAR);
            }
            self.expr(n);
            if !as_name.is_empty() {
                self.buf.push_str(" AS ");
                self.buf.push_str(&quote_ident(as_name));
            }
        }
        for (i, item) in q.from.iter().enumerate() {
            if i == 0 {
                self.keyword(" FROM ", -INDENT_STD, INDENT_STD, 2);
            } else {
                self.buf.push_str(", ");
                self.keyword("", -INDENT_STD, INDENT_STD, INDENT_VAR);
            }
            let parens = if self.pretty { 0 } else { item.joins.len() };
            self.buf.push_str(&"(".repeat(parens));
            self.buf.push_str(&item.first);
            for (kw, rel, on) in &item.joins {
                self.keyword(&format!(" {kw} "), -INDENT_STD, INDENT_STD, INDENT_JOIN);
                self.buf.push_str(rel);
                if let Some(on) = on {
                    self.buf.push_str(" ON ");
                    self.wrapped(on);
                }
                if !self.pretty {
                    self.buf.push(')');
                }
            }
        }
        if let Some(w) = &q.selection {
            self.keyword(" WHERE ", -INDENT_STD, INDENT_STD, 1);
            self.expr(w);
        }
        if !q.group_by.is_empty() {
            self.keyword(" GROUP BY ", -INDENT_STD, INDENT_STD, 1);
            for (i, n) in q.group_by.iter().enumerate() {
                if i > 0 {
                    self.buf.push_str(", ");
                }
                self.sort_group(n);
            }
        }
        if let Some(h) = &q.having {
            self.keyword(" HAVING ", -INDENT_STD, INDENT_STD, 0);
            self.expr(h);
        }
        if !q.order_by.is_empty() {
            self.keyword(" ORDER BY ", -INDENT_STD, INDENT_STD, 1);
            for (i, (n, suffix)) in q.order_by.iter().enumerate() {
                if i > 0 {
                    self.buf.push_str(", ");
                }
                self.sort_group(n);
                self.buf.push_str(suffix);
            }
        }
        if let Some(o) = &q.offset {
            self.keyword(" OFFSET ", -INDENT_STD, INDENT_STD, 0);
            self.expr(o);
        }
        if let Some(l) = &q.limit {
            self.keyword(" LIMIT ", -INDENT_STD, INDENT_STD, 0);
            self.expr(l);
        }
    }

    /// A join's ON condition: in parentheses unless pretty.
    fn wrapped(&mut self, n: &Node) {
        if !self.pretty {
            self.buf.push('(');
        }
        self.expr(n);
        if !self.pretty {
            self.buf.push(')');
        }
    }

    /// `get_rule_sortgroupclause`: a constant or column as is, anything else in
    /// parentheses (a function call always, an operator only when pretty: it prints its
    /// own otherwise).
    fn sort_group(&mut self, n: &Node) {
        let parens = match n {
            Node::Const(_) | Node::Var { .. } => false,
            Node::Func { .. } | Node::Cast { .. } => true,
            _ => self.pretty,
        };
        if parens {
            self.buf.push('(');
        }
        self.expr(n);
        if parens {
            self.buf.push(')');
        }
    }

    /// An argument of `parent`: in parentheses when pretty and `isSimpleNode` says it
    /// needs them (without pretty every operator prints its own).
    fn arg(&mut self, n: &Node, parent: &Node, first: bool) {
        let parens = self.pretty && !is_simple(n, parent, first);
        if parens {
            self.buf.push('(');
        }
        self.expr(n);
        if parens {
            self.buf.push(')');
        }
    }

    fn expr(&mut self, n: &Node) {
        // Unpretty output parenthesises every operator-like node itself (ruleutils.c's
        // PRETTY_PAREN off); pretty output leaves it to `arg`.
        let own = !self.pretty
            && matches!(
                n,
                Node::Op { .. }
                    | Node::Prefix { .. }
                    | Node::Bool { .. }
                    | Node::Not(_)
                    | Node::NullTest { .. }
            );
        if own {
            self.buf.push('(');
        }
        match n {
            Node::Var { text, .. } | Node::Const(text) => self.buf.push_str(text),
            Node::Op { op, l, r } => {
                self.arg(l, n, true);
                self.buf.push(' ');
                self.buf.push_str(op);
                self.buf.push(' ');
                self.arg(r, n, false);
            }
            Node::Prefix { op, arg } => {
                self.buf.push_str(op);
                self.buf.push(' ');
                self.arg(arg, n, false);
            }
            Node::Bool { and, args } => {
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        self.buf.push_str(if *and { " AND " } else { " OR " });
                    }
                    self.arg(a, n, i == 0);
                }
            }
            Node::Not(a) => {
                self.buf.push_str("NOT ");
                self.arg(a, n, true);
            }
            Node::NullTest { arg, not } => {
                self.arg(arg, n, true);
                self.buf
                    .push_str(if *not { " IS NOT NULL" } else { " IS NULL" });
            }
            Node::Func {
                name,
                args,
                star,
                distinct,
            } => {
                self.buf.push_str(&quote_ident(name));
                self.buf.push('(');
                if *distinct {
                    self.buf.push_str("DISTINCT ");
                }
                if *star {
                    self.buf.push('*');
                }
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        self.buf.push_str(", ");
                    }
                    self.expr(a);
                }
                self.buf.push(')');
            }
            Node::Cast { arg, ty } => {
                let paren = !self.pretty;
                if paren {
                    self.buf.push('(');
                }
                self.arg(arg, n, true);
                if paren {
                    self.buf.push(')');
                }
                self.buf.push_str("::");
                self.buf.push_str(ty);
            }
        }
        if own {
            self.buf.push(')');
        }
    }
}

/// `isSimpleNode` of `ruleutils.c` for the node kinds here: whether `n` as an argument of
/// `parent` can go without parentheses (`first`: it is the left operand).
fn is_simple(n: &Node, parent: &Node, first: bool) -> bool {
    match n {
        Node::Var { .. } | Node::Const(_) | Node::Func { .. } | Node::Cast { .. } => true,
        Node::Op { op, .. } => match parent {
            Node::Bool { .. } | Node::Not(_) | Node::Func { .. } => true,
            Node::Op { op: pop, .. } => {
                let prio = |o: &str| match o {
                    "+" | "-" => Some(1),
                    "*" | "/" | "%" => Some(2),
                    _ => None,
                };
                match (prio(op), prio(pop)) {
                    (Some(a), Some(b)) if a > b => true,
                    (Some(a), Some(b)) if a == b => first,
                    _ => false,
                }
            }
            _ => false,
        },
        Node::Prefix { .. } => {
            matches!(parent, Node::Bool { .. } | Node::Not(_) | Node::Func { .. })
        }
        Node::NullTest { .. } => {
            matches!(parent, Node::Bool { .. } | Node::Not(_) | Node::Func { .. })
        }
        Node::Bool { and, .. } => match parent {
            Node::Bool { and: pand, .. } => *and || !pand,
            Node::Func { .. } => true,
            _ => false,
        },
        Node::Not(_) => matches!(parent, Node::Bool { .. } | Node::Func { .. }),
    }
}
