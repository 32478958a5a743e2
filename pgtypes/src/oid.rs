//! PostgreSQL type identity of Arrow fields: OID, `pg_type.typname` and `typlen`.
//!
//! A field's PostgreSQL type comes from its metadata tag under [`PG_TYPE_METADATA_KEY`]
//! (`"int4"`, `"jsonb"`, ...) when that tag is known *and* compatible with the field's
//! Arrow type (a tag that disagrees with the data, e.g. `"int4"` on a `Utf8` column after
//! a cast kept the metadata, is ignored). Otherwise the type is derived from the Arrow
//! type (see [`pg_type_of_arrow`]).
//!
//! [`crate::encode::ColumnEncoder`] resolves the type with the same rules, so the OID
//! reported in `RowDescription` always matches the bytes the encoder produces.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, IntervalUnit, TimeUnit};

/// Arrow field metadata key holding the PostgreSQL type tag of a column (same value as
/// `strata_storage::schema::PG_TYPE_METADATA_KEY`).
pub const PG_TYPE_METADATA_KEY: &str = "strata.pg_type";

/// Arrow field metadata key holding the declared length `n` of a `char(n)` or `varchar(n)`
/// column (same value as `strata_storage::schema::CHAR_LENGTH_METADATA_KEY`): `char(n)`
/// values are sent blank-padded to `n` characters, and both report `n` in their type
/// modifier ([`type_modifier`]).
pub const CHAR_LENGTH_METADATA_KEY: &str = "strata.char_length";

/// Arrow field metadata key holding the length `n` a `bpchar` value without a declared
/// length is blank-padded to when sent: what PostgreSQL stores for a `char(n)` value keeps
/// its blanks through `max(code)`, `min(code)` or `code::bpchar`, whose type has no
/// modifier (-1). Strata keeps `char(n)` values without their blanks, so the padding
/// travels as this key instead of [`CHAR_LENGTH_METADATA_KEY`], which would also report
/// `n` as the type modifier.
pub const CHAR_PAD_METADATA_KEY: &str = "strata.char_pad";

/// The length a field's `bpchar` values are blank-padded to when sent: the declared
/// length of a `char(n)` column or cast, or the [`CHAR_PAD_METADATA_KEY`] of a value
/// derived from one.
pub fn char_padding(field: &Field) -> Option<usize> {
    if tag_type(field).map(|t| t.oid) != Some(oids::BPCHAR) {
        return None;
    }
    let md = field.metadata();
    md.get(CHAR_LENGTH_METADATA_KEY)
        .or_else(|| md.get(CHAR_PAD_METADATA_KEY))
        .and_then(|n| n.parse().ok())
}

/// Arrow field metadata key that datafusion-pg-catalog puts on the `Int32` columns of its
/// catalog tables whose PostgreSQL type is `oid` (`pg_type.typelem`, `pg_attribute.attrelid`,
/// ...; the value names what the oid refers to, e.g. `"regclass"`). Such a column is
/// presented as `oid`, as PostgreSQL describes it.
pub const OID_ALIAS_METADATA_KEY: &str = "pg.oid_alias";

/// Timezone string put on `timestamptz` Arrow types by [`arrow_type_of_oid`] (the same
/// string storage uses).
pub const UTC_TZ: &str = "+00:00";

/// Every PostgreSQL type OID Strata uses (values from `pg_type` of PostgreSQL 15).
pub mod oids {
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const CHAR: u32 = 18;
    pub const NAME: u32 = 19;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const OID: u32 = 26;
    pub const JSON: u32 = 114;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const UNKNOWN: u32 = 705;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIME: u32 = 1083;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const INTERVAL: u32 = 1186;
    pub const TIMETZ: u32 = 1266;
    pub const NUMERIC: u32 = 1700;
    pub const RECORD: u32 = 2249;
    pub const VOID: u32 = 2278;
    pub const UUID: u32 = 2950;
    pub const JSONB: u32 = 3802;

    pub const JSON_ARRAY: u32 = 199;
    pub const BOOL_ARRAY: u32 = 1000;
    pub const BYTEA_ARRAY: u32 = 1001;
    pub const CHAR_ARRAY: u32 = 1002;
    pub const NAME_ARRAY: u32 = 1003;
    pub const INT2_ARRAY: u32 = 1005;
    pub const INT4_ARRAY: u32 = 1007;
    pub const TEXT_ARRAY: u32 = 1009;
    pub const BPCHAR_ARRAY: u32 = 1014;
    pub const VARCHAR_ARRAY: u32 = 1015;
    pub const INT8_ARRAY: u32 = 1016;
    pub const FLOAT4_ARRAY: u32 = 1021;
    pub const FLOAT8_ARRAY: u32 = 1022;
    pub const OID_ARRAY: u32 = 1028;
    pub const TIMESTAMP_ARRAY: u32 = 1115;
    pub const DATE_ARRAY: u32 = 1182;
    pub const TIME_ARRAY: u32 = 1183;
    pub const TIMESTAMPTZ_ARRAY: u32 = 1185;
    pub const INTERVAL_ARRAY: u32 = 1187;
    pub const NUMERIC_ARRAY: u32 = 1231;
    pub const TIMETZ_ARRAY: u32 = 1270;
    pub const RECORD_ARRAY: u32 = 2287;
    pub const UUID_ARRAY: u32 = 2951;
    pub const JSONB_ARRAY: u32 = 3807;
}

/// Identity of a PostgreSQL type as reported to clients (`RowDescription`,
/// `ParameterDescription`, `pg_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PgTypeInfo {
    /// `pg_type.oid`.
    pub oid: u32,
    /// `pg_type.typname`, e.g. `"int4"`, `"_int4"` for `int4[]`.
    pub name: &'static str,
    /// `pg_type.typlen`: fixed width in bytes, -1 for varlena, -2 for C strings.
    pub typlen: i16,
}

macro_rules! type_consts {
    ($($konst:ident = ($oid:ident, $name:literal, $len:literal, $arr:ident, $elem:ident);)*) => {
        impl PgTypeInfo {
            $(pub const $konst: PgTypeInfo = PgTypeInfo { oid: oids::$oid, name: $name, typlen: $len };)*
        }
        /// (type, its array type OID or 0, its element type OID or 0)
        const TYPES: &[(PgTypeInfo, u32, u32)] = &[
            $((PgTypeInfo::$konst, type_consts!(@oid $arr), type_consts!(@oid $elem)),)*
        ];
    };
    (@oid NONE) => { 0 };
    (@oid $o:ident) => { oids::$o };
}

type_consts! {
    BOOL = (BOOL, "bool", 1, BOOL_ARRAY, NONE);
    BYTEA = (BYTEA, "bytea", -1, BYTEA_ARRAY, NONE);
    CHAR = (CHAR, "char", 1, CHAR_ARRAY, NONE);
    NAME = (NAME, "name", 64, NAME_ARRAY, NONE);
    INT8 = (INT8, "int8", 8, INT8_ARRAY, NONE);
    INT2 = (INT2, "int2", 2, INT2_ARRAY, NONE);
    INT4 = (INT4, "int4", 4, INT4_ARRAY, NONE);
    TEXT = (TEXT, "text", -1, TEXT_ARRAY, NONE);
    OID = (OID, "oid", 4, OID_ARRAY, NONE);
    JSON = (JSON, "json", -1, JSON_ARRAY, NONE);
    FLOAT4 = (FLOAT4, "float4", 4, FLOAT4_ARRAY, NONE);
    FLOAT8 = (FLOAT8, "float8", 8, FLOAT8_ARRAY, NONE);
    UNKNOWN = (UNKNOWN, "unknown", -2, NONE, NONE);
    BPCHAR = (BPCHAR, "bpchar", -1, BPCHAR_ARRAY, NONE);
    VARCHAR = (VARCHAR, "varchar", -1, VARCHAR_ARRAY, NONE);
    DATE = (DATE, "date", 4, DATE_ARRAY, NONE);
    TIME = (TIME, "time", 8, TIME_ARRAY, NONE);
    TIMESTAMP = (TIMESTAMP, "timestamp", 8, TIMESTAMP_ARRAY, NONE);
    TIMESTAMPTZ = (TIMESTAMPTZ, "timestamptz", 8, TIMESTAMPTZ_ARRAY, NONE);
    INTERVAL = (INTERVAL, "interval", 16, INTERVAL_ARRAY, NONE);
    TIMETZ = (TIMETZ, "timetz", 12, TIMETZ_ARRAY, NONE);
    NUMERIC = (NUMERIC, "numeric", -1, NUMERIC_ARRAY, NONE);
    RECORD = (RECORD, "record", -1, RECORD_ARRAY, NONE);
    VOID = (VOID, "void", 4, NONE, NONE);
    UUID = (UUID, "uuid", 16, UUID_ARRAY, NONE);
    JSONB = (JSONB, "jsonb", -1, JSONB_ARRAY, NONE);

    JSON_ARRAY = (JSON_ARRAY, "_json", -1, NONE, JSON);
    BOOL_ARRAY = (BOOL_ARRAY, "_bool", -1, NONE, BOOL);
    BYTEA_ARRAY = (BYTEA_ARRAY, "_bytea", -1, NONE, BYTEA);
    CHAR_ARRAY = (CHAR_ARRAY, "_char", -1, NONE, CHAR);
    NAME_ARRAY = (NAME_ARRAY, "_name", -1, NONE, NAME);
    INT2_ARRAY = (INT2_ARRAY, "_int2", -1, NONE, INT2);
    INT4_ARRAY = (INT4_ARRAY, "_int4", -1, NONE, INT4);
    TEXT_ARRAY = (TEXT_ARRAY, "_text", -1, NONE, TEXT);
    BPCHAR_ARRAY = (BPCHAR_ARRAY, "_bpchar", -1, NONE, BPCHAR);
    VARCHAR_ARRAY = (VARCHAR_ARRAY, "_varchar", -1, NONE, VARCHAR);
    INT8_ARRAY = (INT8_ARRAY, "_int8", -1, NONE, INT8);
    FLOAT4_ARRAY = (FLOAT4_ARRAY, "_float4", -1, NONE, FLOAT4);
    FLOAT8_ARRAY = (FLOAT8_ARRAY, "_float8", -1, NONE, FLOAT8);
    OID_ARRAY = (OID_ARRAY, "_oid", -1, NONE, OID);
    TIMESTAMP_ARRAY = (TIMESTAMP_ARRAY, "_timestamp", -1, NONE, TIMESTAMP);
    DATE_ARRAY = (DATE_ARRAY, "_date", -1, NONE, DATE);
    TIME_ARRAY = (TIME_ARRAY, "_time", -1, NONE, TIME);
    TIMESTAMPTZ_ARRAY = (TIMESTAMPTZ_ARRAY, "_timestamptz", -1, NONE, TIMESTAMPTZ);
    INTERVAL_ARRAY = (INTERVAL_ARRAY, "_interval", -1, NONE, INTERVAL);
    NUMERIC_ARRAY = (NUMERIC_ARRAY, "_numeric", -1, NONE, NUMERIC);
    TIMETZ_ARRAY = (TIMETZ_ARRAY, "_timetz", -1, NONE, TIMETZ);
    RECORD_ARRAY = (RECORD_ARRAY, "_record", -1, NONE, RECORD);
    UUID_ARRAY = (UUID_ARRAY, "_uuid", -1, NONE, UUID);
    JSONB_ARRAY = (JSONB_ARRAY, "_jsonb", -1, NONE, JSONB);
}

impl PgTypeInfo {
    /// Is this an array type (`_int4`, ...)?
    pub fn is_array(&self) -> bool {
        self.element().is_some()
    }

    /// The element type of an array type.
    pub fn element(&self) -> Option<PgTypeInfo> {
        element_type_of(self.oid)
    }

    /// The array type whose elements are of this type.
    pub fn array(&self) -> Option<PgTypeInfo> {
        array_type_of(self.oid)
    }
}

/// The type with this OID, if Strata knows it.
pub fn pg_type_of_oid(oid: u32) -> Option<PgTypeInfo> {
    TYPES.iter().find(|t| t.0.oid == oid).map(|t| t.0)
}

/// The type named by a Strata metadata tag or a `pg_type.typname` (`"int4"`, `"jsonb"`,
/// `"_int4"`, ...). Also accepts `"time"`.
pub fn pg_type_of_name(name: &str) -> Option<PgTypeInfo> {
    TYPES.iter().find(|t| t.0.name == name).map(|t| t.0)
}

/// The array type of element type `elem_oid` (`int4` → `_int4`).
pub fn array_type_of(elem_oid: u32) -> Option<PgTypeInfo> {
    let arr = TYPES.iter().find(|t| t.0.oid == elem_oid)?.1;
    if arr == 0 { None } else { pg_type_of_oid(arr) }
}

/// The element type of array type `array_oid` (`_int4` → `int4`).
pub fn element_type_of(array_oid: u32) -> Option<PgTypeInfo> {
    let elem = TYPES.iter().find(|t| t.0.oid == array_oid)?.2;
    if elem == 0 {
        None
    } else {
        pg_type_of_oid(elem)
    }
}

/// The PostgreSQL type of an Arrow field: its metadata tag if present, known and
/// compatible with the Arrow type, else derived from the Arrow type.
pub fn pg_type_of_field(field: &Field) -> PgTypeInfo {
    match tag_type(field) {
        Some(t) => t,
        None => pg_type_of_arrow(field.data_type()),
    }
}

/// The type modifier PostgreSQL reports for values of `field` (`pg_attribute.atttypmod`, and
/// the one RowDescription carries): `n + 4` for `char(n)` and `varchar(n)` (their
/// [`CHAR_LENGTH_METADATA_KEY`]), `((p << 16) | s) + 4` for a field tagged `numeric` whose
/// type is `Decimal128(p, s)`, except the `(38, 10)` that stands for an unconstrained
/// `numeric`; -1 (none) otherwise. Untagged decimals (arithmetic, aggregates) have none, as
/// in PostgreSQL, where only columns and casts keep a modifier.
pub fn type_modifier(field: &Field) -> i32 {
    let Some(t) = tag_type(field) else {
        return -1;
    };
    match (t.oid, field.data_type()) {
        (oids::BPCHAR | oids::VARCHAR, _) => field
            .metadata()
            .get(CHAR_LENGTH_METADATA_KEY)
            .and_then(|n| n.parse::<i32>().ok())
            .and_then(|n| n.checked_add(4))
            .unwrap_or(-1),
        (oids::NUMERIC, DataType::Decimal128(p, s)) if (*p, *s) != (38, 10) => {
            numeric_type_modifier(*p, *s)
        }
        _ => -1,
    }
}

/// `numeric(p, s)`'s type modifier, as PostgreSQL's `numeric` typmodin computes it (the
/// scale in the low 11 bits, so that a negative scale round-trips).
pub fn numeric_type_modifier(precision: u8, scale: i8) -> i32 {
    ((i32::from(precision) << 16) | (i32::from(scale) & 0x7ff)) + 4
}

/// The metadata tag's type, if the field has a known tag that fits its Arrow type (a
/// catalog column marked with [`OID_ALIAS_METADATA_KEY`] is tagged `oid`).
pub(crate) fn tag_type(field: &Field) -> Option<PgTypeInfo> {
    let md = field.metadata();
    let t = match md.get(PG_TYPE_METADATA_KEY) {
        Some(tag) => pg_type_of_name(tag)?,
        None if md.contains_key(OID_ALIAS_METADATA_KEY) => PgTypeInfo::OID,
        None => return None,
    };
    tag_fits(t.oid, field.data_type()).then_some(t)
}

/// Can values of Arrow type `dt` be presented as PostgreSQL type `oid`?
pub(crate) fn tag_fits(oid: u32, dt: &DataType) -> bool {
    use DataType as D;
    match dt {
        D::Dictionary(_, v) => return tag_fits(oid, v),
        D::RunEndEncoded(_, v) => return tag_fits(oid, v.data_type()),
        _ => {}
    }
    match oid {
        oids::INT2 => matches!(dt, D::Int16),
        oids::INT4 => matches!(dt, D::Int32),
        // oids are kept as int4 (as in the emulated catalog tables)
        oids::OID => matches!(dt, D::Int32),
        oids::OID_ARRAY => {
            matches!(dt, D::List(f) | D::LargeList(f) if f.data_type() == &D::Int32)
        }
        oids::INT8 => matches!(dt, D::Int64),
        oids::FLOAT4 => matches!(dt, D::Float32),
        oids::FLOAT8 => matches!(dt, D::Float64),
        oids::NUMERIC => matches!(
            dt,
            D::Decimal32(..) | D::Decimal64(..) | D::Decimal128(..) | D::Decimal256(..)
        ),
        oids::TEXT | oids::VARCHAR | oids::BPCHAR | oids::NAME | oids::JSON | oids::JSONB => {
            matches!(dt, D::Utf8 | D::LargeUtf8 | D::Utf8View)
        }
        oids::BOOL => matches!(dt, D::Boolean),
        oids::BYTEA => matches!(
            dt,
            D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_)
        ),
        oids::DATE => matches!(dt, D::Date32 | D::Date64),
        oids::TIME => matches!(dt, D::Time32(_) | D::Time64(_)),
        // a cast between the two keeps the column's tag: the Arrow zone decides
        oids::TIMESTAMP => matches!(dt, D::Timestamp(_, None)),
        oids::TIMESTAMPTZ => matches!(dt, D::Timestamp(_, Some(_))),
        oids::INTERVAL => matches!(dt, D::Interval(_) | D::Duration(_)),
        _ => false,
    }
}

/// The PostgreSQL type of values of an Arrow type (no metadata consulted, except that of
/// a list's element field).
///
/// | Arrow | PostgreSQL |
/// |---|---|
/// | Int8, Int16, UInt8 | int2 |
/// | Int32, UInt16 | int4 |
/// | Int64, UInt32 | int8 |
/// | UInt64, Decimal* | numeric |
/// | Float16, Float32 / Float64 | float4 / float8 |
/// | Utf8, LargeUtf8, Utf8View, Null | text |
/// | Binary, LargeBinary, BinaryView, FixedSizeBinary | bytea |
/// | Boolean | bool |
/// | Date32, Date64 | date |
/// | Time32, Time64 | time |
/// | Timestamp(_, None) / Timestamp(_, Some) | timestamp / timestamptz |
/// | Interval(_), Duration(_) | interval |
/// | List, LargeList, FixedSizeList of T | T's array type (nested lists: same, multi-dim) |
/// | Struct | record |
/// | Dictionary(_, T), RunEndEncoded(_, T) | T |
/// | anything else (Map, Union, ...) | text (rendered by Arrow's display formatter) |
pub fn pg_type_of_arrow(dt: &DataType) -> PgTypeInfo {
    use DataType as D;
    match dt {
        D::Null => PgTypeInfo::TEXT,
        D::Boolean => PgTypeInfo::BOOL,
        D::Int8 | D::Int16 | D::UInt8 => PgTypeInfo::INT2,
        D::Int32 | D::UInt16 => PgTypeInfo::INT4,
        D::Int64 | D::UInt32 => PgTypeInfo::INT8,
        D::UInt64 => PgTypeInfo::NUMERIC,
        D::Float16 | D::Float32 => PgTypeInfo::FLOAT4,
        D::Float64 => PgTypeInfo::FLOAT8,
        D::Decimal32(..) | D::Decimal64(..) | D::Decimal128(..) | D::Decimal256(..) => {
            PgTypeInfo::NUMERIC
        }
        D::Utf8 | D::LargeUtf8 | D::Utf8View => PgTypeInfo::TEXT,
        D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => PgTypeInfo::BYTEA,
        D::Date32 | D::Date64 => PgTypeInfo::DATE,
        D::Time32(_) | D::Time64(_) => PgTypeInfo::TIME,
        D::Timestamp(_, None) => PgTypeInfo::TIMESTAMP,
        D::Timestamp(_, Some(_)) => PgTypeInfo::TIMESTAMPTZ,
        D::Interval(_) | D::Duration(_) => PgTypeInfo::INTERVAL,
        D::List(f) | D::LargeList(f) | D::FixedSizeList(f, _) => {
            let elem = pg_type_of_field(f);
            if elem.is_array() {
                elem
            } else {
                elem.array().unwrap_or(PgTypeInfo::TEXT_ARRAY)
            }
        }
        D::Struct(_) => PgTypeInfo::RECORD,
        D::Dictionary(_, v) => pg_type_of_arrow(v),
        D::RunEndEncoded(_, v) => pg_type_of_field(v),
        _ => PgTypeInfo::TEXT,
    }
}

/// The Arrow type a value of PostgreSQL type `oid` is decoded into (for parameter types
/// a client declares in Parse). `None` for OID 0 (unspecified: let the planner infer) and
/// for types Strata does not handle (uuid, timetz, record, ...).
///
/// Types sharing an Arrow type (text/varchar/json/jsonb → Utf8) are told apart only by
/// field metadata; use [`arrow_field_of_oid`] to get a field carrying the tag.
pub fn arrow_type_of_oid(oid: u32) -> Option<DataType> {
    Some(match oid {
        oids::BOOL => DataType::Boolean,
        oids::BYTEA => DataType::Binary,
        oids::INT2 => DataType::Int16,
        oids::INT4 => DataType::Int32,
        oids::INT8 | oids::OID => DataType::Int64,
        oids::FLOAT4 => DataType::Float32,
        oids::FLOAT8 => DataType::Float64,
        oids::NUMERIC => DataType::Decimal128(38, 10),
        oids::TEXT
        | oids::VARCHAR
        | oids::BPCHAR
        | oids::NAME
        | oids::CHAR
        | oids::UNKNOWN
        | oids::JSON
        | oids::JSONB => DataType::Utf8,
        oids::DATE => DataType::Date32,
        oids::TIME => DataType::Time64(TimeUnit::Microsecond),
        oids::TIMESTAMP => DataType::Timestamp(TimeUnit::Microsecond, None),
        oids::TIMESTAMPTZ => DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from(UTC_TZ))),
        oids::INTERVAL => DataType::Interval(IntervalUnit::MonthDayNano),
        _ => {
            let elem = element_type_of(oid)?;
            let field = arrow_field_of_oid(Field::LIST_FIELD_DEFAULT_NAME, elem.oid)?;
            DataType::List(Arc::new(field))
        }
    })
}

/// A nullable Arrow field named `name` for PostgreSQL type `oid`, with the metadata tag
/// set when the Arrow type alone would not identify the type (varchar, json, jsonb, ...)
/// — `pg_type_of_field` of the result gives `oid` back for every supported OID except
/// `oid`/`char`/`name`/`bpchar`/`unknown` (mapped to int8/text).
pub fn arrow_field_of_oid(name: &str, oid: u32) -> Option<Field> {
    let dt = arrow_type_of_oid(oid)?;
    let field = Field::new(name, dt, true);
    let tag = match oid {
        oids::VARCHAR => "varchar",
        oids::JSON => "json",
        oids::JSONB => "jsonb",
        oids::NUMERIC => "numeric",
        _ => return Some(field),
    };
    let md = std::collections::HashMap::from([(PG_TYPE_METADATA_KEY.to_string(), tag.to_string())]);
    Some(field.with_metadata(md))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(dt: DataType, tag: &str) -> Field {
        Field::new("c", dt, true).with_metadata(std::collections::HashMap::from([(
            PG_TYPE_METADATA_KEY.to_string(),
            tag.to_string(),
        )]))
    }

    #[test]
    fn padding_without_a_declared_length_has_no_type_modifier() {
        let with = |tag: &str, key: &str, n: &str| {
            let f = tagged(DataType::Utf8, tag);
            let mut md = f.metadata().clone();
            md.insert(key.to_string(), n.to_string());
            f.with_metadata(md)
        };
        let padded = with("bpchar", CHAR_PAD_METADATA_KEY, "4");
        assert_eq!(char_padding(&padded), Some(4));
        assert_eq!(type_modifier(&padded), -1);
        let declared = with("bpchar", CHAR_LENGTH_METADATA_KEY, "3");
        assert_eq!(char_padding(&declared), Some(3));
        assert_eq!(type_modifier(&declared), 7);
        // only bpchar values are padded
        assert_eq!(
            char_padding(&with("varchar", CHAR_LENGTH_METADATA_KEY, "3")),
            None
        );
        assert_eq!(
            char_padding(&with("text", CHAR_PAD_METADATA_KEY, "3")),
            None
        );
    }

    #[test]
    fn type_modifiers_of_lengths_and_numerics() {
        let with_length = |dt: DataType, tag: &str, n: &str| {
            let f = tagged(dt, tag);
            let mut md = f.metadata().clone();
            md.insert(CHAR_LENGTH_METADATA_KEY.to_string(), n.to_string());
            f.with_metadata(md)
        };
        assert_eq!(
            type_modifier(&with_length(DataType::Utf8, "varchar", "3")),
            7
        );
        assert_eq!(
            type_modifier(&with_length(DataType::Utf8, "bpchar", "4")),
            8
        );
        // a length on a field of another type (text) is no modifier
        assert_eq!(type_modifier(&with_length(DataType::Utf8, "text", "4")), -1);
        assert_eq!(type_modifier(&tagged(DataType::Utf8, "varchar")), -1);
        let numeric = |p, s| tagged(DataType::Decimal128(p, s), "numeric");
        assert_eq!(type_modifier(&numeric(10, 2)), (10 << 16 | 2) + 4);
        assert_eq!(type_modifier(&numeric(5, 0)), (5 << 16) + 4);
        assert_eq!(type_modifier(&numeric(5, -2)), 329_730);
        // unconstrained numeric, and decimals computed by expressions (untagged)
        assert_eq!(type_modifier(&numeric(38, 10)), -1);
        assert_eq!(
            type_modifier(&Field::new("x", DataType::Decimal128(10, 2), true)),
            -1
        );
    }

    #[test]
    fn oid_columns() {
        // a catalog column marked by datafusion-pg-catalog
        let marked = |dt: DataType| {
            Field::new("typelem", dt, true).with_metadata(std::collections::HashMap::from([(
                OID_ALIAS_METADATA_KEY.to_string(),
                "oid".to_string(),
            )]))
        };
        assert_eq!(pg_type_of_field(&marked(DataType::Int32)), PgTypeInfo::OID);
        // a mark kept through a cast to another type is ignored
        assert_eq!(pg_type_of_field(&marked(DataType::Int64)), PgTypeInfo::INT8);
        assert_eq!(pg_type_of_field(&marked(DataType::Utf8)), PgTypeInfo::TEXT);
        assert_eq!(
            pg_type_of_field(&tagged(DataType::Int32, "oid")),
            PgTypeInfo::OID
        );
        let int4_list = DataType::List(Arc::new(Field::new_list_field(DataType::Int32, true)));
        assert_eq!(
            pg_type_of_field(&tagged(int4_list.clone(), "_oid")),
            PgTypeInfo::OID_ARRAY
        );
        assert_eq!(
            pg_type_of_field(&Field::new("c", int4_list, true)),
            PgTypeInfo::INT4_ARRAY
        );
    }

    #[test]
    fn table_matches_pg_type() {
        // select oid, typname, typlen, typarray from pg_type where ... (PostgreSQL 15)
        let rows: &[(u32, &str, i16, u32)] = &[
            (16, "bool", 1, 1000),
            (17, "bytea", -1, 1001),
            (18, "char", 1, 1002),
            (19, "name", 64, 1003),
            (20, "int8", 8, 1016),
            (21, "int2", 2, 1005),
            (23, "int4", 4, 1007),
            (25, "text", -1, 1009),
            (26, "oid", 4, 1028),
            (114, "json", -1, 199),
            (700, "float4", 4, 1021),
            (701, "float8", 8, 1022),
            (705, "unknown", -2, 0),
            (1042, "bpchar", -1, 1014),
            (1043, "varchar", -1, 1015),
            (1082, "date", 4, 1182),
            (1083, "time", 8, 1183),
            (1114, "timestamp", 8, 1115),
            (1184, "timestamptz", 8, 1185),
            (1186, "interval", 16, 1187),
            (1266, "timetz", 12, 1270),
            (1700, "numeric", -1, 1231),
            (2249, "record", -1, 2287),
            (2278, "void", 4, 0),
            (2950, "uuid", 16, 2951),
            (3802, "jsonb", -1, 3807),
        ];
        for &(oid, name, len, arr) in rows {
            let t = pg_type_of_oid(oid).unwrap();
            assert_eq!((t.name, t.typlen), (name, len), "{oid}");
            assert_eq!(pg_type_of_name(name), Some(t));
            assert_eq!(t.array().map(|a| a.oid).unwrap_or(0), arr, "{name}");
            if let Some(a) = t.array() {
                assert_eq!(a.name, format!("_{name}"));
                assert_eq!(a.typlen, -1);
                assert_eq!(a.element(), Some(t));
                assert!(a.is_array() && !t.is_array());
            }
        }
    }

    #[test]
    fn arrow_to_pg() {
        use DataType as D;
        let cases: Vec<(DataType, PgTypeInfo)> = vec![
            (D::Int8, PgTypeInfo::INT2),
            (D::Int16, PgTypeInfo::INT2),
            (D::Int32, PgTypeInfo::INT4),
            (D::Int64, PgTypeInfo::INT8),
            (D::UInt8, PgTypeInfo::INT2),
            (D::UInt16, PgTypeInfo::INT4),
            (D::UInt32, PgTypeInfo::INT8),
            (D::UInt64, PgTypeInfo::NUMERIC),
            (D::Float16, PgTypeInfo::FLOAT4),
            (D::Float32, PgTypeInfo::FLOAT4),
            (D::Float64, PgTypeInfo::FLOAT8),
            (D::Decimal128(10, 2), PgTypeInfo::NUMERIC),
            (D::Decimal256(50, 2), PgTypeInfo::NUMERIC),
            (D::Utf8, PgTypeInfo::TEXT),
            (D::LargeUtf8, PgTypeInfo::TEXT),
            (D::Utf8View, PgTypeInfo::TEXT),
            (D::Binary, PgTypeInfo::BYTEA),
            (D::BinaryView, PgTypeInfo::BYTEA),
            (D::Boolean, PgTypeInfo::BOOL),
            (D::Date32, PgTypeInfo::DATE),
            (D::Date64, PgTypeInfo::DATE),
            (D::Time64(TimeUnit::Nanosecond), PgTypeInfo::TIME),
            (
                D::Timestamp(TimeUnit::Microsecond, None),
                PgTypeInfo::TIMESTAMP,
            ),
            (
                D::Timestamp(TimeUnit::Second, Some("+00:00".into())),
                PgTypeInfo::TIMESTAMPTZ,
            ),
            (
                D::Interval(IntervalUnit::MonthDayNano),
                PgTypeInfo::INTERVAL,
            ),
            (D::Interval(IntervalUnit::YearMonth), PgTypeInfo::INTERVAL),
            (D::Duration(TimeUnit::Millisecond), PgTypeInfo::INTERVAL),
            (D::Null, PgTypeInfo::TEXT),
            (
                D::Dictionary(Box::new(D::Int32), Box::new(D::Utf8)),
                PgTypeInfo::TEXT,
            ),
            (D::new_list(D::Int32, true), PgTypeInfo::INT4_ARRAY),
            (D::new_large_list(D::Utf8, true), PgTypeInfo::TEXT_ARRAY),
            (
                D::new_fixed_size_list(D::Float64, 3, true),
                PgTypeInfo::FLOAT8_ARRAY,
            ),
            (
                D::new_list(D::new_list(D::Int64, true), true),
                PgTypeInfo::INT8_ARRAY,
            ),
            (
                D::new_list(D::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), true),
                PgTypeInfo::TIMESTAMPTZ_ARRAY,
            ),
            (
                D::Struct(vec![Field::new("a", D::Int32, true)].into()),
                PgTypeInfo::RECORD,
            ),
            (
                D::new_list(
                    D::Struct(vec![Field::new("a", D::Int32, true)].into()),
                    true,
                ),
                PgTypeInfo::RECORD_ARRAY,
            ),
        ];
        for (dt, want) in cases {
            assert_eq!(pg_type_of_arrow(&dt), want, "{dt}");
        }
    }

    #[test]
    fn tags() {
        for (tag, dt, want) in [
            ("varchar", DataType::Utf8, PgTypeInfo::VARCHAR),
            ("json", DataType::Utf8, PgTypeInfo::JSON),
            ("jsonb", DataType::LargeUtf8, PgTypeInfo::JSONB),
            ("numeric", DataType::Decimal128(38, 10), PgTypeInfo::NUMERIC),
            (
                "timestamptz",
                DataType::Timestamp(TimeUnit::Microsecond, Some(UTC_TZ.into())),
                PgTypeInfo::TIMESTAMPTZ,
            ),
            (
                "jsonb",
                DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8)),
                PgTypeInfo::JSONB,
            ),
            // a tag that does not fit the data, or an unknown tag, is ignored
            ("int4", DataType::Int64, PgTypeInfo::INT8),
            ("jsonb", DataType::Int32, PgTypeInfo::INT4),
            ("geometry", DataType::Utf8, PgTypeInfo::TEXT),
        ] {
            assert_eq!(
                pg_type_of_field(&tagged(dt.clone(), tag)),
                want,
                "{tag} on {dt}"
            );
        }
    }

    #[test]
    fn oid_to_arrow() {
        for t in [
            PgTypeInfo::BOOL,
            PgTypeInfo::BYTEA,
            PgTypeInfo::INT2,
            PgTypeInfo::INT4,
            PgTypeInfo::INT8,
            PgTypeInfo::FLOAT4,
            PgTypeInfo::FLOAT8,
            PgTypeInfo::NUMERIC,
            PgTypeInfo::TEXT,
            PgTypeInfo::VARCHAR,
            PgTypeInfo::JSON,
            PgTypeInfo::JSONB,
            PgTypeInfo::DATE,
            PgTypeInfo::TIME,
            PgTypeInfo::TIMESTAMP,
            PgTypeInfo::TIMESTAMPTZ,
            PgTypeInfo::INTERVAL,
            PgTypeInfo::INT4_ARRAY,
            PgTypeInfo::TEXT_ARRAY,
            PgTypeInfo::JSONB_ARRAY,
            PgTypeInfo::TIMESTAMPTZ_ARRAY,
        ] {
            let f = arrow_field_of_oid("p", t.oid).unwrap();
            assert_eq!(pg_type_of_field(&f), t, "{}", t.name);
            assert_eq!(arrow_type_of_oid(t.oid).as_ref(), Some(f.data_type()));
        }
        assert_eq!(
            arrow_type_of_oid(oids::NUMERIC),
            Some(DataType::Decimal128(38, 10))
        );
        assert_eq!(arrow_type_of_oid(0), None);
        assert_eq!(arrow_type_of_oid(oids::UUID), None);
        assert_eq!(arrow_type_of_oid(oids::BPCHAR), Some(DataType::Utf8));
    }
}
