// pgjdbc over TLS: each sslmode a JDBC user picks, against a server that accepts only TLS
// connections. Run by tests/clients_jvm_node.rs against Strata (--tls-cert, --tls-key,
// --tls-required) and PostgreSQL 15 (ssl = on, hostssl only) with the same certificate;
// both runs must print the same lines.
//
// Connection from the environment: PGPORT, and TLS_DIR holding ca.pem (the CA that signed
// the server's certificate for localhost) and other-ca.pem (a CA that did not).

import java.sql.*;

public class TlsProbe {
    static String firstLine(String m) {
        if (m == null) return "";
        int i = m.indexOf('\n');
        return i < 0 ? m : m.substring(0, i);
    }

    static void probe(String what, String host, String options) {
        String url = "jdbc:postgresql://" + host + ":" + System.getenv("PGPORT")
            + "/strata?user=strata&" + options;
        try (Connection c = DriverManager.getConnection(url)) {
            // A parameter (extended protocol), then enough rows for many TLS records.
            try (PreparedStatement ps = c.prepareStatement(
                    "SELECT count(*) AS n, sum(length(s)) AS chars FROM (SELECT repeat('x', i) AS s FROM generate_series(1, 1000) AS g(i) WHERE i <= ?) t")) {
                ps.setInt(1, 300);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    System.out.println(what + ": n=" + rs.getLong(1) + " chars=" + rs.getLong(2));
                }
            }
            try (Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery(
                     "SELECT i, repeat('y', 200) AS s FROM generate_series(1, 5000) AS g(i) ORDER BY i")) {
                long rows = 0, chars = 0, last = 0;
                while (rs.next()) {
                    rows++;
                    last = rs.getLong(1);
                    chars += rs.getString(2).length();
                }
                System.out.println(what + ": rows=" + rows + " chars=" + chars + " last=" + last);
            }
        } catch (SQLException e) {
            System.out.println(what + ": ERROR " + e.getSQLState() + " " + firstLine(e.getMessage()));
        }
    }

    public static void main(String[] args) {
        String dir = System.getenv("TLS_DIR");
        probe("sslmode=disable", "127.0.0.1", "sslmode=disable");
        probe("sslmode=require", "127.0.0.1", "sslmode=require");
        probe("sslmode=verify-full", "localhost",
            "sslmode=verify-full&sslrootcert=" + dir + "/ca.pem");
        probe("sslmode=verify-full, wrong host name", "127.0.0.1",
            "sslmode=verify-full&sslrootcert=" + dir + "/ca.pem");
        probe("sslmode=verify-full, untrusted certificate", "localhost",
            "sslmode=verify-full&sslrootcert=" + dir + "/other-ca.pem");
        System.out.println("done");
    }
}
