"""Reference figures from scikit-learn for squall's machine-learning e2e tests.

squall trains models inside SQL (``TRAIN MODEL`` / ``PREDICT``); its integration tests
check the results against what scikit-learn produces on the same data. This script produces
those reference figures:

* ``tests/data/iris.csv``          -- Fisher's iris data set (150 rows) from
  ``sklearn.datasets.load_iris``, species as string names, floats written with ``repr``.
* ``tests/data/iris_sklearn.json`` -- fitted parameters, per-row predictions and training
  metrics for GaussianNB, DecisionTreeClassifier, RandomForestClassifier, HistGradientBoostingClassifier,
  LogisticRegression, LinearRegression and KMeans (see ``main`` for the exact settings).

Regenerate from the repository root with:

    python3 benchmarks/ml/sklearn_expected.py

(needs ``python3 -m pip install scikit-learn``). The scikit-learn, NumPy and SciPy versions
used are recorded in the JSON under ``"versions"``.
"""

import csv
import json
import math
import os
import platform

import numpy as np
import scipy
import sklearn
from scipy.special import logsumexp
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import (
    accuracy_score,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
)
from sklearn.naive_bayes import GaussianNB
from sklearn.tree import DecisionTreeClassifier
from sklearn.ensemble import HistGradientBoostingClassifier

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA_DIR = os.path.join(REPO_ROOT, "tests", "data")
CSV_PATH = os.path.join(DATA_DIR, "iris.csv")
JSON_PATH = os.path.join(DATA_DIR, "iris_sklearn.json")

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
HEADER = FEATURES + ["species"]


def floats(a):
    """A NumPy array (any shape) as nested lists of Python floats."""
    return np.asarray(a, dtype=np.float64).tolist()


def write_csv(X, species):
    with open(CSV_PATH, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        for row, s in zip(X, species):
            w.writerow([repr(float(v)) for v in row] + [s])


def read_csv():
    """Read the CSV back, so every model is fit on exactly what the tests load."""
    with open(CSV_PATH, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        assert header == HEADER, header
        rows = list(r)
    X = np.array([[float(v) for v in row[:4]] for row in rows], dtype=np.float64)
    y = np.array([row[4] for row in rows], dtype=object)
    return X, y


def gaussian_nb(X, y):
    model = GaussianNB()  # var_smoothing=1e-9
    model.fit(X, y)
    proba = model.predict_proba(X)
    predicted = model.predict(X)
    # Joint log likelihood log P(c) + log P(x|c), per row and class.
    if hasattr(model, "predict_joint_log_proba"):
        jll = model.predict_joint_log_proba(X)
    else:  # scikit-learn < 1.2
        jll = model._joint_log_likelihood(X)
    nll = -logsumexp(jll, axis=1)  # negative log marginal likelihood of each row
    return {
        "params": {"var_smoothing": model.var_smoothing},
        "classes": [str(c) for c in model.classes_],
        "class_prior": floats(model.class_prior_),
        "theta": floats(model.theta_),
        "var": floats(model.var_),
        "epsilon_": float(model.epsilon_),
        "accuracy": float(accuracy_score(y, predicted)),
        # Per-row figures, parallel arrays in file order (row i of tests/data/iris.csv).
        "predicted": [str(c) for c in predicted],
        "max_proba": floats(proba.max(axis=1)),
        "proba": floats(proba),  # each row in `classes` order
        "neg_log_likelihood": floats(nll),
    }


def classifier_accuracy(model, X, y, params):
    model.fit(X, y)
    return {"params": params, "accuracy": float(accuracy_score(y, model.predict(X)))}


def linear_regression(X):
    # petal_width from sepal_length, sepal_width, petal_length
    Xr, yr = X[:, :3], X[:, 3]
    model = LinearRegression()
    model.fit(Xr, yr)
    pred = model.predict(Xr)
    return {
        "target": "petal_width",
        "features": FEATURES[:3],
        "r2": float(r2_score(yr, pred)),
        "rmse": float(math.sqrt(mean_squared_error(yr, pred))),
        "mae": float(mean_absolute_error(yr, pred)),
        "coef": floats(model.coef_),
        "intercept": float(model.intercept_),
    }


def ridge(X, alpha):
    # as linear_regression, with an L2 penalty on the coefficients (not the intercept)
    Xr, yr = X[:, :3], X[:, 3]
    model = Ridge(alpha=alpha)
    model.fit(Xr, yr)
    return {"params": {"alpha": alpha}, "coef": floats(model.coef_), "intercept": float(model.intercept_)}


def linear_regression_one_hot(X, species):
    # petal_width from sepal_length, petal_length and species as one column per species (sorted),
    # beside the intercept: collinear, so the answer is lstsq's least-norm solution
    names = sorted(set(species))
    one_hot = np.array([[1.0 if s == n else 0.0 for n in names] for s in species])
    Xr = np.hstack([X[:, [0, 2]], one_hot])
    model = LinearRegression()
    model.fit(Xr, X[:, 3])
    return {
        "features": [FEATURES[0], FEATURES[2], "species"],
        "categories": names,
        "coef": floats(model.coef_),
        "intercept": float(model.intercept_),
    }


def logistic_regression(X, y, C, binary_class=None):
    # Multinomial (softmax) logistic regression with scikit-learn's L2 penalty, solved by lbfgs to
    # a tolerance far below the tests' 1e-4, so that the figures are the optimum itself; with
    # `binary_class`, the target is whether species is that class ('true' / 'false' as squall's
    # boolean target reads).
    target = y if binary_class is None else np.array(["true" if s == binary_class else "false" for s in y])
    model = LogisticRegression(C=C, tol=1e-12, max_iter=100000)
    model.fit(X, target)
    return {
        "params": {"C": C, "binary_class": binary_class},
        "classes": [str(c) for c in model.classes_],
        "coef": floats(model.coef_),
        "intercept": floats(model.intercept_),
        "accuracy": float(accuracy_score(target, model.predict(X))),
    }


def kmeans(X):
    model = KMeans(n_clusters=3, n_init=10, random_state=0)
    model.fit(X)
    sizes = sorted(int(n) for n in np.bincount(model.labels_, minlength=3))
    return {
        "params": {"n_clusters": 3, "n_init": 10, "random_state": 0},
        "inertia": float(model.inertia_),
        "cluster_sizes": sizes,
    }


def main():
    os.makedirs(DATA_DIR, exist_ok=True)
    iris = load_iris()
    species = [str(iris.target_names[t]) for t in iris.target]
    write_csv(iris.data, species)

    X, y = read_csv()
    assert X.shape == (150, 4)
    assert np.array_equal(X, iris.data)

    out = {
        "source": "Fisher's iris data set via sklearn.datasets.load_iris (public domain)",
        "generated_by": "benchmarks/ml/sklearn_expected.py",
        "versions": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        },
        "csv": "tests/data/iris.csv",
        "features": FEATURES,
        "label": "species",
        "n_rows": int(X.shape[0]),
        "gaussian_nb": gaussian_nb(X, y),
        "decision_tree": classifier_accuracy(
            DecisionTreeClassifier(max_depth=3, random_state=0),
            X, y, {"max_depth": 3, "random_state": 0},
        ),
        "random_forest": classifier_accuracy(
            RandomForestClassifier(n_estimators=50, max_depth=5, random_state=0),
            X, y, {"n_estimators": 50, "max_depth": 5, "random_state": 0},
        ),
        "logistic_regression": logistic_regression(X, y, 1.0),
        "logistic_regression_binary": logistic_regression(X, y, 0.5, "virginica"),
        "boosted_trees": classifier_accuracy(
            HistGradientBoostingClassifier(max_iter=20, learning_rate=0.1, max_depth=3, early_stopping=False, random_state=0),
            X, y, {"max_iter": 20, "learning_rate": 0.1, "max_depth": 3, "early_stopping": False, "random_state": 0},
        ),
        "linear_regression": linear_regression(X),
        "ridge": ridge(X, 10.0),
        "linear_regression_one_hot": linear_regression_one_hot(X, y),
        "kmeans": kmeans(X),
    }
    with open(JSON_PATH, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print(f"wrote {os.path.relpath(CSV_PATH, REPO_ROOT)} and {os.path.relpath(JSON_PATH, REPO_ROOT)}")


if __name__ == "__main__":
    main()
