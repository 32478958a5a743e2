use std::collections::HashMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    DataType, Field, Float64Type, Int32Type, Schema, TimeUnit, TimestampMicrosecondType,
};

use super::*;
use crate::tz::TimeZoneSetting;

fn col(name: &str, dt: DataType, tag: &str, nullable: bool) -> Field {
    Field::new(name, dt, nullable).with_metadata(HashMap::from([(
        crate::decode::PG_TYPE_METADATA_KEY.to_string(),
        tag.to_string(),
    )]))
}

/// `t(a int, v text, w int)`, as in the PostgreSQL sessions the expectations come from.
fn schema_avw(w_nullable: bool) -> SchemaRef {
    Arc::new(Schema::new(vec![
        col("a", DataType::Int32, "int4", true),
        col("v", DataType::Utf8, "text", true),
        col("w", DataType::Int32, "int4", w_nullable),
    ]))
}

/// `c(a int, v text, w text)`.
fn schema_avw_text() -> SchemaRef {
    Arc::new(Schema::new(vec![
        col("a", DataType::Int32, "int4", true),
        col("v", DataType::Utf8, "text", true),
        col("w", DataType::Utf8, "text", true),
    ]))
}

fn parse_all(
    schema: &SchemaRef,
    opts: &CopyOptions,
    chunks: &[&[u8]],
    batch_rows: usize,
) -> Result<Vec<RecordBatch>, CopyError> {
    let mut p = CopyParser::new(
        Arc::clone(schema),
        opts.clone(),
        batch_rows,
        TimeZoneSetting::fixed(0),
    )
    .with_table_name("t");
    let mut out = Vec::new();
    for c in chunks {
        out.extend(p.feed(c)?);
    }
    out.extend(p.finish()?);
    Ok(out)
}

/// Render all rows as strings ("NULL" for nulls) for easy comparison.
fn rows(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let mut row = Vec::new();
            for c in b.columns() {
                if c.is_null(r) {
                    row.push("NULL".to_string());
                    continue;
                }
                row.push(match c.data_type() {
                    DataType::Int32 => c.as_primitive::<Int32Type>().value(r).to_string(),
                    DataType::Float64 => c.as_primitive::<Float64Type>().value(r).to_string(),
                    DataType::Utf8 => c.as_string::<i32>().value(r).to_string(),
                    DataType::Timestamp(..) => c
                        .as_primitive::<TimestampMicrosecondType>()
                        .value(r)
                        .to_string(),
                    other => format!("<{other}>"),
                });
            }
            out.push(row);
        }
    }
    out
}

fn r(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn text_escapes_and_nulls() {
    let s = schema_avw_text();
    let data = b"1\ta\\x41\\101\\tb\\\\c\\zq\t\\N\n2\t\\\\N\t\n3\t\\N\tx\\\ny\n4\ta\\b\\f\\n\\r\\v\\7\\x7z\\x\t\\.\n";
    let got = rows(&parse_all(&s, &CopyOptions::text(), &[data], 100).unwrap());
    assert_eq!(
        got,
        vec![
            r(&["1", "aAA\tb\\czq", "NULL"]),
            r(&["2", "\\N", ""]),
            r(&["3", "NULL", "x\ny"]),
            r(&["4", "a\u{8}\u{c}\n\r\u{b}\u{7}\u{7}zx", "."]),
        ]
    );
}

#[test]
fn text_custom_delimiter_and_null() {
    // PostgreSQL: copy c from stdin with (format text, delimiter '|', null 'NULL')
    let s = schema_avw_text();
    let opts = CopyOptions {
        delimiter: b'|',
        null: "NULL".into(),
        ..CopyOptions::text()
    };
    let got = rows(&parse_all(&s, &opts, &[b"8|a\\|b|NULL\n9|\\N|x\\\ny\n"], 10).unwrap());
    assert_eq!(got, vec![r(&["8", "a|b", "NULL"]), r(&["9", "N", "x\ny"])]);
}

#[test]
fn text_crlf_end_marker_and_last_line_without_newline() {
    let s = schema_avw_text();
    let got = rows(
        &parse_all(
            &s,
            &CopyOptions::text(),
            &[b"1\ta\tb\r\n2\tc\td\r\n\\.\r\n3\tignored\tx\n"],
            10,
        )
        .unwrap(),
    );
    assert_eq!(got, vec![r(&["1", "a", "b"]), r(&["2", "c", "d"])]);
    let got = rows(&parse_all(&s, &CopyOptions::text(), &[b"1\ta\tb\n2\tc\td"], 10).unwrap());
    assert_eq!(got, vec![r(&["1", "a", "b"]), r(&["2", "c", "d"])]);
    // end marker without a trailing newline
    let got = rows(&parse_all(&s, &CopyOptions::text(), &[b"1\ta\tb\n\\."], 10).unwrap());
    assert_eq!(got, vec![r(&["1", "a", "b"])]);
    // a lone carriage return is an error
    let e = parse_all(&s, &CopyOptions::text(), &[b"1\ta\rb\tc\n"], 10).unwrap_err();
    assert_eq!(
        (e.sqlstate, e.message.as_str(), e.line),
        ("22P04", "literal carriage return found in data", 1)
    );
}

#[test]
fn csv_quotes_newlines_header() {
    // Same data as a PostgreSQL 15 session (copy c from stdin csv) — expected rows from it.
    let s = schema_avw_text();
    let data = b"1,\"a\"\"b\",x\n2,a\"b,c\"d,\"y\"\n3,,\"\"\n4,\"multi\nline\",NULL\n5,  \"sp\"  ,z\n\\.\n";
    let got = rows(&parse_all(&s, &CopyOptions::csv(), &[data], 100).unwrap());
    assert_eq!(
        got,
        vec![
            r(&["1", "a\"b", "x"]),
            r(&["2", "ab,cd", "y"]),
            r(&["3", "NULL", ""]),
            r(&["4", "multi\nline", "NULL"]),
            r(&["5", "  sp  ", "z"]),
        ]
    );
    // custom escape and null: with (format csv, escape '\', null 'NULL')
    let opts = CopyOptions {
        escape: b'\\',
        null: "NULL".into(),
        ..CopyOptions::csv()
    };
    let got = rows(
        &parse_all(
            &s,
            &opts,
            &[b"6,\"a\\\"b\\\\c\\d\",NULL\n7,\"NULL\",\"\"\n"],
            10,
        )
        .unwrap(),
    );
    assert_eq!(
        got,
        vec![r(&["6", "a\"b\\c\\d", "NULL"]), r(&["7", "NULL", ""])]
    );
    // header is skipped, CRLF accepted, quoted CRLF kept
    let opts = CopyOptions {
        header: true,
        ..CopyOptions::csv()
    };
    let got = rows(&parse_all(&s, &opts, &[b"a,v,w\r\n1,\"x\r\ny\",z\r\n2,q,\r\n"], 10).unwrap());
    assert_eq!(got, vec![r(&["1", "x\r\ny", "z"]), r(&["2", "q", "NULL"])]);
}

#[test]
fn csv_unterminated_quote() {
    let s = schema_avw_text();
    let mut p = CopyParser::new(
        Arc::clone(&s),
        CopyOptions::csv(),
        10,
        TimeZoneSetting::fixed(0),
    )
    .with_table_name("t");
    assert!(p.feed(b"1,a,b\n2,\"open\nstill open").unwrap().is_empty());
    let e = p.finish().unwrap_err();
    assert_eq!(
        (e.sqlstate, e.message.as_str()),
        ("22P04", "unterminated CSV quoted field")
    );
    // poisoned afterwards
    assert!(p.finish().is_err());
    assert!(p.feed(b"x").is_err());
}

#[test]
fn field_count_errors_match_postgres() {
    // PostgreSQL 15, `create table t(a int, v text, w int not null default 0)`.
    let s = schema_avw(true);
    let e = parse_all(&s, &CopyOptions::text(), &[b"1\tx\t1\n2\ty\t1\n3\tz\n"], 10).unwrap_err();
    assert_eq!(e.sqlstate, "22P04");
    assert_eq!(e.message, "missing data for column \"w\"");
    assert_eq!(e.line, 3);
    assert_eq!(e.context, "COPY t, line 3: \"3\tz\"");
    assert_eq!(e.column, None);

    let e = parse_all(&s, &CopyOptions::text(), &[b"1\tx\t1\t5\n"], 10).unwrap_err();
    assert_eq!(
        (e.sqlstate, e.message.as_str()),
        ("22P04", "extra data after last expected column")
    );
    assert_eq!(
        (e.line, e.context.as_str()),
        (1, "COPY t, line 1: \"1\tx\t1\t5\"")
    );

    // a conversion error in an earlier column wins over missing data
    let e = parse_all(&s, &CopyOptions::text(), &[b"\n"], 10).unwrap_err();
    assert_eq!(
        (e.sqlstate, e.message.as_str()),
        ("22P02", "invalid input syntax for type integer: \"\"")
    );
    assert_eq!(e.context, "COPY t, line 1, column a: \"\"");
    let e = parse_all(&s, &CopyOptions::text(), &[b"1\n"], 10).unwrap_err();
    assert_eq!(
        (e.message.as_str(), e.context.as_str()),
        ("missing data for column \"v\"", "COPY t, line 1: \"1\"")
    );
}

#[test]
fn bad_value_names_line_and_column() {
    let s = schema_avw(true);
    let e = parse_all(&s, &CopyOptions::text(), &[b"1\tx\t1\n2\ty\tabc\n"], 10).unwrap_err();
    assert_eq!(e.sqlstate, "22P02");
    assert_eq!(e.message, "invalid input syntax for type integer: \"abc\"");
    assert_eq!(e.line, 2);
    assert_eq!(e.column.as_deref(), Some("w"));
    assert_eq!(e.context, "COPY t, line 2, column w: \"abc\"");
    assert_eq!(
        e.to_string(),
        "invalid input syntax for type integer: \"abc\" (CONTEXT: COPY t, line 2, column w: \"abc\")"
    );

    // CSV: PostgreSQL does not count the newline inside quotes in the first row (the line
    // ending is not known yet), so the second row is "line 2".
    let e = parse_all(
        &s,
        &CopyOptions::csv(),
        &[b"1,\"multi\nline\",1\n2,\"y\",zz\n"],
        10,
    )
    .unwrap_err();
    assert_eq!(
        (e.line, e.context.as_str()),
        (2, "COPY t, line 2, column w: \"zz\"")
    );

    // ...but it does once the line ending is known (here from the header).
    let s_nn = schema_avw(false);
    let opts = CopyOptions {
        header: true,
        ..CopyOptions::csv()
    };
    let e = parse_all(
        &s_nn,
        &opts,
        &[b"a,v,w\n1,\"multi\nline\",1\n2,\"y\",\n"],
        10,
    )
    .unwrap_err();
    assert_eq!(e.sqlstate, "23502");
    assert_eq!(
        e.message,
        "null value in column \"w\" of relation \"t\" violates not-null constraint"
    );
    assert_eq!(e.line, 4);
    assert_eq!(e.context, "COPY t, line 4: \"2,\"y\",\"");

    // \000 produces NUL: invalid in UTF-8 text (line-level context, as PostgreSQL)
    let e = parse_all(&s, &CopyOptions::text(), &[b"1\ta\\000b\t1\n"], 10).unwrap_err();
    assert_eq!(
        (e.sqlstate, e.message.as_str()),
        ("22021", "invalid byte sequence for encoding \"UTF8\": 0x00")
    );
    assert_eq!(e.context, "COPY t, line 1: \"1\ta\\000b\t1\"");

    // long values are cut at 100 bytes in the context
    let long = "9".repeat(150);
    let data = format!("{long}\tx\t1\n");
    let e = parse_all(&s, &CopyOptions::text(), &[data.as_bytes()], 10).unwrap_err();
    assert_eq!(e.sqlstate, "22003");
    assert_eq!(
        e.context,
        format!("COPY t, line 1, column a: \"{}...\"", &long[..100])
    );

    // with no table name
    let mut p = CopyParser::new(
        Arc::clone(&s),
        CopyOptions::text(),
        10,
        TimeZoneSetting::fixed(0),
    );
    let e = p.feed(b"x\ty\t1\n").unwrap_err();
    assert_eq!(e.context, "COPY, line 1, column a: \"x\"");
}

#[test]
fn batches_and_row_counts() {
    let s = schema_avw(true);
    let mut p = CopyParser::new(
        Arc::clone(&s),
        CopyOptions::text(),
        2,
        TimeZoneSetting::fixed(0),
    );
    let b1 = p.feed(b"1\ta\t1\n2\tb\t2\n3\tc\t3\n4\td").unwrap();
    assert_eq!(b1.len(), 1);
    assert_eq!(b1[0].num_rows(), 2);
    assert_eq!(p.rows(), 3);
    let b2 = p.feed(b"\t4\n5\te\t5\n").unwrap();
    assert_eq!(b2.len(), 1);
    let last = p.finish().unwrap().unwrap();
    assert_eq!(last.num_rows(), 1);
    assert_eq!(p.rows(), 5);
    assert_eq!(last.schema(), s);
    assert_eq!(rows(&[last]), vec![r(&["5", "e", "5"])]);
    // nothing left → None
    let mut p = CopyParser::new(
        Arc::clone(&s),
        CopyOptions::text(),
        2,
        TimeZoneSetting::fixed(0),
    );
    assert_eq!(p.feed(b"1\ta\t1\n2\tb\t2\n").unwrap().len(), 1);
    assert!(p.finish().unwrap().is_none());
    // empty input
    let mut p = CopyParser::new(
        Arc::clone(&s),
        CopyOptions::csv(),
        2,
        TimeZoneSetting::fixed(0),
    );
    assert!(p.finish().unwrap().is_none());
    assert_eq!(p.rows(), 0);
}

#[test]
fn typed_columns_timestamptz_session_zone() {
    let s: SchemaRef = Arc::new(Schema::new(vec![
        col(
            "time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
            "timestamptz",
            false,
        ),
        col("usage", DataType::Float64, "float8", true),
    ]));
    let mut p = CopyParser::new(
        Arc::clone(&s),
        CopyOptions::csv(),
        10,
        TimeZoneSetting::fixed(3600),
    );
    p.feed(b"2024-01-01 01:00:00,1.5\n2024-01-01 00:00:00+00,NaN\n\"2024-01-01T00:00:00Z\",\n")
        .unwrap();
    let b = p.finish().unwrap().unwrap();
    assert_eq!(
        rows(&[b]),
        vec![
            r(&["1704067200000000", "1.5"]),
            r(&["1704067200000000", "NaN"]),
            r(&["1704067200000000", "NULL"])
        ]
    );
}

#[test]
fn all_column_types_csv() {
    use arrow::datatypes::IntervalUnit;
    let s: SchemaRef = Arc::new(Schema::new(vec![
        col("i2", DataType::Int16, "int2", true),
        col("i8", DataType::Int64, "int8", true),
        col("f4", DataType::Float32, "float4", true),
        col("n", DataType::Decimal128(10, 3), "numeric", true),
        col("b", DataType::Boolean, "bool", true),
        col("by", DataType::Binary, "bytea", true),
        col("d", DataType::Date32, "date", true),
        col(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            "timestamp",
            true,
        ),
        col(
            "iv",
            DataType::Interval(IntervalUnit::MonthDayNano),
            "interval",
            true,
        ),
        col("j", DataType::Utf8, "json", true),
        col("jb", DataType::Utf8, "jsonb", true),
        col("vc", DataType::Utf8, "varchar", true),
    ]));
    let data = b"-7,9000000000,1.5,12.3456,yes,\\x0aff,2024-02-29,2024-02-29 12:00:00.25,1 day 02:00,\"{\"\"b\"\":1}\",\"{\"\"b\"\":1,\"\"a\"\":[1.50]}\",hi\n\
                 ,,,,,,,,,,,\n";
    let got = parse_all(&s, &CopyOptions::csv(), &[data], 10).unwrap();
    assert_eq!(got.len(), 1);
    let b = &got[0];
    assert_eq!(b.schema(), s);
    assert_eq!(b.num_rows(), 2);
    for (i, c) in b.columns().iter().enumerate() {
        assert_eq!(c.data_type(), s.field(i).data_type());
        assert!(c.is_valid(0) && c.is_null(1), "column {i}");
    }
    use arrow::datatypes::{
        Date32Type, Decimal128Type, Float32Type, Int16Type, Int64Type, IntervalMonthDayNanoType,
    };
    assert_eq!(b.column(0).as_primitive::<Int16Type>().value(0), -7);
    assert_eq!(
        b.column(1).as_primitive::<Int64Type>().value(0),
        9_000_000_000
    );
    assert_eq!(b.column(2).as_primitive::<Float32Type>().value(0), 1.5);
    assert_eq!(b.column(3).as_primitive::<Decimal128Type>().value(0), 12346);
    assert!(b.column(4).as_boolean().value(0));
    assert_eq!(b.column(5).as_binary::<i32>().value(0), &[0x0a, 0xff]);
    assert_eq!(b.column(6).as_primitive::<Date32Type>().value(0), 19_782);
    assert_eq!(
        b.column(7)
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        1_709_208_000_250_000
    );
    let iv = b
        .column(8)
        .as_primitive::<IntervalMonthDayNanoType>()
        .value(0);
    assert_eq!(
        (iv.months, iv.days, iv.nanoseconds),
        (0, 1, 7_200_000_000_000)
    );
    assert_eq!(b.column(9).as_string::<i32>().value(0), "{\"b\":1}");
    assert_eq!(
        b.column(10).as_string::<i32>().value(0),
        "{\"a\": [1.50], \"b\": 1}"
    );
    assert_eq!(b.column(11).as_string::<i32>().value(0), "hi");
}

/// Feeding the input split at every byte offset (and at every pair of offsets) must give
/// exactly the one-shot result, including errors and their line numbers.
fn check_splits(schema: &SchemaRef, opts: &CopyOptions, data: &[u8], pairs: bool) {
    let whole = parse_all(schema, opts, &[data], 3).map(|b| rows(&b));
    for i in 0..=data.len() {
        let got = parse_all(schema, opts, &[&data[..i], &data[i..]], 3).map(|b| rows(&b));
        assert_eq!(got, whole, "split at {i}");
        if pairs {
            for j in i..=data.len() {
                let got = parse_all(schema, opts, &[&data[..i], &data[i..j], &data[j..]], 3)
                    .map(|b| rows(&b));
                assert_eq!(got, whole, "split at {i}, {j}");
            }
        }
    }
    // and byte by byte
    let chunks: Vec<&[u8]> = data.chunks(1).collect();
    assert_eq!(
        parse_all(schema, opts, &chunks, 3).map(|b| rows(&b)),
        whole,
        "byte by byte"
    );
}

#[test]
fn split_at_every_offset_text() {
    let s = schema_avw_text();
    let data = b"1\ta\\tb\t\\N\r\n2\t\\\\\tx\\\ny\n3\t\xc3\xa9t\xc3\xa9\t\\x41\n4\t\t\n5\tq\tr";
    check_splits(&s, &CopyOptions::text(), data, true);
    assert_eq!(
        rows(&parse_all(&s, &CopyOptions::text(), &[data], 3).unwrap()).len(),
        5
    );
    check_splits(&s, &CopyOptions::text(), b"1\ta\tb\n\\.\n2\tjunk", false);
    // errors too
    check_splits(
        &schema_avw(true),
        &CopyOptions::text(),
        b"1\ta\t1\n2\tb\t2\n3\tc\n",
        false,
    );
    check_splits(
        &schema_avw(true),
        &CopyOptions::text(),
        b"1\ta\t1\n2\tb\tx\n",
        false,
    );
}

#[test]
fn split_at_every_offset_csv() {
    let s = schema_avw_text();
    let data =
        b"1,\"a\"\"b\",x\r\n2,\"multi\nline\",\"\"\n3,,\"q,\"\"\"\n4,\"\"\"\",z\n5,a\"b,c\"d,";
    check_splits(&s, &CopyOptions::csv(), data, true);
    let got = rows(&parse_all(&s, &CopyOptions::csv(), &[data], 3).unwrap());
    assert_eq!(
        got,
        vec![
            r(&["1", "a\"b", "x"]),
            r(&["2", "multi\nline", ""]),
            r(&["3", "NULL", "q,\""]),
            r(&["4", "\"", "z"]),
            r(&["5", "ab,cd", "NULL"]),
        ]
    );
    let opts = CopyOptions {
        header: true,
        escape: b'\\',
        ..CopyOptions::csv()
    };
    check_splits(
        &s,
        &opts,
        b"h1,h2,\"h\n3\"\n1,\"a\\\"b\\\\\",\"x\\y\"\n2,\"\",",
        false,
    );
    // unterminated quote at the end
    check_splits(&s, &CopyOptions::csv(), b"1,a,b\n2,\"x\n", false);
    // error line numbers after embedded newlines
    check_splits(
        &schema_avw(true),
        &CopyOptions::csv(),
        b"1,a,1\n2,\"b\nc\",2\n3,d,x\n",
        false,
    );
}

/// Random COPY payloads (over the bytes that matter to the framing) split at random
/// points must give exactly the one-shot result, errors included.
#[test]
fn random_payloads_chunking_invariant() {
    const ALPHABET: &[u8] = b"ab1\t\t\n\n\r\\\\\",,,N.x";
    let mut x: u64 = 0xDEAD_BEEF_1234_5678;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let s = schema_avw_text();
    let opts = [
        CopyOptions::text(),
        CopyOptions::csv(),
        CopyOptions {
            header: true,
            escape: b'\\',
            ..CopyOptions::csv()
        },
        CopyOptions {
            delimiter: b',',
            null: "N".into(),
            ..CopyOptions::text()
        },
    ];
    for _ in 0..3000 {
        let len = (next() % 40) as usize;
        let data: Vec<u8> = (0..len)
            .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
            .collect();
        let o = &opts[(next() % opts.len() as u64) as usize];
        let whole = parse_all(&s, o, &[&data], 2).map(|b| rows(&b));
        let i = (next() % (len as u64 + 1)) as usize;
        let j = i + (next() % ((len - i) as u64 + 1)) as usize;
        let split = parse_all(&s, o, &[&data[..i], &data[i..j], &data[j..]], 2).map(|b| rows(&b));
        assert_eq!(
            split,
            whole,
            "{:?} split at {i},{j} ({:?})",
            String::from_utf8_lossy(&data),
            o.format
        );
    }
}

// ---------------------------------------------------------------------------------------
// Throughput (run with: cargo test -p strata-pgtypes --release -- --ignored --nocapture copy_throughput)

// The COPY parsing throughput benchmark lives in `benches/copy_parse.rs`.

/// Text fields of rows checked as a whole (`checked_rows`) and fields checked one by one
/// (after the last line end, or with escapes) give the same values; invalid UTF-8 or a raw
/// NUL anywhere in a buffer is still refused with 22021 on its own line, however the data
/// is split.
#[test]
fn text_fields_checked_by_buffer_or_by_field() {
    assert_eq!(checked_rows(b"a\tb\nc\td"), "a\tb\n");
    assert_eq!(checked_rows(b"a\r\n\xc3\xa9\n\xc3"), "a\r\n\u{e9}\n");
    assert_eq!(checked_rows(b"no line end"), "");
    assert_eq!(checked_rows(b"a\0b\nc\n"), "");
    assert_eq!(checked_rows(b"\xff\n"), "");

    let s = schema_avw_text();
    for (opts, data) in [
        (
            CopyOptions::text(),
            &b"1\t\xc3\xa9t\xc3\xa9\t\xe2\x82\xac\n2\tx\\ty\t\xf0\x9f\x98\x80\n3\tz\t\xc3\xa9"[..],
        ),
        (
            CopyOptions::csv(),
            &b"1,\xc3\xa9t\xc3\xa9,\"\xe2\x82\xac,\"\n2,\"x\"\"y\",\xf0\x9f\x98\x80\n3,z,\xc3\xa9"
                [..],
        ),
    ] {
        let want = vec![
            r(&[
                "1",
                "\u{e9}t\u{e9}",
                if opts.format == CopyFormat::Csv {
                    "\u{20ac},"
                } else {
                    "\u{20ac}"
                },
            ]),
            r(&[
                "2",
                if opts.format == CopyFormat::Csv {
                    "x\"y"
                } else {
                    "x\ty"
                },
                "\u{1f600}",
            ]),
            r(&["3", "z", "\u{e9}"]),
        ];
        assert_eq!(rows(&parse_all(&s, &opts, &[data], 10).unwrap()), want);
        check_splits(&s, &opts, data, false);
    }

    for (data, line) in [
        (&b"1\ta\t1\n2\tb\xff\t2\n"[..], 2),
        (&b"1\ta\xc3\t1\n2\tb\t2\n"[..], 1),
        (&b"1\ta\t1\n2\tb\0c\t2\n"[..], 2),
        (&b"1\ta\t1\n2\tb\t2\n3\tc\xe2\x82"[..], 3),
    ] {
        let e = parse_all(&schema_avw(true), &CopyOptions::text(), &[data], 10).unwrap_err();
        assert_eq!((e.sqlstate, e.line), ("22021", line), "{e:?}");
        check_splits(&schema_avw(true), &CopyOptions::text(), data, false);
    }
}
