// pgjdbc against squall: metadata as BI tools read it, parameters (text, then binary once the
// statement is server-prepared), fetch size, errors, COPY through CopyManager, cancel,
// SCRAM over TLS with verify-full. Run by tests/tests/clients.rs; prints "ok <check>" per check.
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.sql.*;
import java.util.*;
import org.postgresql.PGConnection;
import org.postgresql.copy.CopyManager;

public class JdbcCheck {
    static void ok(String what) { System.out.println("ok " + what); }
    static void check(boolean condition, String what) { if (!condition) throw new AssertionError(what); }
    static int rows(ResultSet rs) throws SQLException { try (rs) { int n = 0; while (rs.next()) n++; return n; } }

    public static void main(String[] args) throws Exception {
        String host = System.getenv("SQUALL_HOST"), port = System.getenv("SQUALL_PORT");
        String url = "jdbc:postgresql://" + host + ":" + port + "/squall";
        Properties admin = new Properties();
        admin.setProperty("user", "squall");
        admin.setProperty("prepareThreshold", "1"); // server-prepare at once: binary results
        try (Connection c = DriverManager.getConnection(url, admin)) {
            DatabaseMetaData md = c.getMetaData();
            check(md.getDatabaseProductName().equals("PostgreSQL"), "product name");
            List<String> tables = new ArrayList<>();
            try (ResultSet rs = md.getTables(null, "public", "%", new String[] {"TABLE"})) { while (rs.next()) tables.add(rs.getString("TABLE_NAME")); }
            check(tables.contains("items"), "getTables: " + tables);
            List<String> columns = new ArrayList<>();
            try (ResultSet rs = md.getColumns(null, "public", "items", "%")) {
                while (rs.next()) columns.add(rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME") + ":" + rs.getInt("DATA_TYPE"));
            }
            check(columns.equals(List.of("id:int8:" + Types.BIGINT, "name:text:" + Types.VARCHAR, "price:float8:" + Types.DOUBLE, "added:date:" + Types.DATE)), "getColumns: " + columns);
            List<String> schemas = new ArrayList<>();
            try (ResultSet rs = md.getSchemas()) { while (rs.next()) schemas.add(rs.getString(1)); }
            check(schemas.containsAll(List.of("public", "squall")), "getSchemas: " + schemas);
            try (ResultSet rs = md.getPrimaryKeys(null, "public", "items")) { check(!rs.next(), "getPrimaryKeys is empty"); }
            Map<String, Integer> types = new HashMap<>();
            try (ResultSet rs = md.getTypeInfo()) { while (rs.next()) types.put(rs.getString("TYPE_NAME"), rs.getInt("DATA_TYPE")); }
            check(types.get("int8") == Types.BIGINT && types.get("text") == Types.VARCHAR && types.get("timestamptz") == Types.TIMESTAMP, "getTypeInfo: " + types.size() + " types");
            ok("DatabaseMetaData getTables, getColumns, getSchemas, getPrimaryKeys, getTypeInfo");
            // What DBeaver and other BI tools ask when a table is opened: squall has no indexes,
            // keys, ACLs or procedures of its own, so each answers, empty.
            check(rows(md.getIndexInfo(null, "public", "items", false, true)) == 0, "getIndexInfo");
            check(rows(md.getImportedKeys(null, "public", "items")) == 0, "getImportedKeys");
            check(rows(md.getExportedKeys(null, "public", "items")) == 0, "getExportedKeys");
            check(rows(md.getCrossReference(null, "public", "items", null, "public", "items")) == 0, "getCrossReference");
            check(rows(md.getTablePrivileges(null, "public", "items")) == 0, "getTablePrivileges");
            check(rows(md.getProcedures(null, "public", "%")) == 0, "getProcedures");
            check(rows(md.getUDTs(null, "public", "%", null)) == 0, "getUDTs");
            check(rows(md.getBestRowIdentifier(null, "public", "items", DatabaseMetaData.bestRowSession, true)) == 0, "getBestRowIdentifier");
            ok("DatabaseMetaData getIndexInfo, getImportedKeys, getExportedKeys, getCrossReference, getTablePrivileges, getProcedures, getUDTs, getBestRowIdentifier");

            try (PreparedStatement ps = c.prepareStatement("SELECT id, name, price, added FROM items WHERE id = ?")) {
                for (int round = 0; round < 3; round++) { // text at first, binary once prepared
                    ps.setLong(1, 2);
                    try (ResultSet rs = ps.executeQuery()) {
                        check(rs.next(), "a row");
                        check(rs.getLong(1) == 2 && rs.getString(2).equals("pear") && rs.getDouble(3) == 0.75 && rs.getDate(4).toString().equals("2024-05-02"), "values");
                        check(!rs.next(), "one row");
                    }
                }
            }
            try (PreparedStatement ps = c.prepareStatement("SELECT ?::int + 1, ?::text, ?::numeric, ?::boolean, ?::timestamp")) {
                ps.setInt(1, 41); ps.setString(2, "x"); ps.setBigDecimal(3, new java.math.BigDecimal("1.25")); ps.setBoolean(4, true);
                ps.setTimestamp(5, Timestamp.valueOf("2024-01-02 03:04:05"));
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    check(rs.getInt(1) == 42 && rs.getString(2).equals("x") && rs.getBigDecimal(3).compareTo(new java.math.BigDecimal("1.25")) == 0 && rs.getBoolean(4), "typed parameters");
                    check(rs.getTimestamp(5).equals(Timestamp.valueOf("2024-01-02 03:04:05")), "timestamp parameter");
                }
            }
            ok("PreparedStatement with ? parameters, text and binary");

            // Text results as PostgreSQL writes them: pgjdbc's getDouble reads Infinity, not inf,
            // and getString shows what psql shows.
            try (Statement st = c.createStatement();
                 ResultSet rs = st.executeQuery("SELECT 'Infinity'::float8, 1e20::float8, 10.0::float8, TIMESTAMP '2024-01-02 03:04:05', INTERVAL '1.5 seconds'")) {
                rs.next();
                check(rs.getDouble(1) == Double.POSITIVE_INFINITY && rs.getDouble(2) == 1e20, "float values: " + rs.getString(1) + " " + rs.getString(2));
                check(rs.getString(3).equals("10") && rs.getString(4).equals("2024-01-02 03:04:05"), "text forms: " + rs.getString(3) + " " + rs.getString(4));
                check(rs.getString(5).equals("00:00:01.5"), "interval: " + rs.getString(5));
            }
            ok("floats, timestamps and intervals in PostgreSQL's text forms");

            c.setAutoCommit(false); // fetch size needs a transaction, as in PostgreSQL
            try (Statement st = c.createStatement()) {
                st.setFetchSize(2);
                int n = 0;
                try (ResultSet rs = st.executeQuery("SELECT id FROM items ORDER BY id")) { while (rs.next()) n++; }
                check(n == 3, "fetched " + n);
            }
            c.commit();
            c.setAutoCommit(true);
            ok("fetch size (portal row limits)");

            try (Statement st = c.createStatement()) {
                st.executeQuery("SELECT nosuch FROM items");
                check(false, "no error");
            } catch (SQLException e) {
                check("42703".equals(e.getSQLState()), "SQLSTATE " + e.getSQLState());
            }
            ok("errors carry SQLSTATE");

            CopyManager copy = c.unwrap(PGConnection.class).getCopyAPI();
            try (Statement st = c.createStatement()) { st.execute("CREATE TABLE jdbc_copy (id BIGINT, note TEXT)"); }
            long loaded = copy.copyIn("COPY jdbc_copy FROM STDIN (FORMAT csv)", new StringReader("1,one\n2,\"two, too\"\n"));
            check(loaded == 2, "copied in " + loaded);
            StringWriter out = new StringWriter();
            copy.copyOut("COPY (SELECT id, note FROM jdbc_copy ORDER BY id) TO STDOUT (FORMAT csv)", out);
            check(out.toString().equals("1,one\n2,\"two, too\"\n"), "copied out " + out);
            ok("CopyManager copyIn and copyOut");

            try (Statement st = c.createStatement()) {
                new Timer(true).schedule(new TimerTask() { public void run() { try { st.cancel(); } catch (SQLException e) { } } }, 1000);
                st.executeQuery("SELECT count(*) FROM generate_series(1, 20000000000) AS g");
                check(false, "not cancelled");
            } catch (SQLException e) {
                check("57014".equals(e.getSQLState()), "cancel SQLSTATE " + e.getSQLState());
            }
            try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT 1")) { check(rs.next(), "usable after cancel"); }
            ok("Statement.cancel");
        }

        Properties user = new Properties();
        user.setProperty("user", System.getenv("SQUALL_USER"));
        user.setProperty("password", System.getenv("SQUALL_PASSWORD"));
        user.setProperty("sslmode", "verify-full");
        user.setProperty("sslrootcert", System.getenv("SQUALL_CA"));
        try (Connection c = DriverManager.getConnection("jdbc:postgresql://localhost:" + port + "/squall", user);
             Statement st = c.createStatement()) {
            try (ResultSet rs = st.executeQuery("SELECT count(*) FROM items")) { rs.next(); check(rs.getLong(1) == 3, "count"); }
            try { st.executeQuery("SELECT * FROM jdbc_copy"); check(false, "no error"); }
            catch (SQLException e) { check("42501".equals(e.getSQLState()), "grant SQLSTATE " + e.getSQLState()); }
        }
        ok("SCRAM-SHA-256 over TLS (verify-full), grants");
        user.setProperty("password", "wrong");
        try { DriverManager.getConnection("jdbc:postgresql://localhost:" + port + "/squall", user); check(false, "wrong password accepted"); }
        catch (SQLException e) { check("28P01".equals(e.getSQLState()), "auth SQLSTATE " + e.getSQLState()); }
        ok("wrong password refused with 28P01");
    }
}
