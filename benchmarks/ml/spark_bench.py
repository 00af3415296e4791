"""Spark MLlib's side of `squall-bench ml`: Spark in local mode on both cores (`local[2]`) reads
the same Parquet files squall trains on, caches them, and fits the same models, printing timings
and accuracies as one JSON object on stdout (needs: pip install pyspark, and Java 17). As with
the other peers, squall-bench runs it before squall starts.

usage: python3 benchmarks/ml/spark_bench.py DIR [MODEL ...]

MODEL: tree, forest, linear, logistic, kmeans (all when none is given), with the settings of
sklearn_bench.py (Spark's gradient-boosted trees are binary only, so boosting has no Spark
figure).
"""
import json
import sys
import time

from pyspark.ml.classification import DecisionTreeClassifier, LogisticRegression, RandomForestClassifier
from pyspark.ml.clustering import KMeans
from pyspark.ml.evaluation import MulticlassClassificationEvaluator, RegressionEvaluator
from pyspark.ml.feature import StringIndexer, VectorAssembler
from pyspark.ml.regression import LinearRegression
from pyspark.sql import SparkSession

MAX_DEPTH = 8
FOREST_TREES = 20
KMEANS_ITERATIONS = 10


def timed(f):
    start = time.perf_counter()
    result = f()
    return time.perf_counter() - start, result


def main():
    directory = sys.argv[1]
    wanted = set(sys.argv[2:]) or {"tree", "forest", "linear", "logistic", "kmeans"}
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.memory", "12g")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    start = time.perf_counter()
    frame = spark.read.parquet(directory)
    features = [c for c in frame.columns if c.startswith("f")]
    frame = StringIndexer(inputCol="label", outputCol="y", stringOrderType="alphabetAsc").fit(frame).transform(frame)
    data = VectorAssembler(inputCols=features, outputCol="x").transform(frame).select("x", "y", features[0]).cache()
    rows = data.count()
    regression = VectorAssembler(inputCols=features[1:], outputCol="rest").transform(frame).select("rest", features[0]).cache()
    regression.count()
    out = {"rows": rows, "load_seconds": time.perf_counter() - start, "spark_version": spark.version}
    accuracy = MulticlassClassificationEvaluator(labelCol="y", predictionCol="prediction", metricName="accuracy")

    if "tree" in wanted:
        out["tree_fit_seconds"], tree = timed(lambda: DecisionTreeClassifier(featuresCol="x", labelCol="y", maxDepth=MAX_DEPTH).fit(data))
        out["tree_accuracy"] = accuracy.evaluate(tree.transform(data))
    if "forest" in wanted:
        forest = RandomForestClassifier(featuresCol="x", labelCol="y", numTrees=FOREST_TREES, maxDepth=MAX_DEPTH, seed=0)
        out["forest_fit_seconds"], forest = timed(lambda: forest.fit(data))
        out["forest_accuracy"] = accuracy.evaluate(forest.transform(data))
    if "linear" in wanted:
        linear = LinearRegression(featuresCol="rest", labelCol=features[0], solver="normal")
        out["linear_fit_seconds"], linear = timed(lambda: linear.fit(regression))
        out["linear_r2"] = RegressionEvaluator(labelCol=features[0], metricName="r2").evaluate(linear.transform(regression))
    if "logistic" in wanted:
        # scikit-learn's C = 1 on n rows is Spark's regParam = 1 / n (Spark averages the loss).
        logistic = LogisticRegression(featuresCol="x", labelCol="y", family="multinomial", regParam=1.0 / rows, standardization=False, maxIter=1000)
        out["logistic_fit_seconds"], logistic = timed(lambda: logistic.fit(data))
        out["logistic_accuracy"] = accuracy.evaluate(logistic.transform(data))
        out["logistic_iterations"] = logistic.summary.totalIterations
    if "kmeans" in wanted:
        kmeans = KMeans(featuresCol="x", k=3, maxIter=KMEANS_ITERATIONS, tol=0.0, seed=0)
        out["kmeans_fit_seconds"], kmeans = timed(lambda: kmeans.fit(data))
        out["kmeans_iterations"] = kmeans.summary.numIter
    spark.stop()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
