"""Clients for `squall-bench serving` (benchmarks/src/serving.rs), each timed in this process.

fetch <pg_port> <flight_sql host:port> <query> <runs>: the query's rows into a pandas DataFrame (and
  a pyarrow Table for ADBC) through ADBC Flight SQL, psycopg (binary) and asyncpg; prints JSON
  {client: [seconds per run]} and the row count.
predict <pg_port> <http host:port> <model> <file of feature rows as JSON> <requests> <batch>: the prediction API
  over one keep-alive HTTP connection (one row per request, then batches of <batch> rows) beside
  psycopg's SELECT PREDICT(...) with parameters; prints JSON of latencies (client and server).
"""
import asyncio
import base64
import http.client
import json
import sys
import time


def fetch(pg_port, flight_sql, query, runs):
    import adbc_driver_flightsql.dbapi as flight_sql_dbapi
    import asyncpg
    import pandas as pd
    import psycopg

    times = {"adbc_arrow": [], "adbc_pandas": [], "psycopg_binary_pandas": [], "asyncpg_pandas": []}
    rows = None
    with flight_sql_dbapi.connect(f"grpc://{flight_sql}", autocommit=True) as conn:
        for _ in range(runs):
            cur = conn.cursor()
            start = time.perf_counter()
            cur.execute(query)
            table = cur.fetch_arrow_table()
            times["adbc_arrow"].append(time.perf_counter() - start)
            rows = table.num_rows
            cur.close()
            cur = conn.cursor()
            start = time.perf_counter()
            cur.execute(query)
            frame = cur.fetch_df()
            times["adbc_pandas"].append(time.perf_counter() - start)
            assert len(frame) == rows
            cur.close()
            del table, frame
    with psycopg.connect(f"host=127.0.0.1 port={pg_port} user=squall dbname=squall", autocommit=True) as conn:
        for _ in range(runs):
            start = time.perf_counter()
            cur = conn.cursor(binary=True)
            cur.execute(query)
            names = [d.name for d in cur.description]
            frame = pd.DataFrame(cur.fetchall(), columns=names)
            times["psycopg_binary_pandas"].append(time.perf_counter() - start)
            assert len(frame) == rows
            del frame

    async def by_asyncpg():
        conn = await asyncpg.connect(host="127.0.0.1", port=pg_port, user="squall", database="squall")
        for _ in range(runs):
            start = time.perf_counter()
            records = await conn.fetch(query)
            frame = pd.DataFrame(records, columns=list(records[0].keys()) if records else None)
            times["asyncpg_pandas"].append(time.perf_counter() - start)
            assert len(frame) == rows
            del frame, records
        await conn.close()

    asyncio.run(by_asyncpg())
    print(json.dumps({"rows": rows, "seconds": times}))


def predict(pg_port, http_address, model, features, requests, batch):
    import psycopg

    host, port = http_address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port))
    auth = {"Authorization": "Basic " + base64.b64encode(b"squall:").decode(), "Content-Type": "application/json"}
    with open(features) as f:
        rows = json.load(f)

    def post(body_rows):
        body = json.dumps({"rows": body_rows})
        start = time.perf_counter()
        connection.request("POST", f"/v1/models/{model}/predict", body=body, headers=auth)
        answer = connection.getresponse()
        data = answer.read()
        took = time.perf_counter() - start
        assert answer.status == 200, data
        server = float(answer.getheader("Server-Timing").split("dur=")[1]) / 1000.0
        return took, server, json.loads(data)

    for i in range(200):
        post([rows[i % len(rows)]])
    one, one_server = [], []
    for i in range(requests):
        took, server, _ = post([rows[i % len(rows)]])
        one.append(took)
        one_server.append(server)
    batches = []
    for i in range(max(1, requests // 100)):
        body_rows = [rows[(i * batch + j) % len(rows)] for j in range(batch)]
        took, _, answer = post(body_rows)
        assert len(answer["predictions"]) == batch
        batches.append(took)

    names = list(rows[0].keys())
    placeholders = ", ".join(f"%s" for _ in names)
    sql_one, sql_batches = [], []
    with psycopg.connect(f"host=127.0.0.1 port={pg_port} user=squall dbname=squall", autocommit=True) as conn:
        statement = f"SELECT PREDICT('{model}', {placeholders})"
        for i in range(200):
            conn.execute(statement, [rows[i % len(rows)][n] for n in names], prepare=True).fetchall()
        for i in range(requests):
            start = time.perf_counter()
            conn.execute(statement, [rows[i % len(rows)][n] for n in names], prepare=True).fetchall()
            sql_one.append(time.perf_counter() - start)
        # A batch as one statement: the rows as a VALUES list of parameters.
        values = ", ".join(f"({placeholders})" for _ in range(batch))
        columns = ", ".join(names)
        batch_statement = f"SELECT PREDICT('{model}', {columns}) FROM (VALUES {values}) AS v({columns})"
        for i in range(max(1, requests // 100)):
            params = [rows[(i * batch + j) % len(rows)][n] for j in range(batch) for n in names]
            start = time.perf_counter()
            got = conn.execute(batch_statement, params, prepare=True).fetchall()
            sql_batches.append(time.perf_counter() - start)
            assert len(got) == batch
    print(json.dumps({"api_one": one, "api_one_server": one_server, "api_batch": batches, "sql_one": sql_one, "sql_batch": sql_batches}))


if __name__ == "__main__":
    if sys.argv[1] == "fetch":
        fetch(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        predict(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]), int(sys.argv[7]))
