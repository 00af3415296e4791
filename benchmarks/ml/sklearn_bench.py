"""The peers' side of `squall-bench ml`: loads the same Parquet files squall trains on and fits
the same models with scikit-learn, LightGBM and XGBoost, printing timings and accuracies as one
JSON object on stdout. squall-bench runs it in the same run as squall, before squall starts, so
the two never compete for the cores (needs: pip install scikit-learn lightgbm xgboost pyarrow
pandas). Every peer is told to use both cores where it can (n_jobs / num_threads = 2).

usage: python3 benchmarks/ml/sklearn_bench.py DIR RUNS [PEER ...]

PEER names what to fit (all when none is given): nb, tree, forest, hgb, lightgbm, xgboost,
linear, logistic, kmeans. The models and their settings match squall's in benchmarks/src/ml.rs:
trees of depth 8, a forest of 20 trees of depth 8, 100 boosting rounds of depth 6 at learning
rate 0.1, linear regression of f0 on f1..f9, logistic regression at C = 1, k-means with k = 3
and 10 Lloyd iterations.
"""
import glob
import json
import os
import statistics
import sys
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

MAX_DEPTH = 8
FOREST_TREES = 20
ROUNDS = 100
BOOSTED_DEPTH = 6
KMEANS_ITERATIONS = 10


def timed(f, runs):
    """Median seconds of `runs` calls after a warm-up (none when runs is 1), and the last result."""
    if runs > 1:
        f()
    samples = []
    result = None
    for _ in range(runs):
        start = time.perf_counter()
        result = f()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def accuracy(predicted, y):
    return float((np.asarray(predicted) == y).mean())


def main():
    directory, runs = sys.argv[1], int(sys.argv[2])
    wanted = set(sys.argv[3:]) or {"nb", "tree", "forest", "hgb", "lightgbm", "xgboost", "linear", "logistic", "kmeans"}
    start = time.perf_counter()
    frame = pq.read_table(sorted(glob.glob(os.path.join(directory, "*.parquet")))).to_pandas()
    features = [c for c in frame.columns if c.startswith("f")]
    X = frame[features].to_numpy()
    y = frame["label"].to_numpy()
    codes, classes = pd.factorize(y, sort=True)
    out = {"rows": len(y), "load_seconds": time.perf_counter() - start}

    if "nb" in wanted:
        from sklearn.naive_bayes import GaussianNB

        out["nb_fit_seconds"], nb = timed(lambda: GaussianNB().fit(X, y), runs)
        # scikit-learn spends much of a fit on text labels (numpy object arrays); with the labels
        # encoded as integer codes beforehand it does only the arithmetic.
        out["nb_fit_codes_seconds"], _ = timed(lambda: GaussianNB().fit(X, codes), runs)
        out["nb_predict_seconds"], predicted = timed(lambda: nb.predict(X), runs)
        out["nb_accuracy"] = accuracy(predicted, y)
    if "tree" in wanted:
        from sklearn.tree import DecisionTreeClassifier

        out["tree_fit_seconds"], tree = timed(lambda: DecisionTreeClassifier(max_depth=MAX_DEPTH, random_state=0).fit(X, codes), 1)
        out["tree_predict_seconds"], predicted = timed(lambda: tree.predict(X), runs)
        out["tree_accuracy"] = accuracy(predicted, codes)
    if "forest" in wanted:
        from sklearn.ensemble import RandomForestClassifier

        forest = RandomForestClassifier(n_estimators=FOREST_TREES, max_depth=MAX_DEPTH, n_jobs=2, random_state=0)
        out["forest_fit_seconds"], forest = timed(lambda: forest.fit(X, codes), 1)
        out["forest_accuracy"] = accuracy(forest.predict(X), codes)
    if "hgb" in wanted:
        from sklearn.ensemble import HistGradientBoostingClassifier

        hgb = HistGradientBoostingClassifier(max_iter=ROUNDS, max_depth=BOOSTED_DEPTH, learning_rate=0.1, early_stopping=False, random_state=0)
        out["hgb_fit_seconds"], hgb = timed(lambda: hgb.fit(X, codes), 1)
        out["hgb_accuracy"] = accuracy(hgb.predict(X), codes)
    if "lightgbm" in wanted:
        import lightgbm

        params = {"objective": "multiclass", "num_class": len(classes), "max_depth": BOOSTED_DEPTH, "num_leaves": 2**BOOSTED_DEPTH - 1,
                  "learning_rate": 0.1, "num_threads": 2, "verbose": -1}
        fit = lambda: lightgbm.train(params, lightgbm.Dataset(X, label=codes), num_boost_round=ROUNDS)
        out["lightgbm_fit_seconds"], booster = timed(fit, 1)
        out["lightgbm_accuracy"] = accuracy(booster.predict(X).argmax(axis=1), codes)
        out["lightgbm_version"] = lightgbm.__version__
    if "xgboost" in wanted:
        import xgboost

        params = {"objective": "multi:softprob", "num_class": len(classes), "max_depth": BOOSTED_DEPTH, "eta": 0.1,
                  "tree_method": "hist", "nthread": 2}
        fit = lambda: xgboost.train(params, xgboost.DMatrix(X, label=codes, nthread=2), num_boost_round=ROUNDS)
        out["xgboost_fit_seconds"], booster = timed(fit, 1)
        out["xgboost_accuracy"] = accuracy(booster.predict(xgboost.DMatrix(X, nthread=2)).argmax(axis=1), codes)
        out["xgboost_version"] = xgboost.__version__
    if "linear" in wanted:
        from sklearn.linear_model import LinearRegression

        out["linear_fit_seconds"], linear = timed(lambda: LinearRegression().fit(X[:, 1:], X[:, 0]), runs)
        out["linear_r2"] = float(linear.score(X[:, 1:], X[:, 0]))
    if "logistic" in wanted:
        from sklearn.linear_model import LogisticRegression

        out["logistic_fit_seconds"], logistic = timed(lambda: LogisticRegression(C=1.0, max_iter=1000).fit(X, codes), 1)
        out["logistic_accuracy"] = accuracy(logistic.predict(X), codes)
        out["logistic_iterations"] = int(np.max(logistic.n_iter_))
    if "kmeans" in wanted:
        from sklearn.cluster import KMeans

        kmeans = KMeans(n_clusters=3, n_init=1, max_iter=KMEANS_ITERATIONS, tol=0.0, random_state=0)
        out["kmeans_fit_seconds"], kmeans = timed(lambda: kmeans.fit(X), 1)
        out["kmeans_iterations"] = int(kmeans.n_iter_)
        out["kmeans_inertia"] = float(kmeans.inertia_)
    import sklearn

    out["sklearn_version"] = sklearn.__version__
    print(json.dumps(out))


if __name__ == "__main__":
    main()
