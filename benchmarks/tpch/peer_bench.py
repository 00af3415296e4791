#!/usr/bin/env python3
"""TPC-H through a peer engine, for squall-bench tpch: DuckDB or Spark local mode.

Usage: peer_bench.py duckdb|spark DATA_DIR QUERIES_DIR RUNS OUT.json

Each table is DATA_DIR/<table>/*.parquet (as squall's harness writes them). Each query is run once
to warm up, then RUNS times; the median time (seconds) and the rows of the last run, as text, go
to OUT.json: {"1": {"median_s": ..., "rows": [[...], ...]} | {"error": "..."}, ...}.
"""
import json
import os
import statistics
import sys
import time

TABLES = ["region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"]


def text(value):
    if value is None:
        return None
    return str(value)


def duckdb_engine(data):
    import duckdb

    con = duckdb.connect()
    for table in TABLES:
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{data}/{table}/*.parquet')")

    def run(sql):
        return con.execute(sql).fetchall()

    return run, lambda: None


def spark_engine(data):
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[*]")
        .appName("squall-bench-tpch")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(os.cpu_count() or 2))
        .config("spark.driver.memory", "8g")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    for table in TABLES:
        spark.read.parquet(f"{data}/{table}").createOrReplaceTempView(table)

    def run(sql):
        return [tuple(row) for row in spark.sql(sql).collect()]

    return run, spark.stop


def main():
    engine, data, queries, runs, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    run, close = duckdb_engine(data) if engine == "duckdb" else spark_engine(data)
    results = {}
    for n in range(1, 23):
        with open(os.path.join(queries, f"q{n}.sql")) as f:
            sql = f.read().strip().rstrip(";")
        try:
            rows = run(sql)
            samples = []
            for _ in range(runs):
                start = time.perf_counter()
                rows = run(sql)
                samples.append(time.perf_counter() - start)
            results[str(n)] = {"median_s": statistics.median(samples), "rows": [[text(v) for v in r] for r in rows]}
        except Exception as e:  # a query the engine cannot run is reported, not fatal
            results[str(n)] = {"error": str(e).splitlines()[0] if str(e) else repr(e)}
        print(f"{engine} Q{n}: {results[str(n)].get('median_s', results[str(n)].get('error'))}", file=sys.stderr)
    close()
    with open(out, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
