#!/usr/bin/env python3
"""Regenerate pg_cases.rs: expected results of PostgreSQL text input, taken from a real
PostgreSQL 15 server (session TimeZone = UTC, DateStyle = ISO, MDY).

For every (type, input) the server returns either the value's binary send form (hex) or
the error's SQLSTATE and message. The Rust test parses the input with
`parse_text_value` and compares it with `parse_binary_value` of the expected bytes.

Usage: PGHOST=/tmp PGPORT=55433 PGUSER=pgtest python3 gen_pg_cases.py > pg_cases.rs
"""
import os
import subprocess
import sys

SEND = {
    "int2": "int2send", "int4": "int4send", "int8": "int8send",
    "float4": "float4send", "float8": "float8send",
    "bool": "boolsend", "bytea": "byteasend", "date": "date_send",
    "timestamp": "timestamp_send", "timestamptz": "timestamptz_send",
    "interval": "interval_send", "json": "json_send", "jsonb": "jsonb_send",
    "text": "textsend",
}

CASES = {
    "int2": [" +12 ", "-32768", "32767", "32768", "-32769", "99999", "abc", "", " ", "1.5", "+", "-",
             "0x10", " 12 3", "-0", "00012", "\t7\n", "99999999999999999999"],
    "int4": ["2147483647", "-2147483648", "2147483648", "abc", "1e3", "\t42\n", "+0", "12a"],
    "int8": ["9223372036854775807", "-9223372036854775808", "9223372036854775808",
             "-9223372036854775809", "123456789012345678901234", " -42 ", "x1"],
    "float8": ["NaN", "nan", "Infinity", "-Infinity", "inf", "-inf", "+inf", "INFINITY", "1e5", ".5",
               "5.", " 5. ", "-0", "1e400", "-1e400", "1e-400", "1e-310", "x", "", "1.7976931348623157e308",
               "4.9e-324", "0.1", "123456789.123456789", "1e", "e5", "1.2.3", "  -12.5e-3  ", "+1.5E+3",
               "-nan", "1_000"],
    "float4": ["3.14", "1e40", "1e-50", "1e-40", "NaN", "-inf", "16777217", "x", "0.1", "3.4028235e38",
               "3.5e38"],
    "numeric(5,2)": ["1.005", "-1.005", "1.0049", "1e2", "999.994", "999.995", "-999.995", "1000", "abc",
                     "Infinity", "-Infinity", "1e", ".", "5.", ".5", " -0.5 ", "+3", "1.5e-1",
                     "0.005", "-0.005", "0.0049", "12.3e+1", "1E-2", "00001.50", "-", "1 2", "1e-1000"],
    "numeric(3,0)": [" -0.5 ", "0.5", "1.5", "2.5", "999.4", "999.5", "-999.5", "0.4999"],
    "numeric(38,10)": ["123456789012345678901234567.89", "1234567890123456789012345678",
                       "12345678901234567890123456789", "0.00000000005", "0.000000000049999", "1e-20",
                       "-1e27", "3.14159265358979323846", "0", "-0.0"],
    "bool": ["t", "f", "true", "false", "yes", "no", "on", "off", "1", "0", "TR", "fa", " YES ", "of", "o",
             "11", "", "y", "n", "tRuE", "offf", "2", "\ttrue\n"],
    "bytea": ["\\x0a0B", "\\x 0a 0b", "\\x", "abc\\\\000", "a\\001b\\\\", "\\x0a0", "\\x0g", "a\\9", "a\\",
              "plain", "\\X0a", "\\x0a 0", "\\x0a\n0b", "caf\u00e9", "\\xé", "\\377\\000", "\\400"],
    "date": ["2024-01-31", "20240131", "2024-1-5", "Jan 31 2024", "epoch", "infinity", "-infinity",
             "31 Jan 2024", "January 31, 2024", "2024-Jan-31", "1/31/2024", "1/31/24", "2024.01.31",
             "2024-01-31 13:45", "2024-01-31T13:45:00Z", "2024-02-30", "2024-13-01", "x", "5874897-12-31",
             "5874898-01-01", "0001-01-01 BC", "4714-11-24 BC", "4714-11-23 BC", "24-01-31",
             "Wed Jan 31 2024", "  2024-01-01  ", "2024/01/31", "01/02/2024", "31/01/2024", "2024-02-29",
             "2023-02-29", "0000-01-01", "1999-12-31", "1970-01-01", "1969-12-31", "12/31/99", "1/1/69",
             "1/1/70", "jan-31-2024", "31-jan-2024", "2024-01-31 America/New_York", "", "2024-01",
             "Feb 29 2023", "2024-01-31 25:00", "2024-01-31 +05", "99999-01-01", "20240132",
             "2024-01-31 junk"],
    "timestamp": ["2024-01-01 00:05:00", "2024-01-01T00:05:00", "2024-01-01 00:05:00.123456", "2024-01-01",
                  "2024-01-01 00:05:00+05", "2024-01-01 00:05:00 UTC", "2024-01-01 00:05:00.1234565",
                  "2024-01-01 00:05:00.1234575", "2024-01-01 23:59:59.9999999", "2024-01-01 24:00:00",
                  "2024-01-01 23:59:60", "2024-01-01 24:00:01", "2024-01-01 25:00", "x",
                  "2024-01-01 1:00 PM", "2024-01-01 12:00 am", "2024-01-01 12:30:00 pm", "2024-01-01 13:00 pm",
                  "epoch", "infinity", "-infinity", "294277-01-01", "2024-01-01 00:05:00 BC",
                  "Jan 1 00:05 2024", "20240101T000500", "20240101 000500", "2024-01-01 000500",
                  "2024-01-01 00:05", "2024-01-01 00:05:00.", "2024-01-01 5:6:7", "allballs",
                  "2024-01-01 allballs", "12:00 2024-01-31", "2024-01-01 00:05:00.5", "2024-01-01T00:05:00.5Z",
                  "1999-12-31 23:59:59.9999995", "2024-01-01 00:00:00.0000005", "2024-01-01 00:00:00.0000015",
                  "  2024-01-01 00:05:00  ", "2024-01-01 00:60:00", "2024-01-01 00:05:61", "2024-01-01T",
                  "1900-02-28 12:00:00", "0001-01-01 00:00:00", "4714-11-24 00:00:00 BC",
                  "2024-01-01 00:05:00 America/New_York", "2024-01-01 00:05:00 Foo/Bar",
                  "2024-01-01 00:05:00 foo", "2024-01-01 00:05:00+25", "2024-01-01 00:05:00.123+05:30",
                  "Wed Jan 31 12:34:56 2024", "2024-01-31 12:34:56.789 PST"],
    "timestamptz": ["2024-01-01 00:05:00+00", "2024-01-01 00:05:00+05:30", "2024-01-01 00:05:00Z",
                    "2024-01-01 00:05:00-0800", "2024-01-01 00:05:00 UTC", "2024-01-01 00:05:00 PST",
                    "2024-01-01 00:05:00 EST", "2024-01-01 00:05:00 Foo/Bar", "2024-01-01 00:05:00 foo",
                    "2024-01-01 00:05:00+25", "2024-01-01 00:05:00+16", "2024-01-01 00:05:00+15:59",
                    "2024-01-01 00:05:00-08:00:30", "2024-01-01 00:05:00+5", "2024-01-01 00:05:00 +5",
                    "2024-01-01T00:05:00.5+0530", "2024-01-01 00:05-8", "epoch", "infinity", "-infinity",
                    "2024-01-01 00:05:00", "2024-01-01", "2024-01-01 00:05:00 z", "2024-01-01 00:05:00 GMT",
                    "2024-01-01 00:05:00 Etc/UTC", "2024-01-01 00:05:00+00:60", "2024-06-01 12:00:00 CEST",
                    "2024-01-01 00:05:00.999999-01", "2024-01-01T00:05:00+01:00", "2024-01-01 00:05:00 -03",
                    "2024-01-01 00:05:00 UTC+3", "2024-01-01 00:05:00 JST", "2024-01-01 00:05:00+0530"],
    "interval": ["1 day 23:59:50", "1 year 2 mons 3 days 04:05:06.5", "-1 days +02:00:00", "2 hours",
                 "90 minutes", "1 week", "10 seconds", "1.5 days", "@ 1 hour ago", "P1DT2H", "PT30M",
                 "P1Y2M3DT4H5M6.5S", "P1.5Y", "P0.5M", "P1W", "P-1D", "P0001-02-03T04:05:06", "5",
                 "1 2:03", "01:02", "02:03.5", "-01:02:03", "1.51 years", "1.5 months", "1-2",
                 "1 day -1 hour", "1 mon 2 days ago", "-1 day -2:00 ago", "1 millisecond", "1.5 us",
                 "1 decade", "1 century", "1 millennium", "100 microseconds", "x", "2147483648 days",
                 "2147483648 months", "1 day 1 day", "1 hour 1 hour", "1 d 2 h 3 m 4 s", "1 yr 2 mon",
                 "3 mins 4 secs", "1 days 2 hrs", "+1 day", "- 1 day", "0.5 weeks", "1.000001 seconds",
                 "0.0000005 seconds", "0.0000015 seconds", "25:00:00", "100:00", "1:70", "@ 1 day 2 hours",
                 "P", "PT", "P1H", "1 day 02:03:04 ago", "1 week 2 days", "01:00 1 ms", "1 2 days",
                 "1 day 2", "-1.5 days", "-1.5 years", "1.5 weeks", "-1-2", "1 day ago 2 hours",
                 "P1Y-2M", "P1.5W", "PT1.5H", "P1DT", "PT-1.5S", "1:2:3:4", "3 days 1:2:3.5 ago",
                 "1e3 seconds", "", "ago", "1 fortnight", "178956970 years", "178956971 years",
                 "-178956970 years -8 mons", "2562047788 hours", "2562047789 hours", "1 hour 30",
                 " 1 day ", "1 DAY", "1 Day 2 HOURS", "p1d", "P1D ", "00:00:00.0000005", "0.1 ms",
                 "12:34:56.789", "-12:34:56.789", "1 mon -1 day +1 hour", "3 years 6 months",
                 "P2Y6M5DT12H35M30S", "P0.5Y", "PT0.000001S", "P1Y2M3D", "PT1H30M"],
    "json": ['{"a":1}', ' 1 ', '{"a":1', '{"a":01}', '[nan]', '[1.]', '[.5]', '[+1]', 'TRUE', '"\\u0000"',
             '"\\ud83d"', '{"a":[1,2,{"b":null}]}', '', '"x" "y"', '[1,]', '{"a" 1}', '"\\q"', '"\\u12"',
             '-0', '-', '1e5', '1E+5', '[true,false,null]', '"tab\there"', '{"a":1}x', '[1 2]', '"abc'],
    "jsonb": ['{"b":1,"a":2,"a":3, "aa":[1,2.50,1e2, -0, "x\\u0041"]}', ' 1 ', '"\\u0000"',
              '"\\ud83d\\ude00 \\n \\/ é"', '[1E-2, 1.0e+2, 0.1e1, -1.50E3]', '{}', '[]',
              '{"a":{}, "b":[]}', '"\\ud83d"', '{"a":1', '"\\u001f\\u0008x\\"\\\\"', '1e-7', '0.00',
              '-0.0e5', '123456789012345678901234567890', '{"bb":1,"a":{"y":1,"x":2}}',
              '[1,[2,[3,{"k":"v"}]]]', 'null', 'true', '"\\udc00"', '1e400'],
    "text": ["hello", "", " spaced ", "caf\u00e9", "tab\there"],
}


def pg_type(t):
    return t


def send_fn(t):
    if t.startswith("numeric"):
        return "numeric_send"
    return SEND[t]


def lit(s):
    return "'" + s.replace("'", "''") + "'"


def run(sql):
    p = subprocess.run(
        ["psql", "-X", "-At", "-v", "VERBOSITY=verbose", "-c", sql],
        capture_output=True, text=True, env={**os.environ, "PGOPTIONS": "-c TimeZone=UTC"})
    if p.returncode == 0:
        return ("ok", p.stdout.strip())
    for line in p.stderr.splitlines():
        if "ERROR:" in line:
            msg = line.split("ERROR:", 1)[1].strip()
            code, m = msg.split(": ", 1)
            return ("err", code, m)
    raise RuntimeError(p.stderr)


def rs(s):
    out = '"'
    for ch in s:
        if ch == '"':
            out += '\\"'
        elif ch == '\\':
            out += '\\\\'
        elif ch == '\n':
            out += '\\n'
        elif ch == '\t':
            out += '\\t'
        elif ch == '\r':
            out += '\\r'
        else:
            out += ch
    return out + '"'


def main():
    print("// @generated by gen_pg_cases.py from PostgreSQL 15 (TimeZone UTC). Do not edit.")
    print("// (type, input, Ok(hex of the *send output) | Err((sqlstate, message)))")
    print("pub(super) const PG_CASES: &[(&str, &str, Result<&str, (&str, &str)>)] = &[")
    for t, inputs in CASES.items():
        for s in inputs:
            sql = f"select encode({send_fn(t)}({lit(s)}::{pg_type(t)}), 'hex')"
            r = run(sql)
            if r[0] == "ok":
                print(f"    ({rs(t)}, {rs(s)}, Ok({rs(r[1])})),")
            else:
                print(f"    ({rs(t)}, {rs(s)}, Err(({rs(r[1])}, {rs(r[2])}))),")
    print("];")


if __name__ == "__main__":
    sys.exit(main())
