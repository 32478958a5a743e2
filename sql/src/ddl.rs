//! DDL of our own: CREATE/DROP/ALTER TABLE, CREATE/DROP VIEW, and TimescaleDB's
//! `create_hypertable` in its two forms and `WITH (tsdb.hypertable, ...)`.

use sqlparser::ast::{
    self, ColumnOption, CreateTable, CreateTableOptions, DataType, ExactNumberInfo, Expr,
    FunctionArg, FunctionArgExpr, FunctionArguments, SqlOption, TableConstraint, Value,
};
use strata_storage::schema::DEFAULT_PARTITION_MICROS;
use strata_storage::{ColumnDef, ColumnDefault, ColumnType, Storage, TableDef};

use crate::error::{Error, Result, SqlState};

/// Folds an identifier as PostgreSQL does: unquoted → lower case, quoted → as is.
pub fn ident_name(id: &ast::Ident) -> String {
    if id.quote_style.is_some() {
        id.value.clone()
    } else {
        id.value.to_lowercase()
    }
}

/// The last part of a possibly qualified name (`public.t` → `t`), checking the schema.
pub fn object_name(name: &ast::ObjectName) -> Result<String> {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(ident_name))
        .collect();
    match parts.as_slice() {
        [t] => Ok(t.clone()),
        [s, t] if s == "public" => Ok(t.clone()),
        [d, s, t] if s == "public" && d == "strata" => Ok(t.clone()),
        _ => Err(Error::user(
            SqlState::InvalidParameterValue.then_schema(),
            format!("schema of \"{name}\" does not exist; Strata has one schema, public"),
        )),
    }
}

trait ThenSchema {
    fn then_schema(self) -> SqlState;
}
impl ThenSchema for SqlState {
    fn then_schema(self) -> SqlState {
        SqlState::UndefinedObject
    }
}

/// PostgreSQL's largest `varchar(n)` length (`MaxAttrSize` in characters).
const MAX_VARCHAR_LENGTH: u64 = 10_485_760;

/// The declared length of a `varchar(n)` or `char(n)` column (None for other types and for
/// an unbounded `varchar`; a `char` without a length is `char(1)`, as in PostgreSQL).
pub fn declared_length(dt: &DataType) -> Result<Option<u32>> {
    let (len, ty) = match dt {
        DataType::Varchar(Some(len)) | DataType::CharacterVarying(Some(len)) => (len, "varchar"),
        DataType::Char(Some(len)) | DataType::Character(Some(len)) => (len, "char"),
        DataType::Char(None) | DataType::Character(None) => return Ok(Some(1)),
        _ => return Ok(None),
    };
    let ast::CharacterLength::IntegerLength { length, .. } = len else {
        return Ok(None);
    };
    if *length < 1 {
        return Err(Error::user(
            SqlState::InvalidParameterValue,
            format!("length for type {ty} must be at least 1"),
        ));
    }
    if *length > MAX_VARCHAR_LENGTH {
        return Err(Error::user(
            SqlState::InvalidParameterValue,
            format!("length for type {ty} cannot exceed {MAX_VARCHAR_LENGTH}"),
        ));
    }
    Ok(u32::try_from(*length).ok())
}

/// Maps a declared SQL type to a storable column type.
pub fn column_type(dt: &DataType) -> Result<ColumnType> {
    Ok(match dt {
        DataType::SmallInt(_) | DataType::Int2(_) => ColumnType::Int2,
        DataType::Int(_) | DataType::Integer(_) | DataType::Int4(_) => ColumnType::Int4,
        DataType::BigInt(_) | DataType::Int8(_) => ColumnType::Int8,
        DataType::Real | DataType::Float4 => ColumnType::Float4,
        DataType::Double(_) | DataType::DoublePrecision | DataType::Float8 => ColumnType::Float8,
        DataType::Float(info) => match info {
            ExactNumberInfo::Precision(p) | ExactNumberInfo::PrecisionAndScale(p, _)
                if *p <= 24 =>
            {
                ColumnType::Float4
            }
            _ => ColumnType::Float8,
        },
        DataType::Numeric(info) | DataType::Decimal(info) => match info {
            ExactNumberInfo::None => ColumnType::DEFAULT_NUMERIC,
            ExactNumberInfo::Precision(p) => numeric(*p, 0)?,
            ExactNumberInfo::PrecisionAndScale(p, s) => numeric(*p, *s)?,
        },
        DataType::Text | DataType::String(_) => ColumnType::Text,
        DataType::Varchar(_) | DataType::CharacterVarying(_) => ColumnType::Varchar,
        DataType::Char(_) | DataType::Character(_) => ColumnType::Bpchar,
        DataType::Bool | DataType::Boolean => ColumnType::Bool,
        DataType::Bytea => ColumnType::Bytea,
        DataType::Date => ColumnType::Date,
        DataType::Timestamp(_, tz) => match tz {
            ast::TimezoneInfo::Tz | ast::TimezoneInfo::WithTimeZone => ColumnType::Timestamptz,
            _ => ColumnType::Timestamp,
        },
        DataType::Interval { .. } => ColumnType::Interval,
        DataType::JSON => ColumnType::Json,
        DataType::JSONB => ColumnType::Jsonb,
        DataType::Custom(name, _) => match name.to_string().to_lowercase().as_str() {
            "timestamptz" => ColumnType::Timestamptz,
            "int2" | "smallint" => ColumnType::Int2,
            "int4" | "integer" | "int" => ColumnType::Int4,
            "int8" | "bigint" => ColumnType::Int8,
            "float4" => ColumnType::Float4,
            "float8" => ColumnType::Float8,
            "serial" | "bigserial" | "smallserial" => {
                return Err(Error::unsupported(format!("type {name} (sequences)")));
            }
            other => {
                return Err(Error::user(
                    SqlState::UndefinedObject,
                    format!("type \"{other}\" does not exist"),
                ));
            }
        },
        other => return Err(Error::unsupported(format!("column type {other}"))),
    })
}

fn numeric(p: u64, s: i64) -> Result<ColumnType> {
    if p == 0 || p > 38 {
        return Err(Error::user(
            SqlState::InvalidParameterValue,
            format!("NUMERIC precision {p} must be between 1 and 38 in Strata"),
        ));
    }
    if s < 0 || s as u64 > p {
        return Err(Error::user(
            SqlState::InvalidParameterValue,
            format!("NUMERIC scale {s} must be between 0 and precision {p}"),
        ));
    }
    Ok(ColumnType::Numeric {
        precision: p as u8,
        scale: s as i8,
    })
}

/// Parses an interval given as text (`'1 day'`, `'6 hours'`) or as `INTERVAL '...'` into
/// microseconds; months are not allowed for chunk intervals.
pub fn interval_micros_of_expr(e: &Expr) -> Result<i64> {
    let text = match e {
        Expr::Interval(iv) => {
            let s = literal_string(&iv.value).ok_or_else(|| {
                Error::user(
                    SqlState::InvalidParameterValue,
                    format!("invalid interval {e}"),
                )
            })?;
            match &iv.leading_field {
                Some(f) => format!("{s} {f}"),
                None => s,
            }
        }
        Expr::Cast { expr, .. } => return interval_micros_of_expr(expr),
        other => literal_string(other).ok_or_else(|| {
            Error::user(
                SqlState::InvalidParameterValue,
                format!("expected an interval, got {e}"),
            )
        })?,
    };
    if let Ok(n) = text.trim().parse::<i64>() {
        // An integer chunk interval is in microseconds for timestamp columns (TimescaleDB).
        return Ok(n);
    }
    let micros = simple_interval_micros(&text)?;
    if micros <= 0 {
        return Err(Error::user(
            SqlState::InvalidParameterValue,
            "chunk interval must be positive",
        ));
    }
    Ok(micros)
}

/// The string in a literal (`'x'`, `"x"`, a number), if `e` is one.
pub fn literal_string(e: &Expr) -> Option<String> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s)
            | Value::DoubleQuotedString(s)
            | Value::EscapedStringLiteral(s) => Some(s.clone()),
            Value::Number(n, _) => Some(n.clone()),
            Value::Boolean(b) => Some(b.to_string()),
            _ => None,
        },
        Expr::Identifier(i) => Some(i.value.clone()),
        Expr::Nested(e) => literal_string(e),
        Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => literal_string(expr).map(|s| format!("-{s}")),
        Expr::Cast { expr, .. } => literal_string(expr),
        Expr::TypedString(ts) => match &ts.value.value {
            Value::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// `CREATE TABLE`. Returns false if it already existed and IF NOT EXISTS was given.
pub async fn create_table(storage: &Storage, ct: &CreateTable) -> Result<bool> {
    let name = object_name(&ct.name)?;
    if !is_new_relation(storage, &name, ct.if_not_exists)? {
        return Ok(false);
    }
    if ct.columns.is_empty() {
        return Err(Error::user(
            SqlState::InvalidTableDefinition,
            "a table needs at least one column",
        ));
    }
    let mut columns = vec![];
    let mut primary_key = vec![];
    let mut key_clauses = 0;
    for c in &ct.columns {
        let cname = ident_name(&c.name);
        if columns.iter().any(|x: &ColumnDef| x.name == cname) {
            return Err(Error::user(
                SqlState::DuplicateColumn,
                format!("column \"{cname}\" specified more than once"),
            ));
        }
        let ty = column_type(&c.data_type)?;
        let mut nullable = true;
        let mut default = None;
        for o in &c.options {
            match &o.option {
                ColumnOption::NotNull => nullable = false,
                ColumnOption::Null => nullable = true,
                ColumnOption::Default(e) => default = Some(parse_default(e, ty)?),
                ColumnOption::PrimaryKey(_) => {
                    key_clauses += 1;
                    nullable = false;
                    primary_key.push(cname.clone());
                }
                ColumnOption::Unique(_) => return Err(Error::unsupported("UNIQUE constraints")),
                ColumnOption::ForeignKey(_) => {
                    return Err(Error::unsupported("FOREIGN KEY constraints"));
                }
                ColumnOption::Check(_) => return Err(Error::unsupported("CHECK constraints")),
                other => return Err(Error::unsupported(format!("column option {other}"))),
            }
        }
        columns.push(ColumnDef {
            name: cname,
            ty,
            nullable,
            default,
            max_length: declared_length(&c.data_type)?,
        });
    }
    for tc in &ct.constraints {
        match tc {
            TableConstraint::PrimaryKey(pk) => {
                key_clauses += 1;
                for ic in &pk.columns {
                    let n = key_column_name(&ic.column.expr)?;
                    let Some(col) = columns.iter_mut().find(|c| c.name == n) else {
                        return Err(Error::user(
                            SqlState::UndefinedColumn,
                            format!("column \"{n}\" named in key does not exist"),
                        ));
                    };
                    col.nullable = false;
                    primary_key.push(n);
                }
            }
            other => return Err(Error::unsupported(format!("table constraint {other}"))),
        }
    }
    if key_clauses > 1 {
        return Err(Error::user(
            SqlState::InvalidTableDefinition,
            format!("multiple primary keys for table \"{name}\" are not allowed"),
        ));
    }
    create_with_columns(storage, name, columns, primary_key, &ct.table_options).await?;
    Ok(true)
}

/// Whether `name` is free for a new table: false if it exists and `IF NOT EXISTS` was
/// given, 42P07 if it exists otherwise.
fn is_new_relation(storage: &Storage, name: &str, if_not_exists: bool) -> Result<bool> {
    if !storage.catalog().relation_exists(name) {
        return Ok(true);
    }
    if if_not_exists {
        return Ok(false);
    }
    Err(Error::user(
        SqlState::DuplicateTable,
        format!("relation \"{name}\" already exists"),
    ))
}

/// Creates table `name` with `columns` (checked for repeated names by the caller), its
/// time column the first NOT NULL timestamp/timestamptz column unless `options` name one.
async fn create_with_columns(
    storage: &Storage,
    name: String,
    columns: Vec<ColumnDef>,
    primary_key: Vec<String>,
    options: &CreateTableOptions,
) -> Result<()> {
    let mut def = TableDef {
        id: Default::default(),
        name,
        columns,
        time_column: None,
        partition_micros: DEFAULT_PARTITION_MICROS,
        primary_key,
        hypertable: false,
        internal: false,
        raw_schema: None,
        segment_by: vec![],
    };
    // Default time column: the first NOT NULL timestamp/timestamptz column.
    def.time_column = def
        .columns
        .iter()
        .position(|c| c.ty.is_timestamp() && !c.nullable);
    apply_tsdb_options(&mut def, options)?;
    check_primary_key(&def)?;
    storage.create_table(def).await?;
    Ok(())
}

/// The table of `CREATE TABLE name [(names)] AS query`: a column per output column of the
/// query (`schema`, with PostgreSQL's names and type tags), named as the query names them
/// unless `ct` lists names, of the PostgreSQL type the query's column has, nullable (as
/// PostgreSQL creates them). False if it exists and `IF NOT EXISTS` was given.
pub async fn create_table_as(
    storage: &Storage,
    ct: &CreateTable,
    schema: &arrow::datatypes::Schema,
) -> Result<bool> {
    let name = object_name(&ct.name)?;
    if !is_new_relation(storage, &name, ct.if_not_exists)? {
        return Ok(false);
    }
    if ct.columns.len() > schema.fields().len() {
        return Err(Error::user(
            SqlState::SyntaxError,
            "too many column names were specified",
        ));
    }
    let mut columns: Vec<ColumnDef> = vec![];
    for (i, f) in schema.fields().iter().enumerate() {
        let cname = match ct.columns.get(i) {
            Some(c) => ident_name(&c.name),
            None => f.name().clone(),
        };
        if columns.iter().any(|x| x.name == cname) {
            return Err(Error::user(
                SqlState::DuplicateColumn,
                format!("column \"{cname}\" specified more than once"),
            ));
        }
        let (ty, max_length) = column_type_of_field(f).ok_or_else(|| {
            Error::user(
                SqlState::FeatureNotSupported,
                format!(
                    "column \"{cname}\" has type {}, which a table cannot store; cast it \
                     (for example to text) in the query",
                    strata_pgtypes::oid::pg_type_of_field(f).name
                ),
            )
        })?;
        columns.push(ColumnDef {
            name: cname,
            ty,
            nullable: true,
            default: None,
            max_length,
        });
    }
    if columns.is_empty() {
        return Err(Error::user(
            SqlState::InvalidTableDefinition,
            "a table needs at least one column",
        ));
    }
    create_with_columns(storage, name, columns, vec![], &ct.table_options).await?;
    Ok(true)
}

/// Refuses to `action` table `name` while a view or continuous aggregate reads it: they
/// name their tables in their SQL text (PostgreSQL's follow the table by its oid).
pub fn check_no_dependents(storage: &Storage, name: &str, action: &str) -> Result<()> {
    let cat = storage.catalog();
    let reads = |sql: &str| -> bool {
        let Ok(stmts) =
            sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, sql)
        else {
            // unparsable: assume it might
            return true;
        };
        let mut found = false;
        let _ = ast::visit_relations(&stmts, |r| {
            if r.0
                .last()
                .and_then(|p| p.as_ident())
                .map(ident_name)
                .as_deref()
                == Some(name)
            {
                found = true;
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        found
    };
    let dependent = cat
        .views
        .iter()
        .find(|v| reads(&v.sql))
        .map(|v| ("view", v.name.clone()))
        .or_else(|| {
            cat.caggs
                .iter()
                .find(|c| c.source == name)
                .map(|c| ("materialized view", c.name.clone()))
        });
    match dependent {
        Some((kind, dep)) => Err(Error::with_hint(
            SqlState::DependentObjectsStillExist,
            format!("cannot {action} table \"{name}\" because {kind} \"{dep}\" depends on it"),
            format!("Drop {kind} \"{dep}\" first, {action} the table, then create it again."),
        )),
        None => Ok(()),
    }
}

/// The column type (and declared length) that stores values of a query's output column.
fn column_type_of_field(f: &arrow::datatypes::Field) -> Option<(ColumnType, Option<u32>)> {
    use strata_pgtypes::oid::{CHAR_LENGTH_METADATA_KEY, oids};
    let t = strata_pgtypes::oid::pg_type_of_field(f);
    let length = || {
        f.metadata()
            .get(CHAR_LENGTH_METADATA_KEY)
            .and_then(|n| n.parse::<u32>().ok())
    };
    Some(match t.oid {
        oids::INT2 => (ColumnType::Int2, None),
        oids::INT4 => (ColumnType::Int4, None),
        oids::INT8 => (ColumnType::Int8, None),
        oids::FLOAT4 => (ColumnType::Float4, None),
        oids::FLOAT8 => (ColumnType::Float8, None),
        // a column or cast with a modifier keeps it; other numerics are unconstrained
        oids::NUMERIC => match f.data_type() {
            arrow::datatypes::DataType::Decimal128(precision, scale)
                if strata_pgtypes::oid::type_modifier(f) != -1 =>
            {
                (
                    ColumnType::Numeric {
                        precision: *precision,
                        scale: *scale,
                    },
                    None,
                )
            }
            _ => (ColumnType::DEFAULT_NUMERIC, None),
        },
        oids::TEXT | oids::NAME => (ColumnType::Text, None),
        oids::VARCHAR => (ColumnType::Varchar, length()),
        oids::BPCHAR => (ColumnType::Bpchar, length()),
        oids::BOOL => (ColumnType::Bool, None),
        oids::BYTEA => (ColumnType::Bytea, None),
        oids::DATE => (ColumnType::Date, None),
        oids::TIMESTAMP => (ColumnType::Timestamp, None),
        oids::TIMESTAMPTZ => (ColumnType::Timestamptz, None),
        oids::INTERVAL => (ColumnType::Interval, None),
        oids::JSON => (ColumnType::Json, None),
        oids::JSONB => (ColumnType::Jsonb, None),
        _ => return None,
    })
}

/// `ALTER TABLE name ADD [CONSTRAINT c] PRIMARY KEY (columns)`: the stored rows are checked
/// (no NULL, no repeated key) and the key is enforced from then on, as if declared at
/// CREATE TABLE (see [`strata_storage::Storage::add_primary_key`]).
pub async fn add_primary_key(
    storage: &Storage,
    name: &str,
    pk: &ast::PrimaryKeyConstraint,
) -> Result<()> {
    let Some(def) = storage.catalog().table(name).cloned() else {
        return Err(Error::user(
            SqlState::UndefinedTable,
            format!("relation \"{name}\" does not exist"),
        ));
    };
    if !def.primary_key.is_empty() {
        return Err(Error::user(
            SqlState::InvalidTableDefinition,
            format!("multiple primary keys for table \"{name}\" are not allowed"),
        ));
    }
    let mut cols = vec![];
    for ic in &pk.columns {
        let n = key_column_name(&ic.column.expr)?;
        if def.column_index(&n).is_none() {
            return Err(Error::user(
                SqlState::UndefinedColumn,
                format!("column \"{n}\" of relation \"{name}\" does not exist"),
            ));
        }
        if !cols.contains(&n) {
            cols.push(n);
        }
    }
    let mut check = (*def).clone();
    check.primary_key = cols.clone();
    check_primary_key(&check)?;
    storage.add_primary_key(def.id, cols).await?;
    Ok(())
}

/// A primary key of a table with a time column must include that column: rows are stored
/// in partitions by time and keys are checked within a partition (as a unique index on a
/// TimescaleDB hypertable must include the partitioning column). A table without a time
/// column is one partition: any key works.
pub fn check_primary_key(def: &TableDef) -> Result<()> {
    if let Some(tc) = def.time_column_def()
        && !def.primary_key.is_empty()
        && !def.primary_key.contains(&tc.name)
    {
        return Err(Error::with_hint(
            SqlState::FeatureNotSupported,
            format!(
                "primary key of \"{}\" must include the time column \"{}\"",
                def.name, tc.name
            ),
            format!(
                "Rows are stored partitioned by \"{}\" and keys are checked within a partition, so the time column must be part of the key (as for unique indexes on TimescaleDB hypertables).",
                tc.name
            ),
        ));
    }
    Ok(())
}

fn apply_tsdb_options(def: &mut TableDef, opts: &CreateTableOptions) -> Result<()> {
    let list = match opts {
        CreateTableOptions::None => return Ok(()),
        CreateTableOptions::With(l)
        | CreateTableOptions::Options(l)
        | CreateTableOptions::Plain(l)
        | CreateTableOptions::TableProperties(l) => l,
    };
    let mut hyper = false;
    let mut part_col = None;
    let mut chunk = None;
    let mut layout = vec![];
    for o in list {
        let (key, value) = option_key_value(o)?;
        match key.as_str() {
            "hypertable" => {
                hyper = value
                    .and_then(literal_string)
                    .map(|v| v != "false")
                    .unwrap_or(true)
            }
            "partition_column" | "time_column" => part_col = value.and_then(literal_string),
            "chunk_interval" | "chunk_time_interval" => {
                chunk = value.map(interval_micros_of_expr).transpose()?
            }
            "fillfactor" | "autovacuum_enabled" => {}
            _ if is_layout_option(&key) => layout.push((key, value)),
            other => return Err(Error::unsupported(format!("table option \"{other}\""))),
        }
    }
    def.hypertable = hyper;
    if hyper && part_col.is_none() && def.time_column.is_none() {
        return Err(Error::with_hint(
            SqlState::InvalidTableDefinition,
            "a hypertable needs a time column",
            "Add tsdb.partition_column = '<timestamp column>'.",
        ));
    }
    if let Some(c) = part_col {
        set_time_column(def, &c)?;
    }
    if let Some(ci) = chunk {
        def.partition_micros = ci;
    }
    for (key, value) in layout {
        apply_layout_option(def, &key, value)?;
    }
    Ok(())
}

/// The key (without its `tsdb.`/`timescaledb.` prefix, lower case) and value of a
/// `WITH (...)` or `SET (...)` table option.
pub fn option_key_value(o: &SqlOption) -> Result<(String, Option<&Expr>)> {
    let (key, value) = match o {
        SqlOption::KeyValue { key, value } => (key.value.to_lowercase(), Some(value)),
        SqlOption::Ident(i) => (i.value.to_lowercase(), None),
        other => return Err(Error::unsupported(format!("table option {other}"))),
    };
    // `tsdb.x` is rewritten to `tsdb_x` before parsing (see `session::rewrite_dotted_options`).
    let key = key
        .trim_start_matches("tsdb.")
        .trim_start_matches("timescaledb.")
        .trim_start_matches("tsdb_")
        .trim_start_matches("timescaledb_")
        .to_string();
    Ok((key, value))
}

/// Options about how rows are laid out in files, accepted by `CREATE TABLE ... WITH` and
/// `ALTER TABLE ... SET` under TimescaleDB's names.
pub fn is_layout_option(key: &str) -> bool {
    matches!(
        key,
        "segmentby"
            | "compress_segmentby"
            | "orderby"
            | "compress_orderby"
            | "compress"
            | "enable_columnstore"
    )
}

/// Applies one layout option to `def`:
/// - `segmentby` / `compress_segmentby`: the columns that lead each file's sort order
///   ([`TableDef::sort_columns`]), so that the pages of one series are together and a
///   filter on them skips the rest;
/// - `orderby` / `compress_orderby`: must name the time column (files are sorted by it
///   after the segment-by columns; ASC or DESC reads the same);
/// - `compress` / `enable_columnstore`: accepted; files are always columnar and compressed.
pub fn apply_layout_option(def: &mut TableDef, key: &str, value: Option<&Expr>) -> Result<()> {
    let text = || {
        value.and_then(literal_string).ok_or_else(|| {
            Error::user(
                SqlState::InvalidParameterValue,
                format!("option \"{key}\" needs a quoted column list, e.g. '{key} = ''hostname'''"),
            )
        })
    };
    match key {
        "segmentby" | "compress_segmentby" => {
            let mut cols = vec![];
            for name in column_list(&text()?) {
                if def.column_index(&name).is_none() {
                    return Err(Error::user(
                        SqlState::UndefinedColumn,
                        format!("column \"{name}\" does not exist"),
                    ));
                }
                if def.time_column.is_some_and(|t| def.columns[t].name == name) {
                    return Err(Error::with_hint(
                        SqlState::InvalidParameterValue,
                        format!("cannot use column \"{name}\" for both ordering and segmenting"),
                        "The time column always orders rows within a segment; segment by other columns.",
                    ));
                }
                if !cols.contains(&name) {
                    cols.push(name);
                }
            }
            def.segment_by = cols;
        }
        "orderby" | "compress_orderby" => {
            let spec = text()?;
            for item in spec.split(',') {
                let words: Vec<String> = item.split_whitespace().map(str::to_lowercase).collect();
                let name = column_list(words.first().map(String::as_str).unwrap_or(""));
                let is_time = match (name.as_slice(), def.time_column) {
                    ([n], Some(t)) => def.columns[t].name == *n,
                    _ => false,
                };
                let modifiers_ok = matches!(
                    words.iter().skip(1).map(String::as_str).collect::<Vec<_>>()[..],
                    [] | ["asc" | "desc"]
                        | ["nulls", "first" | "last"]
                        | ["asc" | "desc", "nulls", "first" | "last"]
                );
                if !is_time || !modifiers_ok {
                    return Err(Error::with_hint(
                        SqlState::FeatureNotSupported,
                        format!("orderby '{spec}' is not supported"),
                        "Rows are ordered by the segment-by columns, then by the time column; orderby may only name the time column.",
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// `a, "B", c` → `["a", "B", "c"]` (folded as identifiers are).
fn column_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(
            |n| match n.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
                Some(q) => q.replace("\"\"", "\""),
                None => n.to_lowercase(),
            },
        )
        .collect()
}

/// Makes `col` the time column of `def`, checking its type.
pub fn set_time_column(def: &mut TableDef, col: &str) -> Result<()> {
    let Some(i) = def.column_index(col) else {
        return Err(Error::user(
            SqlState::UndefinedColumn,
            format!("column \"{col}\" does not exist"),
        ));
    };
    if !def.columns[i].ty.is_timestamp() {
        return Err(Error::user(
            SqlState::DatatypeMismatch,
            format!(
                "invalid type for dimension \"{col}\": the time column must be timestamp or timestamptz, not {}",
                def.columns[i].ty.pg_name()
            ),
        ));
    }
    if def.columns[i].nullable {
        // TimescaleDB adds NOT NULL to the time column; so do we (no stored row can be NULL yet
        // only if the table is empty, which is checked by the caller).
        def.columns[i].nullable = false;
    }
    def.time_column = Some(i);
    Ok(())
}

fn parse_default(e: &Expr, ty: ColumnType) -> Result<ColumnDefault> {
    if let Expr::Function(f) = e {
        let n = f.name.to_string().to_lowercase();
        if matches!(
            n.as_str(),
            "now"
                | "current_timestamp"
                | "transaction_timestamp"
                | "statement_timestamp"
                | "localtimestamp"
        ) {
            return Ok(ColumnDefault::Now);
        }
    }
    if let Expr::Value(v) = e
        && let Value::Null = v.value
    {
        return Ok(ColumnDefault::Literal(String::new())).and(Err(Error::unsupported(
            "DEFAULT NULL (omit the DEFAULT instead)",
        )));
    }
    let s = literal_string(e).ok_or_else(|| {
        Error::unsupported(format!(
            "DEFAULT expression {e} (constants and now() are supported)"
        ))
    })?;
    if matches!(
        s.to_lowercase().as_str(),
        "current_timestamp" | "now()" | "localtimestamp"
    ) {
        return Ok(ColumnDefault::Now);
    }
    // Validate now, so a bad default fails at CREATE time.
    crate::dml::validate_literal(&s, ty)?;
    Ok(ColumnDefault::Literal(s))
}

/// Positional and named arguments of a function call.
pub fn function_args(f: &ast::Function) -> Result<(Vec<Expr>, Vec<(String, Expr)>)> {
    let mut pos = vec![];
    let mut named = vec![];
    if let FunctionArguments::List(l) = &f.args {
        for a in &l.args {
            match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => pos.push(e.clone()),
                FunctionArg::Named {
                    name,
                    arg: FunctionArgExpr::Expr(e),
                    ..
                } => named.push((name.value.to_lowercase(), e.clone())),
                FunctionArg::ExprNamed {
                    name: Expr::Identifier(i),
                    arg: FunctionArgExpr::Expr(e),
                    ..
                } => named.push((i.value.to_lowercase(), e.clone())),
                other => return Err(Error::unsupported(format!("function argument {other}"))),
            }
        }
    }
    Ok((pos, named))
}

/// `SELECT create_hypertable('t', by_range('ts', INTERVAL '1 day'))` and the legacy
/// `create_hypertable('t', 'ts', chunk_time_interval => INTERVAL '1 day', if_not_exists => true)`.
/// Returns the text TimescaleDB returns: `(id,t,t)` / `(1,t)`.
pub async fn create_hypertable(
    storage: &Storage,
    f: &ast::Function,
) -> Result<(i64, String, bool)> {
    let (pos, named) = function_args(f)?;
    let table_expr = pos.first().ok_or_else(|| {
        Error::user(
            SqlState::UndefinedFunction,
            "create_hypertable needs a table name",
        )
    })?;
    let table = literal_string(table_expr).ok_or_else(|| {
        Error::user(
            SqlState::InvalidParameterValue,
            "create_hypertable: the first argument must be the table name",
        )
    })?;
    let table = table.trim_start_matches("public.").to_string();
    let mut time_col = None;
    let mut chunk = None;
    let mut if_not_exists = false;
    if let Some(second) = pos.get(1) {
        match second {
            Expr::Function(dim) if dim.name.to_string().eq_ignore_ascii_case("by_range") => {
                let (dpos, dnamed) = function_args(dim)?;
                time_col = dpos.first().and_then(literal_string);
                if let Some(ci) = dpos.get(1).or_else(|| {
                    dnamed
                        .iter()
                        .find(|(n, _)| n == "partition_interval")
                        .map(|(_, e)| e)
                }) {
                    chunk = Some(interval_micros_of_expr(ci)?);
                }
            }
            Expr::Function(dim) => {
                return Err(Error::unsupported(format!(
                    "dimension {} (only by_range)",
                    dim.name
                )));
            }
            other => time_col = literal_string(other),
        }
    }
    if let Some(third) = pos.get(2) {
        chunk = Some(interval_micros_of_expr(third)?);
    }
    for (n, e) in &named {
        match n.as_str() {
            "chunk_time_interval" => chunk = Some(interval_micros_of_expr(e)?),
            "if_not_exists" => {
                if_not_exists = literal_string(e).is_some_and(|v| v.eq_ignore_ascii_case("true"))
            }
            "time_column_name" => time_col = literal_string(e),
            "migrate_data" | "create_default_indexes" => {}
            other => {
                return Err(Error::unsupported(format!(
                    "create_hypertable argument {other}"
                )));
            }
        }
    }
    let time_col = time_col.ok_or_else(|| {
        Error::user(
            SqlState::InvalidParameterValue,
            "create_hypertable: name the time column, e.g. by_range('ts')",
        )
    })?;
    let cat = storage.catalog();
    let Some(def) = cat.table(&table) else {
        return Err(Error::user(
            SqlState::UndefinedTable,
            format!("relation \"{table}\" does not exist"),
        ));
    };
    let mut def = (**def).clone();
    if def.hypertable {
        if if_not_exists {
            return Ok((def.id.as_u64() as i64, def.name.clone(), false));
        }
        return Err(Error::user(
            SqlState::DuplicateObject,
            format!("table \"{}\" is already a hypertable", def.name),
        ));
    }
    def.hypertable = true;
    let was_null = def
        .column_index(&time_col)
        .is_some_and(|i| def.columns[i].nullable);
    set_time_column(&mut def, &time_col)?;
    check_primary_key(&def)?;
    if let Some(c) = chunk {
        def.partition_micros = c;
    }
    if was_null {
        // Making the column NOT NULL changes the columns; allowed only for an empty table.
        let snap = storage.snapshot(def.id, strata_storage::TimeRange::ALL)?;
        if !snap.batches.is_empty() || !snap.files.is_empty() {
            return Err(Error::user(
                SqlState::InvalidTableDefinition,
                format!(
                    "column \"{time_col}\" of a non-empty table must be NOT NULL to become the time column"
                ),
            ));
        }
        let new = storage.update_table_def(def).await?;
        return Ok((new.id.as_u64() as i64, new.name.clone(), true));
    }
    let new = storage.update_table_def(def).await?;
    Ok((new.id.as_u64() as i64, new.name.clone(), true))
}

/// Parses `N unit [N unit ...]` (units from microseconds to weeks) into microseconds.
/// Month-based units are refused: a chunk has a fixed width.
pub fn simple_interval_micros(text: &str) -> Result<i64> {
    let bad = || {
        Error::user(
            SqlState::InvalidParameterValue,
            format!(
                "invalid interval \"{text}\" for a chunk interval; use e.g. '1 day' or '6 hours'"
            ),
        )
    };
    let toks: Vec<&str> = text.split_whitespace().collect();
    if toks.is_empty() || toks.len() % 2 != 0 {
        return Err(bad());
    }
    let mut total: f64 = 0.0;
    for pair in toks.chunks(2) {
        let n: f64 = pair[0].parse().map_err(|_| bad())?;
        let unit = pair[1].to_lowercase();
        let mult: f64 = match unit.trim_end_matches('s') {
            "microsecond" | "us" | "usec" => 1.0,
            "millisecond" | "m" if unit.starts_with("ms") || unit.starts_with("milli") => 1e3,
            "second" | "sec" => 1e6,
            "minute" | "min" => 60e6,
            "hour" | "hr" | "h" => 3600e6,
            "day" | "d" => 86400e6,
            "week" | "w" => 7.0 * 86400e6,
            "month" | "mon" | "year" | "y" => {
                return Err(Error::user(
                    SqlState::InvalidParameterValue,
                    "chunk interval cannot contain months or years; use days",
                ));
            }
            _ => return Err(bad()),
        };
        total += n * mult;
    }
    Ok(total as i64)
}

/// The column a PRIMARY KEY lists; an expression is refused (0A000).
fn key_column_name(e: &Expr) -> Result<String> {
    match e {
        Expr::Identifier(i) => Ok(ident_name(i)),
        other => Err(Error::unsupported(format!(
            "PRIMARY KEY on expression {other}"
        ))),
    }
}
