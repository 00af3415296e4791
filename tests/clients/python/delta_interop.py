"""Another engine on squall's Delta tables: delta-rs's Python package (`deltalake`).

  read DIR          prints the table's rows as JSON lines, sorted by the first column
  write DIR         writes a table of 3,000 rows in two commits, partitioned by region
  history DIR       prints the table's version and each commit's operation, as JSON
  files DIR         prints how many files the table's latest version has
"""
import json
import os
import sys

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake


def read(path):
    table = DeltaTable(path).to_pyarrow_table()
    rows = table.to_pylist()
    first = table.column_names[0]
    for row in sorted(rows, key=lambda r: r[first]):
        print(json.dumps(row, default=str, sort_keys=True))


def write(path):
    regions = ["east", "north", "south", "west"]
    for part in range(2):
        ids = list(range(part * 1500, (part + 1) * 1500))
        batch = pa.table(
            {
                "id": pa.array(ids, pa.int64()),
                "x": pa.array([i * 0.5 for i in ids], pa.float64()),
                "region": pa.array([regions[i % 4] for i in ids], pa.string()),
            }
        )
        write_deltalake(path, batch, mode="append", partition_by=["region"])


def history(path):
    table = DeltaTable(path)
    print(json.dumps({"version": table.version(), "operations": [h.get("operation") for h in table.history()]}))


def files(path):
    print(len(DeltaTable(path).file_uris()))


{"read": read, "write": write, "history": history, "files": files}[sys.argv[1]](sys.argv[2])
sys.stdout.flush()
# Past this point only the interpreter's teardown runs, where deltalake 1.6's runtime threads and
# pyarrow's at times end in "terminate called without an active exception": skip it.
os._exit(0)
