//! PostgreSQL's `information_schema` (`tables`, `columns`, `schemata`, `views`, and the
//! primary-key views of `crate::pg_relations`) over
//! Strata's catalog. DataFusion's own information schema answers with Arrow type names
//! (`Int64`, `Timestamp(µs, "+00:00")`), 0-based ordinals and every column nullable, which
//! ORMs and admin tools (node-postgres applications, Sequelize, Prisma, ...) read as
//! PostgreSQL's. The columns are PostgreSQL's, in its order, with its domains as Arrow
//! types carrying the PostgreSQL type tag: `sql_identifier` → `name`, `character_data`
//! and `yes_or_no` → `varchar`, `cardinal_number` → `integer`.
//!
//! Only the `public` schema's relations are listed (PostgreSQL also lists its own
//! catalogs'); `column_default` is shown for constants and `now()`.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{MemTable, SchemaProvider};
use datafusion::datasource::TableProvider;
use datafusion::error::Result as DfResult;
use strata_storage::schema::{ColumnDefault, ColumnType, PG_TYPE_METADATA_KEY};
use strata_storage::{ColumnDef, Storage};

use crate::engine::{DATABASE, SCHEMA};

const VIEWS: &[&str] = &["tables", "columns", "schemata", "views"];

/// The `information_schema` schema of a session.
#[derive(Debug)]
pub struct InformationSchema {
    storage: Arc<Storage>,
    /// The session's `public` schema (views and continuous aggregates are planned there to
    /// learn their columns).
    public: Arc<dyn SchemaProvider>,
}

impl InformationSchema {
    pub fn new(storage: Arc<Storage>, public: Arc<dyn SchemaProvider>) -> Self {
        InformationSchema { storage, public }
    }
}

#[derive(Clone, Copy)]
enum Domain {
    /// `sql_identifier` (a `name`)
    Ident,
    /// `character_data` / `yes_or_no` (a `varchar`)
    Chars,
    /// `cardinal_number` (an `integer`)
    Cardinal,
}

fn field(name: &str, d: Domain) -> Field {
    let (dt, tag) = match d {
        Domain::Ident => (DataType::Utf8, "name"),
        Domain::Chars => (DataType::Utf8, "varchar"),
        Domain::Cardinal => (DataType::Int32, "int4"),
    };
    Field::new(name, dt, true).with_metadata(HashMap::from([(
        PG_TYPE_METADATA_KEY.to_string(),
        tag.to_string(),
    )]))
}

/// A table of text/integer cells, built row by row.
struct Rows {
    fields: Vec<(&'static str, Domain)>,
    text: Vec<Vec<Option<String>>>,
    ints: Vec<Vec<Option<i32>>>,
}

#[derive(Clone)]
enum Cell {
    S(Option<String>),
    I(Option<i32>),
}

fn s(v: &str) -> Cell {
    Cell::S(Some(v.to_string()))
}
const NULL_S: Cell = Cell::S(None);

impl Rows {
    fn new(fields: &[(&'static str, Domain)]) -> Self {
        Rows {
            fields: fields.to_vec(),
            text: vec![vec![]; fields.len()],
            ints: vec![vec![]; fields.len()],
        }
    }

    fn push(&mut self, row: Vec<Cell>) {
        for (i, c) in row.into_iter().enumerate().take(self.fields.len()) {
            match c {
                Cell::S(v) => self.text[i].push(v),
                Cell::I(v) => self.ints[i].push(v),
            }
        }
    }

    fn table(self) -> DfResult<Arc<dyn TableProvider>> {
        let schema: SchemaRef = Arc::new(Schema::new(
            self.fields
                .iter()
                .map(|(n, d)| field(n, *d))
                .collect::<Vec<_>>(),
        ));
        let cols: Vec<ArrayRef> = self
            .fields
            .iter()
            .enumerate()
            .map(|(i, (_, d))| -> ArrayRef {
                match d {
                    Domain::Cardinal => Arc::new(Int32Array::from(self.ints[i].clone())),
                    _ => Arc::new(StringArray::from(self.text[i].clone())),
                }
            })
            .collect();
        let batch = RecordBatch::try_new(Arc::clone(&schema), cols)?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    }
}

use Domain::{Cardinal as C, Chars as Ch, Ident as Id};

const TABLES: &[(&str, Domain)] = &[
    ("table_catalog", Id),
    ("table_schema", Id),
    ("table_name", Id),
    ("table_type", Ch),
    ("self_referencing_column_name", Id),
    ("reference_generation", Ch),
    ("user_defined_type_catalog", Id),
    ("user_defined_type_schema", Id),
    ("user_defined_type_name", Id),
    ("is_insertable_into", Ch),
    ("is_typed", Ch),
    ("commit_action", Ch),
];

const COLUMNS: &[(&str, Domain)] = &[
    ("table_catalog", Id),
    ("table_schema", Id),
    ("table_name", Id),
    ("column_name", Id),
    ("ordinal_position", C),
    ("column_default", Ch),
    ("is_nullable", Ch),
    ("data_type", Ch),
    ("character_maximum_length", C),
    ("character_octet_length", C),
    ("numeric_precision", C),
    ("numeric_precision_radix", C),
    ("numeric_scale", C),
    ("datetime_precision", C),
    ("interval_type", Ch),
    ("interval_precision", C),
    ("character_set_catalog", Id),
    ("character_set_schema", Id),
    ("character_set_name", Id),
    ("collation_catalog", Id),
    ("collation_schema", Id),
    ("collation_name", Id),
    ("domain_catalog", Id),
    ("domain_schema", Id),
    ("domain_name", Id),
    ("udt_catalog", Id),
    ("udt_schema", Id),
    ("udt_name", Id),
    ("scope_catalog", Id),
    ("scope_schema", Id),
    ("scope_name", Id),
    ("maximum_cardinality", C),
    ("dtd_identifier", Id),
    ("is_self_referencing", Ch),
    ("is_identity", Ch),
    ("identity_generation", Ch),
    ("identity_start", Ch),
    ("identity_increment", Ch),
    ("identity_maximum", Ch),
    ("identity_minimum", Ch),
    ("identity_cycle", Ch),
    ("is_generated", Ch),
    ("generation_expression", Ch),
    ("is_updatable", Ch),
];

const SCHEMATA: &[(&str, Domain)] = &[
    ("catalog_name", Id),
    ("schema_name", Id),
    ("schema_owner", Id),
    ("default_character_set_catalog", Id),
    ("default_character_set_schema", Id),
    ("default_character_set_name", Id),
    ("sql_path", Ch),
];

const VIEW_COLUMNS: &[(&str, Domain)] = &[
    ("table_catalog", Id),
    ("table_schema", Id),
    ("table_name", Id),
    ("view_definition", Ch),
    ("check_option", Ch),
    ("is_updatable", Ch),
    ("is_insertable_into", Ch),
    ("is_trigger_updatable", Ch),
    ("is_trigger_deletable", Ch),
    ("is_trigger_insertable_into", Ch),
];

/// What `information_schema.columns` says about a column of type `typname`
/// (`pg_type.typname`): data_type, character_octet_length, numeric precision / radix /
/// scale, datetime_precision.
struct TypeFacts {
    data_type: &'static str,
    octet_length: Option<i32>,
    precision: Option<i32>,
    radix: Option<i32>,
    scale: Option<i32>,
    datetime_precision: Option<i32>,
}

fn type_facts(typname: &str, numeric: Option<(u8, i8)>) -> TypeFacts {
    let f = |data_type, precision: Option<i32>, radix: Option<i32>, scale: Option<i32>| TypeFacts {
        data_type,
        octet_length: None,
        precision,
        radix,
        scale,
        datetime_precision: None,
    };
    let dt = |data_type, p: i32| TypeFacts {
        datetime_precision: Some(p),
        ..f(data_type, None, None, None)
    };
    match typname {
        "int2" => f("smallint", Some(16), Some(2), Some(0)),
        "int4" => f("integer", Some(32), Some(2), Some(0)),
        "int8" => f("bigint", Some(64), Some(2), Some(0)),
        "float4" => f("real", Some(24), Some(2), None),
        "float8" => f("double precision", Some(53), Some(2), None),
        "numeric" => match numeric {
            Some((p, sc)) => f("numeric", Some(i32::from(p)), Some(10), Some(i32::from(sc))),
            None => f("numeric", None, Some(10), None),
        },
        "text" => TypeFacts {
            octet_length: Some(1_073_741_824),
            ..f("text", None, None, None)
        },
        "varchar" => TypeFacts {
            octet_length: Some(1_073_741_824),
            ..f("character varying", None, None, None)
        },
        "bpchar" => TypeFacts {
            octet_length: Some(1_073_741_824),
            ..f("character", None, None, None)
        },
        "bool" => f("boolean", None, None, None),
        "bytea" => f("bytea", None, None, None),
        "date" => dt("date", 0),
        "timestamp" => dt("timestamp without time zone", 6),
        "timestamptz" => dt("timestamp with time zone", 6),
        "time" => dt("time without time zone", 6),
        "interval" => dt("interval", 6),
        "json" => f("json", None, None, None),
        "jsonb" => f("jsonb", None, None, None),
        t if t.starts_with('_') => f("ARRAY", None, None, None),
        _ => f("USER-DEFINED", None, None, None),
    }
}

/// PostgreSQL's text of a column default (`0`, `'x'::text`, `now()`).
fn default_text(d: &ColumnDefault, ty: &ColumnType) -> String {
    match d {
        ColumnDefault::Now => "now()".to_string(),
        ColumnDefault::Literal(v) => match ty {
            ColumnType::Int2
            | ColumnType::Int4
            | ColumnType::Int8
            | ColumnType::Float4
            | ColumnType::Float8
            | ColumnType::Numeric { .. }
                if v.parse::<f64>().is_ok() =>
            {
                v.clone()
            }
            ColumnType::Bool if v == "true" || v == "false" => v.clone(),
            _ => {
                let cast = match ty {
                    ColumnType::Text => "text",
                    ColumnType::Varchar => "character varying",
                    ColumnType::Bpchar => "bpchar",
                    ColumnType::Timestamptz => "timestamp with time zone",
                    ColumnType::Timestamp => "timestamp without time zone",
                    other => other.tag(),
                };
                format!("'{}'::{cast}", v.replace('\'', "''"))
            }
        },
    }
}

/// One row of `columns`.
#[allow(clippy::too_many_arguments)]
fn column_row(
    table: &str,
    name: &str,
    pos: usize,
    typname: &str,
    numeric: Option<(u8, i8)>,
    max_length: Option<u32>,
    nullable: bool,
    default: Option<String>,
    updatable: bool,
) -> Vec<Cell> {
    let t = type_facts(typname, numeric);
    // varchar(n): n characters of at most 4 bytes each (UTF8), as PostgreSQL reports.
    let n = max_length.and_then(|n| i32::try_from(n).ok());
    let octet_length = n.map_or(t.octet_length, |n| n.checked_mul(4));
    let mut row = vec![
        s(DATABASE),
        s(SCHEMA),
        s(table),
        s(name),
        Cell::I(i32::try_from(pos).ok()),
        Cell::S(default),
        s(if nullable { "YES" } else { "NO" }),
        s(t.data_type),
        Cell::I(n),
        Cell::I(octet_length),
        Cell::I(t.precision),
        Cell::I(t.radix),
        Cell::I(t.scale),
        Cell::I(t.datetime_precision),
        NULL_S,
        Cell::I(None),
        NULL_S,
        NULL_S,
        NULL_S,
    ];
    // character set, collation (NULL for the default collation), domain
    row.extend([NULL_S, NULL_S, NULL_S, NULL_S, NULL_S, NULL_S]);
    row.extend([s(DATABASE), s("pg_catalog"), s(typname)]);
    row.extend([NULL_S, NULL_S, NULL_S, Cell::I(None)]);
    row.push(Cell::S(Some(pos.to_string())));
    row.extend([s("NO"), s("NO")]);
    row.extend([NULL_S, NULL_S, NULL_S, NULL_S, NULL_S]);
    row.push(s("NO"));
    row.push(s("NEVER"));
    row.push(NULL_S);
    row.push(s(if updatable { "YES" } else { "NO" }));
    row
}

impl InformationSchema {
    fn tables(&self) -> DfResult<Arc<dyn TableProvider>> {
        let cat = self.storage.catalog();
        let mut rows = Rows::new(TABLES);
        let mut add = |name: &str, kind: &str, insertable: bool| {
            rows.push(vec![
                s(DATABASE),
                s(SCHEMA),
                s(name),
                s(kind),
                NULL_S,
                NULL_S,
                NULL_S,
                NULL_S,
                NULL_S,
                s(if insertable { "YES" } else { "NO" }),
                s("NO"),
                NULL_S,
            ])
        };
        for t in cat.tables.iter().filter(|t| !t.internal) {
            add(&t.name, "BASE TABLE", true);
        }
        for v in &cat.views {
            add(&v.name, "VIEW", false);
        }
        for v in &cat.caggs {
            add(&v.name, "VIEW", false);
        }
        rows.table()
    }

    async fn columns(&self) -> DfResult<Arc<dyn TableProvider>> {
        let cat = self.storage.catalog();
        let mut rows = Rows::new(COLUMNS);
        for t in cat.tables.iter().filter(|t| !t.internal) {
            for (i, c) in t.columns.iter().enumerate() {
                rows.push(table_column(&t.name, i + 1, c));
            }
        }
        let derived = cat
            .views
            .iter()
            .map(|v| v.name.clone())
            .chain(cat.caggs.iter().map(|v| v.name.clone()));
        for name in derived {
            // A view that no longer plans (its table was dropped) has no columns to show.
            let Ok(Some(p)) = self.public.table(&name).await else {
                continue;
            };
            for (i, f) in p.schema().fields().iter().enumerate() {
                let info = strata_pgtypes::oid::pg_type_of_field(f);
                let numeric = match f.data_type() {
                    DataType::Decimal128(p, s) => Some((*p, *s)),
                    _ => None,
                };
                rows.push(column_row(
                    &name,
                    f.name(),
                    i + 1,
                    info.name,
                    numeric,
                    None,
                    true,
                    None,
                    false,
                ));
            }
        }
        rows.table()
    }

    fn schemata(&self) -> DfResult<Arc<dyn TableProvider>> {
        let mut rows = Rows::new(SCHEMATA);
        for (name, owner) in [
            ("information_schema", DATABASE),
            ("pg_catalog", DATABASE),
            (SCHEMA, "pg_database_owner"),
            (crate::tsdb_info::INFO_SCHEMA, DATABASE),
        ] {
            rows.push(vec![
                s(DATABASE),
                s(name),
                s(owner),
                NULL_S,
                NULL_S,
                NULL_S,
                NULL_S,
            ]);
        }
        rows.table()
    }

    fn views(&self) -> DfResult<Arc<dyn TableProvider>> {
        let cat = self.storage.catalog();
        let mut rows = Rows::new(VIEW_COLUMNS);
        let defs = cat
            .views
            .iter()
            .map(|v| (v.name.clone(), &v.sql, &v.columns))
            .chain(
                cat.caggs
                    .iter()
                    .map(|v| (v.name.clone(), &v.sql, &v.columns)),
            )
            .map(|(name, sql, cols)| (name, crate::viewdef::definition(sql, cols, &cat, false)));
        for (name, sql) in defs {
            rows.push(vec![
                s(DATABASE),
                s(SCHEMA),
                s(&name),
                Cell::S(Some(sql)),
                s("NONE"),
                s("NO"),
                s("NO"),
                s("NO"),
                s("NO"),
                s("NO"),
            ]);
        }
        rows.table()
    }
}

fn table_column(table: &str, pos: usize, c: &ColumnDef) -> Vec<Cell> {
    // an unconstrained numeric (stored as (38, 10)) has no precision or scale
    let numeric = match c.ty {
        ColumnType::Numeric { precision, scale } if c.ty != ColumnType::DEFAULT_NUMERIC => {
            Some((precision, scale))
        }
        _ => None,
    };
    column_row(
        table,
        &c.name,
        pos,
        c.ty.tag(),
        numeric,
        c.max_length,
        c.nullable,
        c.default.as_ref().map(|d| default_text(d, &c.ty)),
        true,
    )
}

#[async_trait]
impl SchemaProvider for InformationSchema {
    fn table_names(&self) -> Vec<String> {
        VIEWS
            .iter()
            .chain(crate::pg_relations::KEY_VIEWS)
            .map(|v| v.to_string())
            .collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        Ok(Some(match name {
            "tables" => self.tables()?,
            "columns" => self.columns().await?,
            "schemata" => self.schemata()?,
            "views" => self.views()?,
            _ => return crate::pg_relations::key_view(name, &self.storage).await,
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        VIEWS.contains(&name) || crate::pg_relations::KEY_VIEWS.contains(&name)
    }
}
