"""scikit-learn's side of `squall-bench ml`: loads the same Parquet files squall trains on, fits
and predicts with GaussianNB and DecisionTreeClassifier, and prints the timings as one JSON
object on stdout. squall-bench runs it in the same run as squall so the ratios compare like with
like (needs: pip install scikit-learn pyarrow pandas).

usage: python3 benchmarks/ml/sklearn_bench.py DIR MAX_DEPTH RUNS
"""
import glob
import json
import os
import statistics
import sys
import time

import pandas as pd
import pyarrow.parquet as pq
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier


def timed(f, runs):
    f()  # warm-up
    samples = []
    result = None
    for _ in range(runs):
        start = time.perf_counter()
        result = f()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def main():
    directory, max_depth, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    start = time.perf_counter()
    table = pq.read_table(sorted(glob.glob(os.path.join(directory, "*.parquet"))))
    frame = table.to_pandas()
    features = [c for c in frame.columns if c.startswith("f")]
    X = frame[features].to_numpy()
    y = frame["label"].to_numpy()
    load = time.perf_counter() - start

    nb_fit, nb = timed(lambda: GaussianNB().fit(X, y), runs)
    # scikit-learn spends much of a fit on text labels (numpy object arrays); with the labels
    # encoded as integer codes beforehand it does only the arithmetic.
    codes, _ = pd.factorize(y)
    nb_fit_codes, _ = timed(lambda: GaussianNB().fit(X, codes), runs)
    nb_predict, predicted = timed(lambda: nb.predict(X), runs)
    tree_fit, tree = timed(lambda: DecisionTreeClassifier(max_depth=max_depth, random_state=0).fit(X, y), 1)
    tree_predict, tree_predicted = timed(lambda: tree.predict(X), runs)
    print(json.dumps({
        "rows": len(y),
        "load_seconds": load,
        "nb_fit_seconds": nb_fit,
        "nb_fit_codes_seconds": nb_fit_codes,
        "nb_predict_seconds": nb_predict,
        "nb_accuracy": float((predicted == y).mean()),
        "tree_fit_seconds": tree_fit,
        "tree_predict_seconds": tree_predict,
        "tree_accuracy": float((tree_predicted == y).mean()),
    }))


if __name__ == "__main__":
    main()
