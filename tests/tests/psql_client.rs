//! psql, the client analysts use first: its meta-commands introspect through pg_catalog.

use squall_tests::psql::psql;

use crate::squall;

#[tokio::test(flavor = "multi_thread")]
async fn psql_meta_commands_describe_the_database() {
    let server = squall().executors(1).start();
    psql(&server, &["CREATE TABLE trips (id BIGINT NOT NULL, city TEXT, fare DOUBLE)", "INSERT INTO trips VALUES (1, 'Oslo', 12.5)"]);

    let tables = psql(&server, &["\\dt"]);
    assert!(tables.contains("trips"), "{tables}");
    let described = psql(&server, &["\\d trips"]);
    for column in ["id", "city", "fare", "bigint", "text", "double precision"] {
        assert!(described.contains(column), "{column} missing in:\n{described}");
    }
    let databases = psql(&server, &["\\l"]);
    assert!(databases.contains("squall"), "{databases}");
    let schemas = psql(&server, &["\\dn"]);
    assert!(schemas.contains("public") && schemas.contains("squall"), "{schemas}");
    // System tables are where a user would look for them.
    let views = psql(&server, &["\\dv squall.*"]);
    for table in ["executors", "jobs", "models", "query_log", "cluster_events"] {
        assert!(views.contains(table), "{table} missing in:\n{views}");
    }
    // \dt lists the search path's tables only; the + forms list sizes (empty) and descriptions.
    assert!(!tables.contains("query_log"), "{tables}");
    let detailed = psql(&server, &["\\dt+", "\\dv+ squall.*"]);
    assert!(detailed.contains("trips") && detailed.contains("Size") && detailed.contains("query_log"), "{detailed}");
    let plus = psql(&server, &["\\d+ trips", "\\dn+", "\\l+", "\\df+ version"]);
    for expected in ["Storage", "Access privileges", "Size", "Source code", "pgsql_version"] {
        assert!(plus.contains(expected), "{expected} missing in:\n{plus}");
    }
    // \du lists squall's users.
    psql(&server, &["CREATE USER analyst WITH PASSWORD 'secret'"]);
    let roles = psql(&server, &["\\du"]);
    assert!(roles.contains("analyst") && roles.contains("squall") && roles.contains("Superuser"), "{roles}");
    let functions = psql(&server, &["\\df"]);
    assert!(functions.contains("List of functions"), "{functions}");
    let timed = psql(&server, &["\\timing on", "BEGIN", "SELECT city, fare FROM trips", "COMMIT"]);
    assert!(timed.contains("Oslo") && timed.contains("Time:"), "{timed}");
    let executors = psql(&server, &["SHOW EXECUTORS"]);
    assert!(executors.contains("completed_tasks") && executors.contains("(1 row)"), "{executors}");
}
