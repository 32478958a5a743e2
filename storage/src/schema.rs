//! Column types and table definitions, the contract between `strata-sql` and storage.
//!
//! Every table column has a [`ColumnType`], which is the PostgreSQL type the user declared.
//! It maps to exactly one Arrow [`DataType`]; types that share an Arrow representation
//! (text/varchar/json/jsonb all are `Utf8`) are told apart by the field metadata key
//! [`PG_TYPE_METADATA_KEY`], so the wire layer can report the right type OID.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, IntervalUnit, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::ids::TableId;

/// Arrow field metadata key holding the PostgreSQL type name of a column
/// (`"jsonb"`, `"varchar"`, ...). Absent means "derive it from the Arrow type".
pub const PG_TYPE_METADATA_KEY: &str = "strata.pg_type";

/// Arrow field metadata key holding the declared length `n` of a `char(n)` or `varchar(n)`
/// column. `char(n)` values are stored without trailing spaces and blank-padded to `n` on
/// output; both report `n` as their type modifier in RowDescription.
pub const CHAR_LENGTH_METADATA_KEY: &str = "strata.char_length";

/// Timezone string used for `timestamptz` columns (stored as UTC microseconds).
pub const UTC: &str = "+00:00";

/// A PostgreSQL column type that Strata can store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    /// `numeric(precision, scale)`; unconstrained `numeric` is stored as (38, 10).
    Numeric {
        precision: u8,
        scale: i8,
    },
    Text,
    Varchar,
    /// `char(n)` / `character(n)` (`bpchar`): `n` is [`ColumnDef::max_length`].
    Bpchar,
    Bool,
    Bytea,
    Date,
    Timestamp,
    Timestamptz,
    Interval,
    Json,
    Jsonb,
}

impl ColumnType {
    /// Default precision/scale for a `numeric` without a modifier.
    pub const DEFAULT_NUMERIC: ColumnType = ColumnType::Numeric {
        precision: 38,
        scale: 10,
    };

    /// The Arrow type values of this column are stored as.
    pub fn arrow_type(&self) -> DataType {
        match self {
            ColumnType::Int2 => DataType::Int16,
            ColumnType::Int4 => DataType::Int32,
            ColumnType::Int8 => DataType::Int64,
            ColumnType::Float4 => DataType::Float32,
            ColumnType::Float8 => DataType::Float64,
            ColumnType::Numeric { precision, scale } => DataType::Decimal128(*precision, *scale),
            ColumnType::Text
            | ColumnType::Varchar
            | ColumnType::Bpchar
            | ColumnType::Json
            | ColumnType::Jsonb => DataType::Utf8,
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Bytea => DataType::Binary,
            ColumnType::Date => DataType::Date32,
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            ColumnType::Timestamptz => {
                DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from(UTC)))
            }
            ColumnType::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
        }
    }

    /// The PostgreSQL type name, as `format_type` would print it (without modifiers; see
    /// [`ColumnDef::pg_type_name`]).
    pub fn pg_name(&self) -> &'static str {
        match self {
            ColumnType::Int2 => "smallint",
            ColumnType::Int4 => "integer",
            ColumnType::Int8 => "bigint",
            ColumnType::Float4 => "real",
            ColumnType::Float8 => "double precision",
            ColumnType::Numeric { .. } => "numeric",
            ColumnType::Text => "text",
            ColumnType::Varchar => "character varying",
            ColumnType::Bpchar => "character",
            ColumnType::Bool => "boolean",
            ColumnType::Bytea => "bytea",
            ColumnType::Date => "date",
            ColumnType::Timestamp => "timestamp without time zone",
            ColumnType::Timestamptz => "timestamp with time zone",
            ColumnType::Interval => "interval",
            ColumnType::Json => "json",
            ColumnType::Jsonb => "jsonb",
        }
    }

    /// Short tag stored in Arrow field metadata under [`PG_TYPE_METADATA_KEY`].
    pub fn tag(&self) -> &'static str {
        match self {
            ColumnType::Int2 => "int2",
            ColumnType::Int4 => "int4",
            ColumnType::Int8 => "int8",
            ColumnType::Float4 => "float4",
            ColumnType::Float8 => "float8",
            ColumnType::Numeric { .. } => "numeric",
            ColumnType::Text => "text",
            ColumnType::Varchar => "varchar",
            ColumnType::Bpchar => "bpchar",
            ColumnType::Bool => "bool",
            ColumnType::Bytea => "bytea",
            ColumnType::Date => "date",
            ColumnType::Timestamp => "timestamp",
            ColumnType::Timestamptz => "timestamptz",
            ColumnType::Interval => "interval",
            ColumnType::Json => "json",
            ColumnType::Jsonb => "jsonb",
        }
    }

    /// Is this a time type a hypertable can be partitioned by?
    pub fn is_timestamp(&self) -> bool {
        matches!(self, ColumnType::Timestamp | ColumnType::Timestamptz)
    }
}

/// A column's default value, evaluated when an INSERT/COPY omits the column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum ColumnDefault {
    /// A constant, stored as the text PostgreSQL would accept for the column type.
    Literal(String),
    /// `now()` / `CURRENT_TIMESTAMP`: the statement's start time.
    Now,
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDef {
    pub name: String,
    pub ty: ColumnType,
    pub nullable: bool,
    #[serde(default)]
    pub default: Option<ColumnDefault>,
    /// The declared length of a `varchar(n)` or `char(n)` column (None: unbounded, and in
    /// schemas stored before lengths were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
}

impl ColumnDef {
    /// The column's type as `format_type` prints it, with a declared length
    /// (`character varying(20)`); a numeric's precision is not included.
    pub fn pg_type_name(&self) -> String {
        match self.max_length {
            Some(n) => format!("{}({n})", self.ty.pg_name()),
            None => self.ty.pg_name().to_string(),
        }
    }

    /// The Arrow field for this column, with the PostgreSQL type in its metadata.
    ///
    /// Always nullable in Arrow terms: NOT NULL is enforced by the write path with
    /// PostgreSQL's error (23502), not by Arrow's schema check, and a column added later
    /// reads NULL in older files.
    pub fn arrow_field(&self) -> Field {
        let mut md = HashMap::new();
        md.insert(PG_TYPE_METADATA_KEY.to_string(), self.ty.tag().to_string());
        if let (ColumnType::Bpchar | ColumnType::Varchar, Some(n)) = (self.ty, self.max_length) {
            md.insert(CHAR_LENGTH_METADATA_KEY.to_string(), n.to_string());
        }
        Field::new(&self.name, self.ty.arrow_type(), true).with_metadata(md)
    }
}

/// A table (or hypertable) definition as stored in the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableDef {
    pub id: TableId,
    pub name: String,
    pub columns: Vec<ColumnDef>,
    /// Index into `columns` of the time column, if the table has one.
    pub time_column: Option<usize>,
    /// Width of a time partition ("chunk") in microseconds.
    pub partition_micros: i64,
    /// Declared primary key columns (stored; enforced in a later version).
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// Made a hypertable explicitly (`create_hypertable` or `WITH (tsdb.hypertable)`).
    #[serde(default)]
    pub hypertable: bool,
    /// An internal table (the state rows of a continuous aggregate): not visible as a
    /// relation to users.
    #[serde(default)]
    pub internal: bool,
    /// The exact Arrow schema of an internal table whose columns are not PostgreSQL types
    /// (partial aggregate states: lists, binary sketches). `columns` then only names them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_schema: Option<RawSchema>,
    /// Columns that lead the sort order of every file, before the time column
    /// (TimescaleDB's `segmentby`): rows of one series are stored together, so the page
    /// index skips the pages of other series. Empty: the primary key's other columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segment_by: Vec<String>,
}

/// An Arrow schema persisted as the hex of an empty Arrow IPC stream, so that any Arrow
/// type round-trips without depending on arrow's optional serde support.
#[derive(Debug, Clone, PartialEq)]
pub struct RawSchema(pub SchemaRef);

impl Serialize for RawSchema {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let mut w = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &self.0)
            .map_err(S::Error::custom)?;
        w.finish().map_err(S::Error::custom)?;
        let bytes = w.into_inner().map_err(S::Error::custom)?;
        let mut hex = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            hex.push_str(&format!("{b:02x}"));
        }
        s.serialize_str(&hex)
    }
}

impl<'de> Deserialize<'de> for RawSchema {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let hex = String::deserialize(d)?;
        if hex.len() % 2 != 0 || !hex.is_ascii() {
            return Err(D::Error::custom("raw schema: bad hex"));
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(D::Error::custom)?;
        let r = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
            .map_err(D::Error::custom)?;
        Ok(RawSchema(r.schema()))
    }
}

/// Default chunk interval: 7 days, like TimescaleDB.
pub const DEFAULT_PARTITION_MICROS: i64 = 7 * 24 * 3600 * 1_000_000;

impl TableDef {
    /// The Arrow schema of the table.
    pub fn arrow_schema(&self) -> SchemaRef {
        if let Some(raw) = &self.raw_schema {
            return Arc::clone(&raw.0);
        }
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(ColumnDef::arrow_field)
                .collect::<Vec<_>>(),
        ))
    }

    /// Index of a column by name (names are stored folded as PostgreSQL folds them).
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The time column's definition, if any.
    pub fn time_column_def(&self) -> Option<&ColumnDef> {
        self.time_column.map(|i| &self.columns[i])
    }

    /// The columns files are sorted by, in order: the segment-by columns (declared, or else
    /// the primary key's columns other than the time column), then the time column.
    /// Internal tables (continuous-aggregate states) are sorted by time only: their
    /// readers slice cached files by binary search on time.
    pub fn sort_columns(&self) -> Vec<usize> {
        let mut out: Vec<usize> = vec![];
        if !self.internal {
            let lead = if self.segment_by.is_empty() {
                &self.primary_key
            } else {
                &self.segment_by
            };
            for name in lead {
                if let Some(i) = self.column_index(name)
                    && Some(i) != self.time_column
                    && !out.contains(&i)
                {
                    out.push(i);
                }
            }
        }
        out.extend(self.time_column);
        out
    }

    /// The columns naming the series of the table's files: the sort columns before the
    /// time column (none without a time column or without such columns). Each file keeps
    /// a run of rows per series, sorted by time.
    pub fn series_columns(&self) -> Vec<usize> {
        let mut sort = self.sort_columns();
        match (sort.pop(), self.time_column) {
            (Some(last), Some(tc)) if last == tc => sort,
            _ => vec![],
        }
    }

    /// Start (inclusive, microseconds since epoch) of the partition holding `ts`.
    pub fn partition_start(&self, ts: i64) -> i64 {
        ts.div_euclid(self.partition_micros) * self.partition_micros
    }
}

/// The PostgreSQL type of an Arrow field: the metadata tag if present, else derived.
pub fn column_type_of_field(field: &Field) -> Option<ColumnType> {
    if let Some(tag) = field.metadata().get(PG_TYPE_METADATA_KEY) {
        let t = match tag.as_str() {
            "varchar" => Some(ColumnType::Varchar),
            "bpchar" => Some(ColumnType::Bpchar),
            "json" => Some(ColumnType::Json),
            "jsonb" => Some(ColumnType::Jsonb),
            "text" => Some(ColumnType::Text),
            _ => None,
        };
        if t.is_some() {
            return t;
        }
    }
    Some(match field.data_type() {
        DataType::Int16 => ColumnType::Int2,
        DataType::Int32 => ColumnType::Int4,
        DataType::Int64 => ColumnType::Int8,
        DataType::Float32 => ColumnType::Float4,
        DataType::Float64 => ColumnType::Float8,
        DataType::Decimal128(p, s) => ColumnType::Numeric {
            precision: *p,
            scale: *s,
        },
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ColumnType::Text,
        DataType::Boolean => ColumnType::Bool,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => ColumnType::Bytea,
        DataType::Date32 => ColumnType::Date,
        DataType::Timestamp(_, None) => ColumnType::Timestamp,
        DataType::Timestamp(_, Some(_)) => ColumnType::Timestamptz,
        DataType::Interval(_) => ColumnType::Interval,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A column stored before declared lengths were kept reads as unbounded; a length
    /// round-trips and is left out of the JSON when absent.
    #[test]
    fn max_length_is_optional_in_stored_columns() {
        let old: ColumnDef =
            serde_json::from_str(r#"{"name":"s","ty":"varchar","nullable":true}"#).unwrap();
        assert_eq!(old.max_length, None);
        assert_eq!(old.pg_type_name(), "character varying");
        let new = ColumnDef {
            max_length: Some(20),
            ..old.clone()
        };
        let json = serde_json::to_string(&new).unwrap();
        assert!(json.contains(r#""max_length":20"#), "{json}");
        assert_eq!(serde_json::from_str::<ColumnDef>(&json).unwrap(), new);
        assert_eq!(new.pg_type_name(), "character varying(20)");
        assert!(!serde_json::to_string(&old).unwrap().contains("max_length"));
    }
}
