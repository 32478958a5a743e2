// pgjdbc transcript: what Metabase/DBeaver-style JDBC users do. Run by tests/clients_jvm_node.rs
// against Strata and PostgreSQL 15; both runs must print the same lines.
//
// Connection from the environment: PGHOST, PGPORT, PGUSER, PGDATABASE; STRATA_TARGET is
// "postgres" on the reference server, where a setup step defines Strata's time_bucket.

import java.sql.*;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.*;

public class Transcript {
    static void out(String s) {
        System.out.println(s);
    }

    static String show(Object o) {
        if (o == null) return "NULL";
        String cls = o.getClass().getName();
        String v;
        if (o instanceof byte[]) {
            StringBuilder b = new StringBuilder("\\x");
            for (byte x : (byte[]) o) b.append(String.format("%02x", x));
            v = b.toString();
        } else if (o instanceof Array) {
            try {
                v = Arrays.deepToString((Object[]) ((Array) o).getArray());
            } catch (SQLException e) {
                v = "array error " + e.getSQLState();
            }
        } else {
            v = o.toString();
        }
        return cls + ":" + v;
    }

    /** Header with JDBC types, then every row as type-revealing values. */
    static void dump(String title, ResultSet rs) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        StringBuilder h = new StringBuilder("  columns:");
        for (int i = 1; i <= md.getColumnCount(); i++) {
            h.append(' ').append(md.getColumnLabel(i)).append('[')
                .append(md.getColumnTypeName(i)).append('/').append(md.getColumnType(i))
                .append(']');
        }
        out(title);
        out(h.toString());
        while (rs.next()) {
            StringBuilder r = new StringBuilder("  row:");
            for (int i = 1; i <= md.getColumnCount(); i++) {
                r.append(' ').append(show(rs.getObject(i)));
            }
            out(r.toString());
        }
        rs.close();
    }

    /** Only the named columns of a metadata result set (the rest is server trivia). */
    static void dumpCols(String title, ResultSet rs, String... cols) throws SQLException {
        out(title);
        List<String> rows = new ArrayList<>();
        while (rs.next()) {
            StringBuilder r = new StringBuilder("  ");
            for (String c : cols) r.append(c).append('=').append(rs.getString(c)).append(' ');
            rows.add(r.toString().trim());
        }
        rs.close();
        for (String r : rows) out("  " + r);
    }

    static void error(String what, SQLException e) {
        out(what + ": ERROR " + e.getSQLState() + " " + firstLine(e.getMessage()));
    }

    static String firstLine(String m) {
        if (m == null) return "";
        int i = m.indexOf('\n');
        return i < 0 ? m : m.substring(0, i);
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://" + System.getenv("PGHOST") + ":" + System.getenv("PGPORT")
            + "/" + System.getenv("PGDATABASE") + "?reWriteBatchedInserts=true";
        Properties p = new Properties();
        p.setProperty("user", System.getenv("PGUSER"));
        p.setProperty("ApplicationName", "strata-jdbc-transcript");
        try (Connection c = DriverManager.getConnection(url, p)) {
            run(c);
        }
    }

    static void run(Connection c) throws Exception {
        DatabaseMetaData md = c.getMetaData();
        out("product: " + md.getDatabaseProductName());
        out("driver: " + md.getDriverName());
        try (Statement st = c.createStatement()) {
            try (ResultSet rs = st.executeQuery("SHOW application_name")) {
                rs.next();
                out("application_name: " + rs.getString(1));
            }
            try (ResultSet rs = st.executeQuery("SHOW extra_float_digits")) {
                rs.next();
                out("extra_float_digits: " + rs.getString(1));
            }
            st.execute("SET application_name = 'renamed'");
            try (ResultSet rs = st.executeQuery("SELECT current_setting('application_name'), current_schema()")) {
                rs.next();
                out("after SET: " + rs.getString(1) + " schema " + rs.getString(2));
            }
            if ("postgres".equals(System.getenv("STRATA_TARGET"))) {
                // Strata's time_bucket for the reference server (same query text on both).
                st.execute("CREATE FUNCTION time_bucket(interval, timestamptz) RETURNS timestamptz "
                    + "LANGUAGE sql IMMUTABLE AS $$ SELECT date_bin($1, $2, TIMESTAMPTZ '2000-01-03 00:00:00+00') $$");
                // Strata has TimescaleDB's information schema.
                st.execute("CREATE SCHEMA timescaledb_information");
            }
            st.execute("CREATE TABLE metrics (ts timestamptz NOT NULL, host text NOT NULL, "
                + "usage double precision, n bigint, ok boolean, PRIMARY KEY (host, ts))");
            out("created metrics");
        }

        // Schema discovery, as a SQL client's navigator does it.
        dumpCols("getSchemas", md.getSchemas(), "TABLE_SCHEM");
        dumpCols("getTables public", md.getTables(null, "public", "%", new String[] {"TABLE", "VIEW"}),
            "TABLE_SCHEM", "TABLE_NAME", "TABLE_TYPE");
        dumpCols("getColumns metrics", md.getColumns(null, "public", "metrics", "%"),
            "COLUMN_NAME", "DATA_TYPE", "TYPE_NAME", "COLUMN_SIZE", "DECIMAL_DIGITS", "NULLABLE",
            "IS_NULLABLE", "ORDINAL_POSITION", "IS_AUTOINCREMENT");
        try {
            dumpCols("getPrimaryKeys metrics", md.getPrimaryKeys(null, "public", "metrics"),
                "TABLE_NAME", "COLUMN_NAME", "KEY_SEQ");
        } catch (SQLException e) {
            error("getPrimaryKeys", e);
        }
        try {
            // The types a tool maps columns to; the full list is every pg_type row.
            Set<String> wanted = new TreeSet<>(Arrays.asList("bool", "int2", "int4", "int8", "float4",
                "float8", "numeric", "text", "varchar", "bytea", "date", "timestamp", "timestamptz",
                "interval", "json", "jsonb"));
            ResultSet rs = md.getTypeInfo();
            Map<String, String> seen = new TreeMap<>();
            while (rs.next()) {
                String n = rs.getString("TYPE_NAME");
                if (wanted.contains(n)) {
                    seen.put(n, "DATA_TYPE=" + rs.getInt("DATA_TYPE") + " PRECISION=" + rs.getInt("PRECISION")
                        + " NULLABLE=" + rs.getShort("NULLABLE") + " CASE_SENSITIVE=" + rs.getBoolean("CASE_SENSITIVE")
                        + " SEARCHABLE=" + rs.getShort("SEARCHABLE") + " UNSIGNED=" + rs.getBoolean("UNSIGNED_ATTRIBUTE"));
                }
            }
            rs.close();
            out("getTypeInfo");
            for (Map.Entry<String, String> e : seen.entrySet()) out("  " + e.getKey() + " " + e.getValue());
        } catch (SQLException e) {
            error("getTypeInfo", e);
        }

        // Batched insert: with reWriteBatchedInserts the driver sends multi-row VALUES.
        try (PreparedStatement ps = c.prepareStatement(
                "INSERT INTO metrics (ts, host, usage, n, ok) VALUES (?, ?, ?, ?, ?)")) {
            OffsetDateTime t0 = OffsetDateTime.of(2024, 1, 1, 0, 0, 0, 0, ZoneOffset.UTC);
            for (int i = 0; i < 12; i++) {
                ps.setObject(1, t0.plusMinutes(2 * i));
                ps.setString(2, i % 3 == 0 ? "b" : "a");
                if (i == 4) ps.setNull(3, Types.DOUBLE); else ps.setDouble(3, i * 1.25);
                ps.setLong(4, 1000000000000L + i);
                ps.setBoolean(5, i % 2 == 0);
                ps.addBatch();
            }
            int[] counts = ps.executeBatch();
            out("batch counts: " + Arrays.toString(counts));
        }
        // A plain Timestamp parameter (sent with type unspecified) and a string one.
        try (PreparedStatement ps = c.prepareStatement(
                "INSERT INTO metrics (ts, host, usage, n, ok) VALUES (?, ?, ?, ?, ?)")) {
            ps.setTimestamp(1, Timestamp.valueOf("2024-01-01 01:00:00"));
            ps.setString(2, "c");
            ps.setDouble(3, 0.1);
            ps.setInt(4, 7);
            ps.setBoolean(5, true);
            out("single insert: " + ps.executeUpdate());
        }

        // The same prepared query past prepareThreshold: server-prepared, then binary results.
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT time_bucket(INTERVAL '10 minutes', ts) AS bucket, host, avg(usage) AS avg_usage, "
                    + "count(*) AS cnt, max(n) AS max_n, bool_and(ok) AS all_ok FROM metrics "
                    + "WHERE host = ? AND ts >= ? GROUP BY 1, 2 ORDER BY 1")) {
            for (int i = 1; i <= 7; i++) {
                ps.setString(1, i % 2 == 0 ? "a" : "b");
                ps.setObject(2, OffsetDateTime.of(2024, 1, 1, 0, 0, 0, 0, ZoneOffset.UTC));
                dump("time_bucket execution " + i, ps.executeQuery());
            }
        }

        // Every common type, seven times (the last runs are binary for the types pgjdbc reads so).
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT CAST(? AS integer) + 1 AS i4, CAST(2 AS smallint) AS i2, CAST(? AS bigint) AS i8, "
                    + "CAST(1.5 AS real) AS f4, CAST(? AS double precision) AS f8, CAST('12.340' AS numeric) AS num, "
                    + "CAST(? AS text) AS txt, CAST('v' AS varchar) AS vc, true AS b, "
                    + "CAST('\\x0102ff' AS bytea) AS by, DATE '2024-02-29' AS d, "
                    + "TIMESTAMP '2024-01-02 03:04:05.678' AS ts, "
                    + "TIMESTAMPTZ '2024-01-02 03:04:05.678+00' AS tstz, INTERVAL '1 day 02:03:04' AS iv, "
                    + "CAST(NULL AS integer) AS nul")) {
            for (int i = 1; i <= 7; i++) {
                ps.setInt(1, 41);
                ps.setLong(2, -9000000000L);
                ps.setDouble(3, 0.1 + 0.2);
                ps.setString(4, "héllo");
                dump("types execution " + i, ps.executeQuery());
            }
        }
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT host, n, usage FROM metrics WHERE n > ? ORDER BY ts LIMIT 3")) {
            for (int i = 1; i <= 6; i++) {
                ps.setLong(1, 1000000000005L);
                dump("rows execution " + i, ps.executeQuery());
            }
        }

        try (Statement st = c.createStatement()) {
            dump("count", st.executeQuery("SELECT count(*), sum(n), avg(usage) FROM metrics"));
            try {
                st.executeQuery("SELECT 1/0");
            } catch (SQLException e) {
                error("1/0", e);
            }
            try {
                st.executeQuery("SELECT * FROM missing_table");
            } catch (SQLException e) {
                error("missing table", e);
            }
        }
        try (PreparedStatement ps = c.prepareStatement(
                "INSERT INTO metrics (ts, host, usage, n, ok) VALUES (?, ?, ?, ?, ?)")) {
            ps.setObject(1, OffsetDateTime.of(2024, 1, 1, 0, 0, 0, 0, ZoneOffset.UTC));
            ps.setString(2, "b");
            ps.setDouble(3, 1);
            ps.setLong(4, 1);
            ps.setBoolean(5, true);
            ps.executeUpdate();
        } catch (SQLException e) {
            error("duplicate key", e);
        }
        // Type modifiers: precision, scale and display size of varchar(n), char(n) and
        // numeric(p, s) columns and casts, none for an unconstrained numeric or an expression.
        try (Statement st = c.createStatement()) {
            st.execute("CREATE TABLE sized (a numeric(10,2), b numeric, f numeric(5), "
                + "v varchar(3), k char(4))");
            st.execute("INSERT INTO sized VALUES (1.5, 2.25, 7, 'ab', 'x')");
            ResultSet rs = st.executeQuery("SELECT a, b, f, v, k, v::varchar(2) AS v2, "
                + "a + 1 AS a1, k::text AS kt FROM sized");
            ResultSetMetaData sized = rs.getMetaData();
            StringBuilder h = new StringBuilder("  modifiers:");
            for (int i = 1; i <= sized.getColumnCount(); i++) {
                h.append(' ').append(sized.getColumnLabel(i)).append('(')
                    .append(sized.getPrecision(i)).append(',').append(sized.getScale(i))
                    .append(',').append(sized.getColumnDisplaySize(i)).append(')');
            }
            out("type modifiers");
            out(h.toString());
            rs.close();
        }
        out("done");
    }
}
