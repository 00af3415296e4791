"""ADBC's Flight SQL driver (adbc_driver_flightsql, with pyarrow) against squall's Flight SQL endpoint.

Run by tests/tests/clients.rs with SQUALL_HOST, SQUALL_PORT (Postgres), SQUALL_FLIGHT_SQL (host:port),
SQUALL_USER, SQUALL_PASSWORD, SQUALL_CA. The server runs with TLS on both ports, has table `items`
(3 rows) which SQUALL_USER may read, and `squall` (no password) is trusted from this machine. Prints
`ok <check>` per check; any failure raises.
"""
import datetime
import os

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import psycopg
import pyarrow as pa

HOST, PORT = os.environ["SQUALL_HOST"], int(os.environ["SQUALL_PORT"])
FLIGHT_SQL = os.environ["SQUALL_FLIGHT_SQL"]
USER, PASSWORD, CA = os.environ["SQUALL_USER"], os.environ["SQUALL_PASSWORD"], os.environ["SQUALL_CA"]
URI = f"grpc+tls://{FLIGHT_SQL}"
ADMIN_PG = f"host={HOST} port={PORT} user=squall dbname=squall"
with open(CA) as f:
    ROOT = f.read()


def ok(what):
    print(f"ok {what}", flush=True)


def connect(user=None, password=None):
    kwargs = {adbc_driver_flightsql.DatabaseOptions.TLS_ROOT_CERTS.value: ROOT}
    if user is not None:
        kwargs["username"] = user
        kwargs["password"] = password
    return flight_sql.connect(URI, db_kwargs=kwargs, autocommit=True)


def sqlstate_of(error):
    text = str(error)
    marker = "(SQLSTATE "
    assert marker in text, text
    return text.split(marker, 1)[1][:5]


def refused(run):
    try:
        run()
    except adbc_driver_manager.Error as e:
        return sqlstate_of(e)
    raise AssertionError("no error")


# A password user, over TLS; a wrong password is refused.
with connect(USER, PASSWORD) as conn:
    with conn.cursor() as cur:
        cur.execute("SELECT id, name, price, added FROM items ORDER BY id")
        table = cur.fetch_arrow_table()
        assert table.num_rows == 3, table
assert refused(lambda: connect(USER, "wrong").cursor().execute("SELECT 1")) == "28P01"
# Plain gRPC to a TLS port: no connection.
try:
    with flight_sql.connect(f"grpc://{FLIGHT_SQL}", db_kwargs={"username": USER, "password": PASSWORD}, autocommit=True) as bad:
        bad.cursor().execute("SELECT 1")
    raise AssertionError("plain gRPC to the TLS port answered")
except adbc_driver_manager.Error:
    pass
ok("connect with a password over TLS; a wrong password refused with 28P01")

with connect() as admin, psycopg.connect(ADMIN_PG, autocommit=True) as pg:
    cur = admin.cursor()
    # DDL and INSERT: their row counts.
    cur.execute("CREATE TABLE readings (id BIGINT, sensor TEXT, x DOUBLE PRECISION, at TIMESTAMPTZ, ok BOOLEAN)")
    cur.execute(
        "INSERT INTO readings SELECT g, 's' || (g % 7), g * 0.25, to_timestamp(1767225600 + g * 60), g % 2 = 0 "
        "FROM generate_series(1, 5000) AS s(g)"
    )
    assert cur.rowcount == 5000, cur.rowcount
    cur.execute("INSERT INTO readings VALUES (5001, NULL, NULL, NULL, NULL)")
    ok("DDL and INSERT with row counts")

    # The same query through both doors: equal values, Arrow types from squall's.
    query = "SELECT id, sensor, x, at, ok FROM readings ORDER BY id"
    cur.execute(query)
    arrow = cur.fetch_arrow_table()
    assert arrow.schema.field("id").type == pa.int64() and arrow.schema.field("x").type == pa.float64(), arrow.schema
    assert arrow.schema.field("ok").type == pa.bool_(), arrow.schema
    rows = pg.execute(query).fetchall()
    as_rows = list(zip(*[arrow.column(i).to_pylist() for i in range(arrow.num_columns)]))
    assert len(rows) == 5001 and as_rows == rows, (as_rows[:3], rows[:3])
    grouped = "SELECT sensor, count(*) AS n, sum(x) AS total FROM readings GROUP BY sensor ORDER BY sensor NULLS LAST"
    cur.execute(grouped)
    by_flight = cur.fetch_arrow_table().to_pylist()
    by_pg = [dict(zip(["sensor", "n", "total"], r)) for r in pg.execute(grouped).fetchall()]
    assert by_flight == by_pg, (by_flight, by_pg)
    ok("a query fetched as Arrow equals the same query over psycopg")

    # A prepared statement with parameters, executed twice with other values.
    cur.execute("SELECT count(*) AS n, min(id) AS low FROM readings WHERE id > $1 AND sensor = $2", parameters=(4000, "s3"))
    first = cur.fetchall()
    cur.execute("SELECT count(*) AS n, min(id) AS low FROM readings WHERE id > $1 AND sensor = $2", parameters=(10, "s1"))
    second = cur.fetchall()
    assert first == pg.execute("SELECT count(*), min(id) FROM readings WHERE id > 4000 AND sensor = 's3'").fetchall(), first
    assert second == pg.execute("SELECT count(*), min(id) FROM readings WHERE id > 10 AND sensor = 's1'").fetchall(), second
    ok("prepared statements with parameters")

    # TRAIN MODEL and PREDICT.
    cur.execute("TRAIN MODEL flight_nb USING naive_bayes TARGET ok AS SELECT x, sensor, ok FROM readings WHERE x IS NOT NULL")
    cur.execute("SELECT id, PREDICT('flight_nb', x, sensor) AS p FROM readings WHERE id <= 100 ORDER BY id")
    predicted = cur.fetch_arrow_table()
    assert predicted.num_rows == 100 and predicted.schema.field("p").type == pa.bool_(), predicted.schema
    assert predicted.column("p").to_pylist() == [r[0] for r in pg.execute("SELECT PREDICT('flight_nb', x, sensor) FROM readings WHERE id <= 100 ORDER BY id").fetchall()]
    cur.execute("EVALUATE MODEL flight_nb ON SELECT x, sensor, ok FROM readings WHERE x IS NOT NULL")
    metrics = cur.fetch_arrow_table().to_pylist()
    assert any(m for m in metrics), metrics
    ok("TRAIN MODEL, PREDICT and EVALUATE MODEL")

    # The catalog: tables with their columns, for a tool's object browser.
    objects = admin.adbc_get_objects(depth="all").read_all().to_pylist()
    catalog = [c for c in objects if c["catalog_name"] == "squall"]
    assert len(catalog) == 1, objects
    schemas = {s["db_schema_name"]: s for s in catalog[0]["catalog_db_schemas"]}
    assert "public" in schemas and "squall" in schemas, list(schemas)
    tables = {t["table_name"]: t for t in schemas["public"]["db_schema_tables"]}
    assert tables["readings"]["table_type"] == "TABLE", tables["readings"]
    assert [c["column_name"] for c in tables["readings"]["table_columns"]] == ["id", "sensor", "x", "at", "ok"], tables["readings"]
    assert "items" in tables
    assert "TABLE" in admin.adbc_get_table_types()
    schema = admin.adbc_get_table_schema("readings")
    assert schema.names == ["id", "sensor", "x", "at", "ok"], schema
    info = admin.adbc_get_info()
    assert info["vendor_name"] == "squall", info
    ok("adbc_get_objects, table types, table schema and server info")

    # Errors carry their SQLSTATE.
    assert refused(lambda: cur.execute("SELEC 1")) == "42601"
    assert refused(lambda: cur.execute("SELECT nosuch FROM readings")) == "42703"
    assert refused(lambda: cur.execute("SELECT * FROM nowhere")) == "42P01"
    ok("errors carry SQLSTATE")

# GRANTs: the password user reads items, not readings, and may not create.
with connect(USER, PASSWORD) as conn:
    cur = conn.cursor()
    assert refused(lambda: cur.execute("SELECT * FROM readings")) == "42501"
    assert refused(lambda: cur.execute("CREATE TABLE mine (a INT)")) == "42501"
    assert refused(lambda: cur.execute("SELECT PREDICT('flight_nb', 1.0, 's1')")) == "42501"
    cur.execute("SELECT name FROM items WHERE id = $1", parameters=(2,))
    assert cur.fetchall() == [("pear",)]
ok("GRANTs enforced")
