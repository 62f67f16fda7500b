// Driver program for the tdsproxy client-compatibility matrix: Microsoft's
// JDBC driver (mssql-jdbc, pinned in ../../../pom.xml).
//
// Runs one scenario and prints ONE JSON object with what the driver observed.
// It asserts nothing: the Go test (test/e2e) does. The environment contract is
// the one of test/clients/README.md (TDS_HOST, TDS_PORT, TDS_USER,
// TDS_PASSWORD, TDS_DATABASE, TDS_ENCRYPT, TDS_SCENARIO, TDS_TABLE, TDS_CAFILE).

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Time;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Timer;
import java.util.TimerTask;

public final class Driver {
    private static final Map<String, String> ENV = System.getenv();
    private static final String SCENARIO = ENV.getOrDefault("TDS_SCENARIO", "login");
    private static final String TABLE = ENV.getOrDefault("TDS_TABLE", "e2e_tx");
    private static final Map<String, Object> OUT = new LinkedHashMap<>();

    private Driver() {}

    public static void main(String[] args) {
        OUT.put("client", "mssql-jdbc");
        OUT.put("scenario", SCENARIO);
        try {
            run();
        } catch (Exception e) {
            Map<String, Object> f = errorInfo(e);
            f.put("message", e.getClass().getSimpleName() + ": " + f.get("message"));
            OUT.put("failure", f);
        }
        System.out.println(Json.encode(OUT));
    }

    private static Connection connect(boolean readOnly) throws SQLException {
        StringBuilder url = new StringBuilder("jdbc:sqlserver://")
                .append(ENV.get("TDS_HOST")).append(':').append(ENV.get("TDS_PORT"))
                .append(";databaseName=").append(ENV.getOrDefault("TDS_DATABASE", "demo"))
                .append(";loginTimeout=10");
        switch (ENV.getOrDefault("TDS_ENCRYPT", "tls")) {
            case "login-only":
                url.append(";encrypt=false"); // PRELOGIN ENCRYPT_OFF: the login only
                break;
            case "tls":
                url.append(";encrypt=true;trustServerCertificate=true");
                break;
            case "strict": // TDS 8: the certificate is always verified
                url.append(";encrypt=strict;serverCertificate=").append(ENV.get("TDS_CAFILE"));
                break;
            default:
                throw new IllegalArgumentException("TDS_ENCRYPT " + ENV.get("TDS_ENCRYPT") + " not supported by mssql-jdbc");
        }
        if (readOnly) {
            url.append(";applicationIntent=ReadOnly");
        }
        Connection c = DriverManager.getConnection(url.toString(), ENV.get("TDS_USER"), ENV.get("TDS_PASSWORD"));
        OUT.putIfAbsent("version", c.getMetaData().getDriverVersion());
        return c;
    }

    private static void run() throws Exception {
        switch (SCENARIO) {
            case "login": login(); break;
            case "types": types(); break;
            case "params": params(); break;
            case "tx-commit": tx(true); break;
            case "tx-rollback": tx(false); break;
            case "error": error(); break;
            case "cancel": cancel(); break;
            case "large": large(); break;
            case "readonly": readonly(); break;
            default: throw new IllegalArgumentException("unknown TDS_SCENARIO " + SCENARIO);
        }
    }

    private static Object scalar(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getObject(1);
        }
    }

    /** A value as {"type": Java class, "value": JSON-friendly form}. */
    private static Map<String, Object> describe(Object v, String sqlType) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("type", v == null ? "null" : v.getClass().getSimpleName());
        Object val = v;
        if (v instanceof byte[]) {
            StringBuilder sb = new StringBuilder();
            for (byte b : (byte[]) v) {
                sb.append(String.format("%02x", b));
            }
            val = sb.toString();
        } else if (v instanceof BigDecimal) {
            val = ((BigDecimal) v).toPlainString();
        } else if (v instanceof Timestamp) {
            val = ((Timestamp) v).toLocalDateTime().toString();
        } else if (v instanceof Time) {
            // Time.toString() drops the milliseconds it holds.
            val = new Timestamp(((Time) v).getTime()).toLocalDateTime().toLocalTime().toString();
        } else if (v instanceof java.util.Date) {
            val = v.toString();
        }
        m.put("value", val);
        m.put("sqltype", sqlType);
        return m;
    }

    private static Map<String, Object> errorInfo(Exception e) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("number", e instanceof SQLException ? ((SQLException) e).getErrorCode() : null);
        m.put("message", String.valueOf(e.getMessage()));
        m.put("class", e.getClass().getSimpleName());
        return m;
    }

    private static Map<String, Object> expectError(Connection c, String sql) {
        try (Statement st = c.createStatement()) {
            try (ResultSet rs = st.executeQuery(sql)) {
                while (rs.next()) {
                    // drain
                }
            }
        } catch (SQLException e) {
            return errorInfo(e);
        }
        return null;
    }

    private static void login() throws SQLException {
        try (Connection c = connect(false)) {
            OUT.put("server_name", scalar(c, "SELECT @@SERVERNAME"));
            OUT.put("database", scalar(c, "SELECT DB_NAME()"));
            OUT.put("one", scalar(c, "SELECT 1"));
        }
    }

    private static void types() throws SQLException {
        try (Connection c = connect(false); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT * FROM dbo.all_types ORDER BY id")) {
            ResultSetMetaData md = rs.getMetaData();
            int rows = 0;
            while (rs.next()) {
                rows++;
                Map<String, Object> row = new LinkedHashMap<>();
                for (int i = 1; i <= md.getColumnCount(); i++) {
                    row.put(md.getColumnName(i), describe(rs.getObject(i), md.getColumnTypeName(i)));
                }
                if (rows <= 2) {
                    OUT.put("row" + rows, row);
                }
            }
            OUT.put("row_count", rows);
        }
    }

    private static void params() throws SQLException {
        try (Connection c = connect(false)) {
            // mssql-jdbc sends prepared statements as sp_prepexec / sp_execute.
            try (PreparedStatement ps = c.prepareStatement("SELECT ? AS i, ? AS s, ? AS d, ? AS t")) {
                ps.setInt(1, 41);
                ps.setString(2, "h\u00e9llo w\u00f6rld \u2603");
                ps.setBigDecimal(3, new BigDecimal("12.3450"));
                ps.setTimestamp(4, Timestamp.valueOf("2024-02-29 13:45:30"));
                try (ResultSet rs = ps.executeQuery()) {
                    ResultSetMetaData md = rs.getMetaData();
                    rs.next();
                    Map<String, Object> p = new LinkedHashMap<>();
                    for (int i = 1; i <= md.getColumnCount(); i++) {
                        p.put(md.getColumnName(i), describe(rs.getObject(i), md.getColumnTypeName(i)));
                    }
                    OUT.put("params", p);
                }
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM dbo.numbers WHERE n <= ?")) {
                ps.setInt(1, 41);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    OUT.put("param_count", rs.getObject(1));
                }
            }
        }
    }

    private static void tx(boolean commit) throws SQLException {
        try (Connection c = connect(false)) {
            try (Statement st = c.createStatement()) {
                st.execute("CREATE TABLE dbo." + TABLE + " (id int NOT NULL PRIMARY KEY, v nvarchar(20) NULL)");
            }
            try {
                c.setAutoCommit(false);
                try (PreparedStatement ps = c.prepareStatement("INSERT INTO dbo." + TABLE + " (id, v) VALUES (?, ?)")) {
                    ps.setInt(1, 1);
                    ps.setString(2, "one");
                    ps.executeUpdate();
                    ps.setInt(1, 2);
                    ps.setString(2, "two");
                    ps.executeUpdate();
                }
                OUT.put("count_in_tx", scalar(c, "SELECT COUNT(*) FROM dbo." + TABLE));
                if (commit) {
                    c.commit();
                } else {
                    c.rollback();
                }
                try (Connection other = connect(false)) {
                    OUT.put("count_after", scalar(other, "SELECT COUNT(*) FROM dbo." + TABLE));
                }
            } finally {
                try (Connection cleanup = connect(false); Statement st = cleanup.createStatement()) {
                    st.execute("DROP TABLE dbo." + TABLE);
                }
            }
        }
    }

    private static void error() throws SQLException {
        try (Connection c = connect(false)) {
            List<Object> errors = new ArrayList<>();
            errors.add(expectError(c, "SELECT * FROM dbo.no_such_table_e2e"));
            errors.add(expectError(c, "SELECT 1/0"));
            OUT.put("errors", errors);
            OUT.put("after", scalar(c, "SELECT 1"));
        }
    }

    private static void cancel() throws SQLException {
        final long cancelAfter = 300;
        try (Connection c = connect(false)) {
            OUT.put("cancel_mechanism", "Statement.cancel() from another thread (Attention)");
            Statement st = c.createStatement();
            Timer timer = new Timer(true);
            timer.schedule(new TimerTask() {
                @Override
                public void run() {
                    try {
                        st.cancel();
                    } catch (SQLException e) {
                        OUT.put("cancel_call_error", errorInfo(e));
                    }
                }
            }, cancelAfter);
            long start = System.nanoTime();
            try {
                st.execute("WAITFOR DELAY '00:00:05'");
                OUT.put("cancel_error", null);
            } catch (SQLException e) {
                OUT.put("cancel_error", errorInfo(e));
            }
            OUT.put("elapsed_ms", (System.nanoTime() - start) / 1_000_000);
            OUT.put("cancel_after_ms", cancelAfter);
            timer.cancel();
            st.close();
            OUT.put("after", scalar(c, "SELECT 1"));
        }
    }

    private static void large() throws SQLException {
        try (Connection c = connect(false); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT n FROM dbo.numbers WHERE n <= 50000")) {
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

    private static void readonly() throws SQLException {
        try (Connection c = connect(true)) {
            OUT.put("server_name", scalar(c, "SELECT @@SERVERNAME"));
            OUT.put("read_count", scalar(c, "SELECT COUNT(*) FROM dbo.customers"));
            Map<String, Object> err = null;
            try (Statement st = c.createStatement()) {
                st.execute("CREATE TABLE dbo." + TABLE + " (id int)");
            } catch (SQLException e) {
                err = errorInfo(e);
            }
            OUT.put("write_error", err);
        }
    }

    /** Just enough JSON: maps, lists, strings, numbers, booleans, null. */
    private static final class Json {
        private Json() {}

        static String encode(Object o) {
            StringBuilder sb = new StringBuilder();
            write(sb, o);
            return sb.toString();
        }

        private static void write(StringBuilder sb, Object o) {
            if (o == null) {
                sb.append("null");
            } else if (o instanceof Map) {
                sb.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : ((Map<?, ?>) o).entrySet()) {
                    if (!first) {
                        sb.append(',');
                    }
                    first = false;
                    writeString(sb, String.valueOf(e.getKey()));
                    sb.append(':');
                    write(sb, e.getValue());
                }
                sb.append('}');
            } else if (o instanceof List) {
                sb.append('[');
                boolean first = true;
                for (Object e : (List<?>) o) {
                    if (!first) {
                        sb.append(',');
                    }
                    first = false;
                    write(sb, e);
                }
                sb.append(']');
            } else if (o instanceof Boolean || o instanceof Integer || o instanceof Long
                    || o instanceof Short || o instanceof Byte) {
                sb.append(o);
            } else if (o instanceof Double || o instanceof Float) {
                double d = ((Number) o).doubleValue();
                if (Double.isFinite(d)) {
                    sb.append(o);
                } else {
                    writeString(sb, o.toString());
                }
            } else {
                writeString(sb, o.toString());
            }
        }

        private static void writeString(StringBuilder sb, String s) {
            sb.append('"');
            for (int i = 0; i < s.length(); i++) {
                char ch = s.charAt(i);
                switch (ch) {
                    case '"': sb.append("\\\""); break;
                    case '\\': sb.append("\\\\"); break;
                    case '\n': sb.append("\\n"); break;
                    case '\r': sb.append("\\r"); break;
                    case '\t': sb.append("\\t"); break;
                    default:
                        if (ch < 0x20) {
                            sb.append(String.format("\\u%04x", (int) ch));
                        } else {
                            sb.append(ch);
                        }
                }
            }
            sb.append('"');
        }
    }
}
