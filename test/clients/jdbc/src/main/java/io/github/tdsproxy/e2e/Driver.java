package io.github.tdsproxy.e2e;

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.text.SimpleDateFormat;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TimeZone;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Driver program for the tdsproxy client-compatibility matrix: runs one scenario with
 * Microsoft's JDBC driver (mssql-jdbc) and prints ONE JSON object with what the driver
 * observed. It asserts nothing; the Go test (test/e2e/msdrivers_jdbc_test.go) does.
 *
 * <p>Environment (see test/clients/README.md): TDS_HOST TDS_PORT TDS_USER TDS_PASSWORD
 * TDS_DATABASE TDS_ENCRYPT (login-only | tls | strict) TDS_SCENARIO TDS_TABLE TDS_CAFILE.
 * Value types are reported as Java class names; the Go side maps them.
 */
public final class Driver {
    private static final Map<String, String> ENV = System.getenv();
    // Synchronized: the cancel timer thread may record an error.
    private static final Map<String, Object> OUT = java.util.Collections.synchronizedMap(new LinkedHashMap<>());

    private Driver() {}

    public static void main(String[] args) {
        String scenario = env("TDS_SCENARIO", "login");
        OUT.put("client", "mssql-jdbc");
        OUT.put("scenario", scenario);
        try {
            switch (scenario) {
                case "login" -> login();
                case "types" -> types();
                case "params" -> params();
                case "tx-commit" -> tx(true);
                case "tx-rollback" -> tx(false);
                case "error" -> error();
                case "cancel" -> cancel();
                case "large" -> large();
                case "readonly" -> readonly();
                default -> {
                    System.err.println("unknown TDS_SCENARIO " + scenario);
                    System.exit(2);
                }
            }
        } catch (Throwable e) {
            Map<String, Object> f = errorInfo(e);
            f.put("message", e.getClass().getSimpleName() + ": " + f.get("message"));
            OUT.put("failure", f);
        }
        System.out.println(Json.encode(OUT));
        System.out.flush();
        System.exit(0); // the cancel timer thread must not keep the JVM alive
    }

    private static String env(String name, String def) {
        String v = ENV.get(name);
        return v == null || v.isEmpty() ? def : v;
    }

    // ------------------------------------------------------------ connecting

    /** The connection URL without credentials; those go in Properties, never in a URL or a log. */
    static String url(boolean readonly) {
        StringBuilder u = new StringBuilder("jdbc:sqlserver://")
                .append(env("TDS_HOST", "127.0.0.1")).append(':').append(env("TDS_PORT", "1433"))
                .append(";databaseName=").append(env("TDS_DATABASE", "demo"))
                .append(";loginTimeout=15");
        switch (env("TDS_ENCRYPT", "tls")) {
            // encrypt=false sends PRELOGIN ENCRYPT_OFF: TLS for the login packet only.
            case "login-only" -> u.append(";encrypt=false;trustServerCertificate=true");
            case "tls" -> u.append(";encrypt=true;trustServerCertificate=true");
            // TDS 8: TLS before PRELOGIN. Strict mode ignores trustServerCertificate, so the
            // server certificate is pinned with serverCertificate (a PEM file).
            case "strict" -> u.append(";encrypt=strict;serverCertificate=").append(env("TDS_CAFILE", ""))
                    .append(";hostNameInCertificate=localhost");
            default -> throw new IllegalArgumentException("mssql-jdbc has no mode " + env("TDS_ENCRYPT", ""));
        }
        if (readonly) {
            u.append(";applicationIntent=ReadOnly");
        }
        return u.toString();
    }

    static Connection connect(boolean readonly) throws SQLException {
        Properties p = new Properties();
        p.setProperty("user", env("TDS_USER", ""));
        p.setProperty("password", env("TDS_PASSWORD", ""));
        Connection c = DriverManager.getConnection(url(readonly), p);
        OUT.putIfAbsent("version", c.getMetaData().getDriverVersion());
        return c;
    }

    static Object scalar(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getObject(1);
        }
    }

    // ------------------------------------------------------------ values

    /** A value as {"type": Java class, "value": JSON-friendly form, "sqltype": driver's SQL type}. */
    static Map<String, Object> describe(Object v, String sqlType) {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("type", v == null ? "null" : v.getClass().getName());
        Object value = v;
        if (v instanceof byte[] b) {
            value = HexFormat.of().formatHex(b);
        } else if (v instanceof BigDecimal bd) {
            value = bd.toPlainString();
        } else if (v instanceof Timestamp ts) {
            value = ts.toLocalDateTime().toString();
        } else if (v instanceof java.sql.Time t) {
            // java.sql.Time carries milliseconds; toString() would drop them.
            SimpleDateFormat f = new SimpleDateFormat("HH:mm:ss.SSS");
            f.setTimeZone(TimeZone.getDefault());
            value = f.format(t);
        } else if (v instanceof java.sql.Date dt) {
            value = dt.toLocalDate().toString();
        } else if (v instanceof Float f) {
            value = Json.raw(f.toString());
        }
        d.put("value", value);
        d.put("sqltype", sqlType);
        return d;
    }

    static Map<String, Object> rowOf(ResultSet rs) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        Map<String, Object> row = new LinkedHashMap<>();
        for (int i = 1; i <= md.getColumnCount(); i++) {
            row.put(md.getColumnLabel(i), describe(rs.getObject(i), md.getColumnTypeName(i)));
        }
        return row;
    }

    static Map<String, Object> errorInfo(Throwable e) {
        Map<String, Object> m = new LinkedHashMap<>();
        if (e instanceof SQLException se && se.getErrorCode() != 0) {
            m.put("number", se.getErrorCode());
        } else {
            m.put("number", null);
        }
        m.put("message", String.valueOf(e.getMessage()));
        String cls = e.getClass().getSimpleName();
        if (e instanceof SQLException se && se.getSQLState() != null) {
            cls += " " + se.getSQLState();
        }
        m.put("class", cls);
        return m;
    }

    // ------------------------------------------------------------ scenarios

    static void login() throws SQLException {
        try (Connection c = connect(false)) {
            OUT.put("server_name", scalar(c, "SELECT @@SERVERNAME"));
            OUT.put("database", scalar(c, "SELECT DB_NAME()"));
            OUT.put("one", scalar(c, "SELECT 1"));
        }
    }

    static void types() throws SQLException {
        try (Connection c = connect(false); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT * FROM dbo.all_types ORDER BY id")) {
            int n = 0;
            while (rs.next()) {
                n++;
                if (n <= 2) {
                    OUT.put("row" + n, rowOf(rs));
                }
            }
            OUT.put("row_count", n);
        }
    }

    /**
     * Parameters go through PreparedStatement, which mssql-jdbc sends as sp_executesql on
     * the first execution, sp_prepexec on the second and sp_execute with the prepared
     * handle from the third on: the count query runs three times to cover all three.
     */
    static void params() throws SQLException {
        try (Connection c = connect(false)) {
            try (PreparedStatement ps = c.prepareStatement("SELECT ? AS i, ? AS s, ? AS d, ? AS t")) {
                ps.setInt(1, 41);
                ps.setNString(2, "h\u00e9llo w\u00f6rld \u2603");
                ps.setBigDecimal(3, new BigDecimal("12.3450"));
                ps.setTimestamp(4, Timestamp.valueOf("2024-02-29 13:45:30"));
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    OUT.put("params", rowOf(rs));
                }
            }
            List<Object> counts = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM dbo.numbers WHERE n <= ?")) {
                for (int i = 0; i < 3; i++) {
                    ps.setInt(1, 41);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        counts.add(rs.getObject(1));
                    }
                }
            }
            // One number when all three executions agree, else all three (which fails the check).
            boolean same = counts.stream().distinct().count() == 1;
            OUT.put("param_count", same ? counts.get(0) : counts);
        }
    }

    static void tx(boolean commit) throws SQLException {
        String table = "dbo." + env("TDS_TABLE", "e2e_tx");
        try (Connection c = connect(false)) {
            try (Statement s = c.createStatement()) {
                s.execute("CREATE TABLE " + table + " (id int NOT NULL PRIMARY KEY, v nvarchar(20) NULL)");
            }
            try {
                c.setAutoCommit(false);
                try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + table + " (id, v) VALUES (?, ?)")) {
                    ps.setInt(1, 1);
                    ps.setString(2, "one");
                    ps.executeUpdate();
                    ps.setInt(1, 2);
                    ps.setString(2, "two");
                    ps.executeUpdate();
                }
                OUT.put("count_in_tx", scalar(c, "SELECT COUNT(*) FROM " + table));
                if (commit) {
                    c.commit();
                } else {
                    c.rollback();
                }
                try (Connection other = connect(false)) {
                    OUT.put("count_after", scalar(other, "SELECT COUNT(*) FROM " + table));
                }
            } finally {
                try (Connection cleanup = connect(false); Statement s = cleanup.createStatement()) {
                    s.execute("DROP TABLE " + table);
                }
            }
        }
    }

    static Map<String, Object> expectError(Connection c, String sql) {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            while (rs.next()) {
                // drain
            }
        } catch (SQLException e) {
            return errorInfo(e);
        }
        return null;
    }

    static void error() throws SQLException {
        try (Connection c = connect(false)) {
            List<Object> errs = new ArrayList<>();
            errs.add(expectError(c, "SELECT * FROM dbo.no_such_table_e2e"));
            errs.add(expectError(c, "SELECT 1/0"));
            OUT.put("errors", errs);
            OUT.put("after", scalar(c, "SELECT 1"));
        }
    }

    /** Statement.cancel() from another thread: mssql-jdbc sends an Attention. */
    static void cancel() throws SQLException {
        long cancelAfter = 300;
        OUT.put("cancel_mechanism", "Statement.cancel() from another thread (Attention)");
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
        try (Connection c = connect(false)) {
            try (Statement s = c.createStatement()) {
                timer.schedule(() -> {
                    try {
                        s.cancel();
                    } catch (SQLException e) {
                        OUT.put("cancel_call_error", errorInfo(e));
                    }
                }, cancelAfter, TimeUnit.MILLISECONDS);
                long start = System.nanoTime();
                try {
                    s.execute("WAITFOR DELAY '00:00:05'");
                    OUT.put("cancel_error", null);
                } catch (SQLException e) {
                    OUT.put("cancel_error", errorInfo(e));
                }
                OUT.put("elapsed_ms", (System.nanoTime() - start) / 1_000_000);
                OUT.put("cancel_after_ms", cancelAfter);
            }
            OUT.put("after", scalar(c, "SELECT 1"));
        } finally {
            timer.shutdownNow();
        }
    }

    static void large() throws SQLException {
        try (Connection c = connect(false); Statement s = c.createStatement()) {
            s.setFetchSize(5000);
            try (ResultSet rs = s.executeQuery("SELECT n FROM dbo.numbers WHERE n <= 50000")) {
                long rows = 0;
                long sum = 0;
                while (rs.next()) {
                    rows++;
                    sum += rs.getLong(1);
                }
                OUT.put("rows", rows);
                OUT.put("sum", sum);
            }
        }
    }

    static void readonly() throws SQLException {
        try (Connection c = connect(true)) {
            OUT.put("server_name", scalar(c, "SELECT @@SERVERNAME"));
            OUT.put("read_count", scalar(c, "SELECT COUNT(*) FROM dbo.customers"));
            Map<String, Object> werr = null;
            try (Statement s = c.createStatement()) {
                s.execute("CREATE TABLE dbo." + env("TDS_TABLE", "e2e_ro") + " (id int)");
            } catch (SQLException e) {
                werr = errorInfo(e);
            }
            OUT.put("write_error", werr);
        }
    }
}
