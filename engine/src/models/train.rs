//! `TRAIN MODEL`: plan the user's query, split off the holdout rows by a seeded hash of each row,
//! run the training aggregate as a distributed query (Naive Bayes statistics, or a capped
//! uniform sample for the algorithms that fit in one place), fit, write the model file, score
//! the holdout rows with it on the executors, and record the version.

use std::time::Instant;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Column;
use datafusion::logical_expr::{cast, lit, Expr, LogicalPlan, LogicalPlanBuilder};
use datafusion::execution::FunctionRegistry;
use squall_sql::TrainModel;
use squall_udf::functions::{evaluate, train_naive_bayes, training_sample};
use squall_udf::ml::algorithms::{self, decision_tree, kmeans, linear_regression, logistic_regression, random_forest, Labels};
use squall_udf::ml::features::{Encoding, Feature, Kind, Matrix, Target};
use squall_udf::ml::metrics::Tally;
use squall_udf::ml::model::{Algorithm, Model, Params, Task, FORMAT_VERSION};
use squall_udf::ml::naive_bayes::{NaiveBayes, Statistics, Variant};
use squall_udf::ml::options::Options;

use super::registry::Version;
use super::{aggregate_blob, now_seconds};
use crate::error::{Result, SquallError};
use crate::session::Session;

const ALIAS: &str = "training";

/// A training column: its name, type and the expression that converts it for the aggregates.
struct Input {
    name: String,
    data_type: DataType,
    kind: Kind,
    expr: Expr,
}

/// The version TRAIN MODEL made; `None` when IF NOT EXISTS found the model already there.
pub async fn train(session: &Session, t: &TrainModel) -> Result<Option<Version>> {
    let started = Instant::now();
    let engine = &session.engine;
    let algorithm = Algorithm::parse(&t.algorithm)?;
    let options = Options::new(&t.options, algorithm.options(), algorithm.name())?;
    if t.if_not_exists && engine.models.get(&t.name).is_some() {
        session.notice(format!("model \"{}\" already exists, skipping", t.name));
        return Ok(None);
    }
    let holdout = options.float("holdout", 0.2, (0.0, 0.9))?;
    let seed = options.seed()?;
    let max_rows = options.integer("max_training_rows", 1_000_000, 1, i64::MAX as u64)?;
    let skip_nulls = options.choice("nulls", "error", &["error", "skip"])? == "skip";
    let variant = match options.text("variant") {
        Some(v) => Variant::parse(v)?,
        None => Variant::Mixed,
    };

    session.notice(format!("planning the training query of model \"{}\"", t.name));
    let query = session.plan_sql(&t.query).await?;
    let plan = LogicalPlanBuilder::from(query).alias(ALIAS)?.build()?;
    let columns: Vec<(String, DataType)> =
        plan.schema().fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect();
    let find = |name: &str| -> Result<(String, DataType)> {
        columns.iter().find(|(n, _)| n == name).cloned().ok_or_else(|| {
            let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
            SquallError::UndefinedColumn(format!(
                "column \"{name}\" does not exist in the training query (its columns: {})",
                names.join(", ")
            ))
        })
    };

    let target = match (&t.target, algorithm) {
        (Some(_), Algorithm::Kmeans) => {
            return Err(SquallError::InvalidParameter("kmeans is unsupervised: it takes no TARGET".into()))
        }
        (None, Algorithm::Kmeans) => None,
        (None, _) => {
            return Err(SquallError::InvalidParameter(format!("{} needs a TARGET column", algorithm.name())))
        }
        (Some(name), _) => Some(find(name)?),
    };
    let task = match &target {
        None => Task::Clustering,
        Some((name, data_type)) => {
            let inferred = if data_type.is_floating() || matches!(data_type, DataType::Decimal128(..) | DataType::Decimal256(..)) {
                "regression"
            } else {
                "classification"
            };
            let task = match options.choice("task", inferred, &["classification", "regression"])? {
                "regression" => Task::Regression,
                _ => Task::Classification,
            };
            let usable = match task {
                Task::Regression => data_type.is_numeric(),
                _ => Kind::of(data_type).is_some(),
            };
            if !usable {
                return Err(SquallError::Unsupported(format!(
                    "target \"{name}\" has type {data_type}, which cannot be the target of {}",
                    task.name()
                )));
            }
            task
        }
    };
    if !algorithm.supports(task) {
        return Err(SquallError::InvalidParameter(format!(
            "{} does not do {}{}",
            algorithm.name(),
            task.name(),
            match task {
                Task::Regression => " (the target is numeric: use task = 'classification' to treat its values as classes)",
                _ => "",
            }
        )));
    }

    let feature_names: Vec<String> = match &t.features {
        Some(names) => names.clone(),
        None => columns
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| Some(n) != target.as_ref().map(|(t, _)| t))
            .collect(),
    };
    if feature_names.is_empty() {
        return Err(SquallError::InvalidParameter("the training query has no feature columns besides the target".into()));
    }
    let mut inputs = Vec::with_capacity(feature_names.len());
    for name in &feature_names {
        let (name, data_type) = find(name)?;
        let Some(mut kind) = Kind::of(&data_type) else {
            return Err(SquallError::Unsupported(format!(
                "feature \"{name}\" has type {data_type}; squall trains on numbers, text and booleans (cast it to one of them)"
            )));
        };
        if algorithm == Algorithm::NaiveBayes {
            match (variant, kind) {
                (Variant::Categorical, _) => kind = Kind::Categorical,
                (Variant::Gaussian | Variant::Multinomial | Variant::Bernoulli, Kind::Categorical) => {
                    return Err(SquallError::InvalidParameter(format!(
                        "variant '{}' needs numeric features, but \"{name}\" is {data_type}",
                        options.text("variant").unwrap_or_default()
                    )))
                }
                _ => {}
            }
        }
        let expr = cast(column(&name), kind.arrow_type());
        inputs.push(Input { name, data_type, kind, expr });
    }
    let target_input = target.as_ref().map(|(name, data_type)| {
        let kind = if task == Task::Regression { Kind::Numeric } else { Kind::Categorical };
        Input { name: name.clone(), data_type: data_type.clone(), kind, expr: cast(column(name), kind.arrow_type()) }
    });
    let mut all_exprs: Vec<Expr> = target_input.iter().map(|t| t.expr.clone()).collect();
    all_exprs.extend(inputs.iter().map(|i| i.expr.clone()));

    // The holdout split and the sample follow a seeded hash of every column of the row, so they
    // are the same on every run and however the data is partitioned (rows identical in every
    // column fall on the same side).
    let row_columns: Vec<Expr> = columns
        .iter()
        .filter(|(_, t)| hashable(t))
        .map(|(name, _)| column(name))
        .collect();
    let row_fraction = session.ctx.udf(squall_udf::functions::row_fraction::NAME)?;
    let fraction = row_fraction.call(std::iter::once(lit(seed as i64)).chain(row_columns.iter().cloned()).collect());
    let sample_key = row_fraction.call(std::iter::once(lit(seed.wrapping_add(1) as i64)).chain(row_columns).collect());
    let training_rows = if holdout > 0.0 {
        LogicalPlanBuilder::from(plan.clone()).filter(fraction.clone().gt_eq(lit(holdout)))?.build()?
    } else {
        plan.clone()
    };

    // Decided as the training aggregate's query will be: it reads what `training_rows` reads.
    let place = match crate::statements::query::on_coordinator(session, &training_rows).await? {
        None => "on the executors",
        Some(_) => "in the coordinator (the training rows are small: see squall.local_scan_limit)",
    };
    session.notice(format!("training {} {place}: scanning the training rows", algorithm.name()));
    let version_number = engine.models.reserve_version(&t.name);
    let (params, features, target_meta, rows_used, rows_total, importance) = if algorithm == Algorithm::NaiveBayes {
        let call = session.ctx.udaf(train_naive_bayes::NAME)?.call(all_exprs.clone());
        let bytes = aggregate_blob(session, training_rows, call).await?;
        let stats: Statistics = if bytes.is_empty() { Statistics::default() } else { serde_json::from_slice(&bytes).map_err(|e| SquallError::Internal(e.to_string()))? };
        check_nulls(skip_nulls, stats.null_rows, || {
            let mut names = vec![target_input.as_ref().map(|t| t.name.clone()).unwrap_or_default()];
            names.extend(inputs.iter().map(|i| i.name.clone()));
            names
                .iter()
                .zip(&stats.nulls_by_column)
                .filter(|(_, n)| **n > 0)
                .map(|(name, n)| format!("{name} ({n})"))
                .collect::<Vec<_>>()
                .join(", ")
        })?;
        let rows = stats.rows();
        check_rows(rows, stats.null_rows)?;
        check_classes(&stats.classes.keys().cloned().collect::<Vec<_>>(), target_input.as_ref())?;
        let names: Vec<String> = inputs.iter().map(|i| i.name.clone()).collect();
        let nb = NaiveBayes::fit(&stats, variant, &names)?;
        session.notice(format!("naive_bayes fitted on {rows} rows in {:.1} s", started.elapsed().as_secs_f64()));
        let features = inputs
            .iter()
            .map(|i| Feature {
                name: i.name.clone(),
                data_type: i.data_type.clone(),
                kind: i.kind,
                encoding: match i.kind {
                    Kind::Numeric => Encoding::Number,
                    Kind::Categorical => Encoding::Category,
                },
            })
            .collect();
        let classes = nb.classes.clone();
        (Params::NaiveBayes(nb), features, Some(classes), rows, rows, None)
    } else {
        let mut args = vec![lit(max_rows as i64), sample_key];
        args.extend(all_exprs.iter().cloned());
        let call = session.ctx.udaf(training_sample::NAME)?.call(args);
        let bytes = aggregate_blob(session, training_rows, call).await?;
        let sample = training_sample::decode(&bytes)?;
        check_nulls(skip_nulls, sample.null_rows, || "the target or a feature".to_string())?;
        let rows = sample.columns.first().map(|c| c.len()).unwrap_or(0);
        check_rows(rows as u64, sample.null_rows)?;
        session.notice(format!(
            "fitting {} on {rows} rows (of {} training rows)",
            algorithm.name(),
            sample.rows_seen
        ));
        let offset = usize::from(target_input.is_some());
        let feature_columns: Vec<ArrayRef> = sample.columns[offset..].to_vec();
        let one_hot = matches!(algorithm, Algorithm::LinearRegression | Algorithm::LogisticRegression | Algorithm::Kmeans);
        let features: Vec<Feature> = inputs
            .iter()
            .zip(&feature_columns)
            .map(|(i, column)| Feature {
                name: i.name.clone(),
                data_type: i.data_type.clone(),
                kind: i.kind,
                encoding: match i.kind {
                    Kind::Numeric => Encoding::Number,
                    Kind::Categorical if one_hot => Encoding::OneHot { categories: distinct(column) },
                    Kind::Categorical => Encoding::Ordinal { categories: distinct(column) },
                },
            })
            .collect();
        let (labels, classes) = match (task, sample.columns.first()) {
            (Task::Classification, Some(target)) => {
                let classes = distinct(target);
                check_classes(&classes, target_input.as_ref())?;
                let text = target.as_string::<i32>();
                let y = (0..text.len()).map(|r| classes.binary_search(&text.value(r).to_string()).unwrap_or(0) as u32).collect();
                (Some(Labels::Classes(y, classes.len())), Some(classes))
            }
            (Task::Regression, Some(target)) => {
                let values = target.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
                (Some(Labels::Values(values.values().to_vec())), None)
            }
            _ => (None, None),
        };
        let fit_features = features.clone();
        let fit_options = options.clone();
        let (params, importance) = tokio::task::spawn_blocking(move || -> datafusion::error::Result<(Params, Option<Vec<f64>>)> {
            let matrix = Matrix::encode(&fit_features, &feature_columns);
            let x = algorithms::dense(&matrix)?;
            Ok(match (algorithm, labels) {
                (Algorithm::DecisionTree, Some(labels)) => {
                    let (tree, importance) = decision_tree::fit(&x, &matrix, &labels, &fit_options)?;
                    (Params::Tree(tree), Some(importance))
                }
                (Algorithm::RandomForest, Some(labels)) => {
                    let (forest, importance) = random_forest::fit(&x, &labels, &fit_options)?;
                    (Params::Forest(forest), Some(importance))
                }
                (Algorithm::LinearRegression, Some(Labels::Values(y))) => (Params::Linear(linear_regression::fit(&x, &y)?), None),
                (Algorithm::LogisticRegression, Some(Labels::Classes(y, k))) => {
                    (Params::Logistic(logistic_regression::fit(&x, &y, k, &fit_options)?), None)
                }
                (Algorithm::Kmeans, None) => (Params::Kmeans(kmeans::fit(&x, matrix.height(), &fit_options)?), None),
                _ => return Err(squall_udf::ml::error::coded("XX000", "algorithm and task disagree")),
            })
        })
        .await
        .map_err(|e| SquallError::Internal(format!("training thread: {e}")))??;
        (params, features, classes, rows as u64, sample.rows_seen, importance)
    };

    let model = Model {
        format: FORMAT_VERSION,
        name: t.name.clone(),
        version: version_number,
        algorithm,
        task,
        options: options.0.clone(),
        features,
        target: target_input.as_ref().map(|t| Target { name: t.name.clone(), data_type: t.data_type.clone(), classes: target_meta.clone() }),
        rows_used,
        rows_total,
        training_ms: started.elapsed().as_millis() as u64,
        feature_importance: importance,
        params,
    };
    let bytes = serde_json::to_vec(&model).map_err(|e| SquallError::Internal(format!("encoding the model: {e}")))?;
    let url = engine.models.store.write(&t.name, version_number, bytes).await?;

    let (metrics, confusion) = if holdout > 0.0 {
        session.notice(format!("evaluating {}@{version_number} on the holdout rows", t.name));
        let holdout_rows = LogicalPlanBuilder::from(plan).filter(fraction.lt(lit(holdout)))?.build()?;
        let tally = evaluate_on(session, holdout_rows, &url, target_input.as_ref().map(|t| &t.expr), &inputs_exprs(&inputs)).await?;
        let (metrics, confusion) = match tally {
            Some(t) => (t.metrics(), t.confusion()),
            None => (vec![], vec![]),
        };
        if let Some(known) = &target_meta {
            warn_of_unseen_classes(session, known, &confusion);
        }
        (metrics, confusion)
    } else {
        (vec![], vec![])
    };
    let version = Version {
        version: version_number,
        url,
        algorithm: algorithm.name().to_string(),
        task: task.name().to_string(),
        target: target_input.as_ref().map(|t| t.name.clone()),
        features: model.features.iter().map(|f| f.name.clone()).collect(),
        rows_used,
        rows_total,
        training_ms: started.elapsed().as_millis() as u64,
        created_at: now_seconds(),
        metrics,
        confusion,
    };
    engine.models.add_version(&t.name, version.clone())?;
    session.notice(format!(
        "model {}@{version_number} trained on {rows_used} rows in {:.1} s",
        t.name,
        started.elapsed().as_secs_f64()
    ));
    Ok(Some(version))
}

fn inputs_exprs(inputs: &[Input]) -> Vec<Expr> {
    inputs.iter().map(|i| i.expr.clone()).collect()
}

/// Runs `squall_evaluate` over `rows` on the executors.
pub(super) async fn evaluate_on(
    session: &Session,
    rows: LogicalPlan,
    url: &str,
    target: Option<&Expr>,
    features: &[Expr],
) -> Result<Option<Tally>> {
    let mut args = vec![lit(url.to_string())];
    args.extend(target.cloned());
    args.extend(features.iter().cloned());
    let call = session.ctx.udaf(evaluate::NAME)?.call(args);
    let bytes = aggregate_blob(session, rows, call).await?;
    if bytes.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|e| SquallError::Internal(format!("reading metrics: {e}")))
}

/// Whether a column's values can go into the row hash (as numbers or as text).
fn hashable(data_type: &DataType) -> bool {
    Kind::of(data_type).is_some() || data_type.is_temporal()
}

fn column(name: &str) -> Expr {
    Expr::Column(Column::new(Some(ALIAS), name))
}

/// The distinct non-null values of a text column, sorted.
fn distinct(column: &ArrayRef) -> Vec<String> {
    let text = column.as_string::<i32>();
    let mut values: Vec<String> = text.iter().flatten().map(str::to_string).collect();
    values.sort();
    values.dedup();
    values
}

fn check_nulls(skip: bool, null_rows: u64, where_: impl FnOnce() -> String) -> Result<()> {
    if null_rows > 0 && !skip {
        return Err(SquallError::NullValueNotAllowed(format!(
            "{null_rows} training rows have NULLs in {}; filter them out or train with option nulls = 'skip'",
            where_()
        )));
    }
    Ok(())
}

fn check_rows(rows: u64, null_rows: u64) -> Result<()> {
    if rows == 0 {
        return Err(SquallError::DataException(if null_rows > 0 {
            format!("no training rows are left: all {null_rows} had NULLs")
        } else {
            "the training query gave no rows (after the holdout split)".to_string()
        }));
    }
    Ok(())
}

fn check_classes(classes: &[String], target: Option<&Input>) -> Result<()> {
    if let (Some(target), [only]) = (target, classes) {
        return Err(SquallError::DataException(format!(
            "target \"{}\" has one class ('{only}') in the training rows; a classifier needs at least two",
            target.name
        )));
    }
    Ok(())
}

/// The holdout keeps rows identical in every column together, so with few distinct rows a whole
/// class can land in it and the model never learns that class: said, not left to be discovered.
fn warn_of_unseen_classes(session: &Session, known: &[String], confusion: &[(String, String, u64)]) {
    let unseen: std::collections::BTreeSet<&str> = confusion.iter().map(|(actual, _, _)| actual.as_str()).filter(|a| !known.iter().any(|k| k == a)).collect();
    if !unseen.is_empty() {
        session.notice(format!(
            "class(es) {} appear only in the holdout rows, so the model never predicts them: rows identical in every column \
             fall on the same side of the split; give the query more distinct rows (an id column), another seed, or holdout = 0",
            unseen.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", ")
        ));
    }
}
