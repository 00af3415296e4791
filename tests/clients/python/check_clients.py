"""Python drivers against squall: psycopg 3, asyncpg, SQLAlchemy + pandas, pyodbc (psqlODBC).

Run by tests/tests/clients.rs with SQUALL_HOST, SQUALL_PORT, SQUALL_USER, SQUALL_PASSWORD, SQUALL_CA.
The server has a table `items (id BIGINT, name TEXT, price DOUBLE, added DATE)` with 3 rows and
user SQUALL_USER may read it. Prints `ok <check>` per check; any failure raises.
"""
import asyncio
import datetime
import decimal
import io
import os
import sys
import threading
import time

HOST, PORT = os.environ["SQUALL_HOST"], int(os.environ["SQUALL_PORT"])
USER, PASSWORD, CA = os.environ["SQUALL_USER"], os.environ["SQUALL_PASSWORD"], os.environ["SQUALL_CA"]
ADMIN = f"host={HOST} port={PORT} user=squall dbname=squall"
LONG_QUERY = "SELECT count(*) FROM generate_series(1, 20000000000) AS g"


def ok(what):
    print(f"ok {what}", flush=True)


def check_psycopg():
    import psycopg

    with psycopg.connect(ADMIN, autocommit=True) as conn:
        for binary in (False, True):
            cur = conn.cursor(binary=binary)
            cur.execute("SELECT id, name, price, added FROM items WHERE id >= %s ORDER BY id", (2,))
            rows = cur.fetchall()
            assert rows == [(2, "pear", 0.75, datetime.date(2024, 5, 2)), (3, None, 2.0, None)], rows
            cur.execute(
                "SELECT 1::smallint, 2::int, 3::bigint, 1.5::real, 2.5::double precision, 1.25::numeric(10,2), 'x'::text, true, "
                "DATE '2024-01-02', TIMESTAMP '2024-01-02 03:04:05', TIMESTAMPTZ '2024-01-02 03:04:05+02', INTERVAL '1 day 2 hours', "
                "X'DEADBEEF'::bytea, make_array(1, 2, 3), NULL::int, 'Infinity'::float8"
            )
            got = cur.fetchone()
            expected = (
                1, 2, 3, 1.5, 2.5, decimal.Decimal("1.25"), "x", True, datetime.date(2024, 1, 2), datetime.datetime(2024, 1, 2, 3, 4, 5),
                datetime.datetime(2024, 1, 2, 1, 4, 5, tzinfo=datetime.timezone.utc), datetime.timedelta(days=1, hours=2), b"\xde\xad\xbe\xef", [1, 2, 3], None, float("inf"),
            )
            assert got == expected, (binary, got)
            ok(f"psycopg {'binary' if binary else 'text'} results and parameters")
        # Server-side prepared statements (psycopg prepares after 5 uses; here at once).
        for i in range(3):
            assert conn.execute("SELECT name FROM items WHERE id = %s", (1,), prepare=True).fetchone() == ("apple",)
        ok("psycopg prepared statements")
        try:
            conn.execute("SELECT nosuch FROM items")
            raise AssertionError("no error")
        except psycopg.errors.UndefinedColumn as e:
            assert e.sqlstate == "42703"
        ok("psycopg errors carry SQLSTATE")
        # COPY both ways.
        conn.execute("CREATE TABLE py_copy (id BIGINT, note TEXT)")
        with conn.cursor().copy("COPY py_copy FROM STDIN (FORMAT csv)") as copy:
            for i in range(1000):
                copy.write(f"{i},note {i}\n")
        assert conn.execute("SELECT count(*), sum(id) FROM py_copy").fetchone() == (1000, 499500)
        out = io.BytesIO()
        with conn.cursor().copy("COPY (SELECT id, note FROM py_copy WHERE id < 3 ORDER BY id) TO STDOUT (FORMAT csv)") as copy:
            for chunk in copy:
                out.write(chunk)
        assert out.getvalue() == b"0,note 0\n1,note 1\n2,note 2\n", out.getvalue()
        ok("psycopg COPY FROM STDIN and TO STDOUT")
        # Cancel from another thread.
        threading.Timer(1.0, conn.cancel).start()
        started = time.monotonic()
        try:
            conn.execute(LONG_QUERY)
            raise AssertionError("not cancelled")
        except psycopg.errors.QueryCanceled:
            pass
        assert time.monotonic() - started < 30
        assert conn.execute("SELECT 1").fetchone() == (1,)
        ok("psycopg cancel")
    # Transactions as drivers use them (each statement atomic on its own).
    with psycopg.connect(ADMIN) as conn:
        with conn.transaction():
            conn.execute("INSERT INTO py_copy VALUES (5000, 'in a transaction')")
            with conn.transaction():
                conn.execute("SELECT 1")
        assert conn.execute("SELECT count(*) FROM py_copy WHERE id = 5000").fetchone() == (1,)
    ok("psycopg transactions and savepoints")
    # Authentication and TLS.
    with psycopg.connect(host=HOST, port=PORT, user=USER, password=PASSWORD, dbname="squall", sslmode="verify-full", sslrootcert=CA) as conn:
        assert conn.info.pgconn.ssl_in_use
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (3,)
        try:
            conn.execute("SELECT count(*) FROM py_copy")
            raise AssertionError("no error")
        except psycopg.errors.InsufficientPrivilege:
            pass
    ok("psycopg SCRAM over TLS (verify-full) and grants")
    try:
        psycopg.connect(host=HOST, port=PORT, user=USER, password="wrong", dbname="squall")
        raise AssertionError("wrong password accepted")
    except psycopg.OperationalError as e:
        assert "password authentication failed" in str(e), e
    ok("psycopg wrong password refused")


def check_asyncpg():
    import asyncpg

    async def run():
        conn = await asyncpg.connect(host=HOST, port=PORT, user="squall", database="squall")
        rows = await conn.fetch("SELECT id, name, price, added FROM items WHERE id <= $1 ORDER BY id", 2)
        assert [tuple(r) for r in rows] == [(1, "apple", 0.5, datetime.date(2024, 5, 1)), (2, "pear", 0.75, datetime.date(2024, 5, 2))], rows
        assert await conn.fetchval("SELECT $1::bigint + 1", 41) == 42
        statement = await conn.prepare("SELECT name FROM items WHERE id = $1")
        assert [await statement.fetchval(i) for i in (1, 2)] == ["apple", "pear"]
        try:
            await conn.fetch("SELECT 1 / 0")
            raise AssertionError("no error")
        except asyncpg.DivisionByZeroError as e:
            assert e.sqlstate == "22012"
        await conn.execute("CREATE TABLE apg_copy (id BIGINT, note TEXT)")
        await conn.copy_to_table("apg_copy", source=io.BytesIO(b"1,a\n2,b\n"), format="csv")
        assert await conn.fetchval("SELECT count(*) FROM apg_copy") == 2
        out = io.BytesIO()
        await conn.copy_from_query("SELECT id, note FROM apg_copy ORDER BY id", output=out, format="csv")
        assert out.getvalue() == b"1,a\n2,b\n", out.getvalue()
        # copy_records_to_table speaks COPY's binary format, one value type after another.
        await conn.execute("CREATE TABLE apg_binary (i INT, b BIGINT, f DOUBLE, d DECIMAL(10,2), s TEXT, ok BOOLEAN, day DATE, ts TIMESTAMP, tz TIMESTAMPTZ, raw BYTEA)")
        records = [
            (1, 2, 1.5, decimal.Decimal("1234.56"), "x", True, datetime.date(2024, 1, 2), datetime.datetime(2024, 1, 2, 3, 4, 5, 6),
             datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc), b"\xde\xad"),
            (-5, -6, -0.25, decimal.Decimal("-0.05"), "", False, datetime.date(1999, 12, 31), datetime.datetime(1999, 12, 31, 23, 59, 59),
             datetime.datetime(2030, 6, 1, tzinfo=datetime.timezone.utc), b""),
            (None,) * 10,
        ]
        assert await conn.copy_records_to_table("apg_binary", records=records) == "COPY 3"
        back = [tuple(r) for r in await conn.fetch("SELECT * FROM apg_binary ORDER BY i DESC NULLS LAST")]
        assert back == records, back
        await conn.close()
        tls = await asyncpg.connect(host=HOST, port=PORT, user=USER, password=PASSWORD, database="squall", ssl="require")
        assert await tls.fetchval("SELECT count(*) FROM items") == 3
        await tls.close()

    asyncio.run(run())
    ok("asyncpg queries, prepared statements, errors, COPY (CSV and binary), SCRAM over TLS")


def check_sqlalchemy_pandas():
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(f"postgresql+psycopg://squall@{HOST}:{PORT}/squall")
    inspector = sa.inspect(engine)
    assert "items" in inspector.get_table_names(), inspector.get_table_names()
    assert {"public", "squall"} <= set(inspector.get_schema_names())
    columns = {c["name"]: str(c["type"]) for c in inspector.get_columns("items")}
    assert columns == {"id": "BIGINT", "name": "TEXT", "price": "DOUBLE PRECISION", "added": "DATE"}, columns
    assert "models" in inspector.get_view_names(schema="squall")
    # squall has no keys: empty answers, as BI tools (Superset) ask them when adding a dataset.
    assert inspector.get_pk_constraint("items")["constrained_columns"] == []
    assert inspector.get_foreign_keys("items") == [] and inspector.get_unique_constraints("items") == []
    assert inspector.get_indexes("items") == []
    # Unqualified names are those of the search path: squall's system views are under "squall".
    assert "models" not in inspector.get_view_names(), inspector.get_view_names()
    # Whole-table reflection, as ORMs and BI tools load a table.
    reflected = sa.Table("items", sa.MetaData(), autoload_with=engine)
    assert [c.name for c in reflected.columns] == ["id", "name", "price", "added"], reflected.columns
    ok("SQLAlchemy inspect: schemas, tables, columns and types, views, keys, indexes, reflection")
    frame = pd.read_sql("SELECT id, name FROM items ORDER BY id", engine)
    assert frame["name"].tolist()[:2] == ["apple", "pear"] and pd.isna(frame["name"][2]) and frame["id"].tolist() == [1, 2, 3], frame
    pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}).to_sql("from_pandas", engine, index=False)
    assert pd.read_sql("SELECT sum(a) AS s FROM from_pandas", engine)["s"][0] == 6
    # Unaliased columns are named as PostgreSQL names them, which is how frames are read.
    named = pd.read_sql("SELECT b, count(*), sum(a), a + 1, a::text FROM from_pandas GROUP BY a, b ORDER BY b", engine)
    assert list(named.columns) == ["b", "count", "sum", "?column?", "a"], list(named.columns)
    assert named["sum"].tolist() == [1, 2, 3], named
    # SQLAlchemy's exists(): SELECT EXISTS (SELECT * FROM ... WHERE ...) AS anon_1
    from_pandas = sa.Table("from_pandas", sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.exists().where(from_pandas.c.a == 2))).scalar() is True
        assert conn.execute(sa.select(sa.exists().where(from_pandas.c.a == 9))).scalar() is False
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM items WHERE price > :p"), {"p": 0.6}).scalar() == 2
    ok("pandas read_sql and to_sql, SQLAlchemy text() with parameters, PostgreSQL's column names, exists()")


def check_pyodbc():
    import pyodbc

    conn = pyodbc.connect(f"DRIVER={{PostgreSQL Unicode}};SERVER={HOST};PORT={PORT};DATABASE=squall;UID=squall;PWD=", autocommit=True)
    cur = conn.cursor()
    tables = [r.table_name for r in cur.tables(tableType="TABLE")]
    assert "items" in tables, tables
    columns = [(r.column_name, r.type_name) for r in cur.columns(table="items")]
    assert columns == [("id", "int8"), ("name", "text"), ("price", "float8"), ("added", "date")], columns
    # What Power BI and Tableau ask of psqlODBC about a table: squall has no indexes or keys.
    assert cur.statistics("items").fetchall() == []
    assert cur.primaryKeys("items").fetchall() == []
    assert cur.foreignKeys("items").fetchall() == [] and cur.foreignKeys(foreignTable="items").fetchall() == []
    ok("pyodbc SQLTables, SQLColumns, SQLStatistics, SQLPrimaryKeys, SQLForeignKeys")
    cur.execute("SELECT name, price FROM items WHERE id = ?", 2)
    rows = [tuple(r) for r in cur.fetchall()]
    assert rows == [("pear", 0.75)], rows
    try:
        cur.execute("SELECT nosuch FROM items")
        raise AssertionError("no error")
    except pyodbc.Error as e:
        assert e.args[0] == "42703", e.args
    ok("pyodbc parameters and SQLSTATE")


CHECKS = {"psycopg": check_psycopg, "asyncpg": check_asyncpg, "sqlalchemy": check_sqlalchemy_pandas, "pyodbc": check_pyodbc}

if __name__ == "__main__":
    for name in sys.argv[1:] or CHECKS:
        CHECKS[name]()
