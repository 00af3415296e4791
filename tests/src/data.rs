//! Test data written as real files: Parquet through the parquet crate's Arrow writer, CSV as text.
//! Rows are generated from a formula, so each test can compute its expected answers itself.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;

pub const REGIONS: [&str; 4] = ["east", "north", "south", "west"];
pub const SEGMENTS: [&str; 3] = ["retail", "smb", "enterprise"];

/// One order: id, customer_id, amount, region.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub id: i64,
    pub customer_id: i64,
    pub amount: i64,
    pub region: &'static str,
}

pub fn order(id: i64, customers: i64) -> Order {
    Order { id, customer_id: (id * 7) % customers + 1, amount: (id * 37) % 1000, region: REGIONS[(id % 4) as usize] }
}

/// Writes `files` Parquet files of `rows_per_file` orders each into `dir`; returns every order.
pub fn write_orders(dir: &Path, files: usize, rows_per_file: usize, customers: i64) -> Vec<Order> {
    std::fs::create_dir_all(dir).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("customer_id", DataType::Int64, false),
        Field::new("amount", DataType::Int64, false),
        Field::new("region", DataType::Utf8, false),
    ]));
    let mut all = Vec::new();
    for f in 0..files {
        let orders: Vec<Order> = (0..rows_per_file).map(|i| order((f * rows_per_file + i) as i64, customers)).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(orders.iter().map(|o| o.id))),
                Arc::new(Int64Array::from_iter_values(orders.iter().map(|o| o.customer_id))),
                Arc::new(Int64Array::from_iter_values(orders.iter().map(|o| o.amount))),
                Arc::new(StringArray::from_iter_values(orders.iter().map(|o| o.region))),
            ],
        )
        .unwrap();
        let file = File::create(dir.join(format!("orders-{f}.parquet"))).unwrap();
        let mut writer = ArrowWriter::try_new(file, schema.clone(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        all.extend(orders);
    }
    all
}

/// Writes `n` rows (id, name = "customer name number {id}") to one Parquet file whose embedded
/// Arrow schema says `Utf8View`, as arrow-rs writers (DataFusion's among them) produce them.
pub fn write_view_strings(path: &Path, n: i64) {
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("name", DataType::Utf8View, false)]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from_iter_values(0..n)),
            Arc::new(arrow::array::StringViewArray::from_iter_values((0..n).map(|i| format!("customer name number {i}")))),
        ],
    )
    .unwrap();
    let mut writer = ArrowWriter::try_new(File::create(path).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// Writes the numbers of `range` as one non-nullable BIGINT column `n` to one Parquet file, as
/// squall's managed tables were written before they were Delta tables.
pub fn write_numbers(path: &Path, range: std::ops::Range<i64>) {
    let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from_iter_values(range))]).unwrap();
    let mut writer = ArrowWriter::try_new(File::create(path).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// The segment of customer `id`.
pub fn segment(id: i64) -> &'static str {
    SEGMENTS[(id % 3) as usize]
}

/// Writes customers 1..=n as CSV with a header: id,name,segment.
pub fn write_customers_csv(path: &Path, n: i64) {
    let mut text = String::from("id,name,segment\n");
    for id in 1..=n {
        text.push_str(&format!("{id},customer {id},{}\n", segment(id)));
    }
    std::fs::write(path, text).unwrap();
}

/// The repository's `tests/data/` directory (iris and scikit-learn's reference figures).
pub fn shared_data_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// Writes iris as CSV with an `id` column first (its line number), so rows can be matched to
/// scikit-learn's per-row figures whatever order a query returns them in.
pub fn write_iris_with_ids(path: &Path) {
    let text = std::fs::read_to_string(shared_data_dir().join("iris.csv")).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let id = if i == 0 { "id".to_string() } else { (i - 1).to_string() };
        out.push_str(&format!("{id},{line}\n"));
    }
    std::fs::write(path, out).unwrap();
}

/// One web visit: a mix of numeric, text and boolean columns and a text outcome, made from a
/// formula so that a Naive Bayes model has something to learn.
pub struct Visit {
    pub id: i64,
    pub seconds: f64,
    pub pages: i64,
    pub browser: &'static str,
    pub mobile: bool,
    pub outcome: &'static str,
}

pub const BROWSERS: [&str; 3] = ["firefox", "chrome", "safari"];

pub fn visit(id: i64) -> Visit {
    let outcome = ["leave", "browse", "buy"][(id % 3) as usize];
    let base = [20.0, 90.0, 240.0][(id % 3) as usize];
    // A spread that does not repeat with the outcome.
    let seconds = base + ((id * 7919) % 61) as f64 - 30.0;
    let pages = [1, 4, 9][(id % 3) as usize] + (id * 31) % 3;
    let browser = BROWSERS[((id / 3 + id % 3) % 3) as usize];
    let mobile = (id / 7) % 2 == 0 || outcome == "leave";
    Visit { id, seconds, pages, browser, mobile, outcome }
}

/// Writes `rows` visits as Parquet split over `files` files in `dir`.
pub fn write_visits(dir: &Path, files: usize, rows: usize) {
    use arrow::array::{BooleanArray, Float64Array};
    std::fs::create_dir_all(dir).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("seconds", DataType::Float64, true),
        Field::new("pages", DataType::Int64, false),
        Field::new("browser", DataType::Utf8, false),
        Field::new("mobile", DataType::Boolean, false),
        Field::new("outcome", DataType::Utf8, false),
    ]));
    let per_file = rows.div_ceil(files);
    for f in 0..files {
        let visits: Vec<Visit> = (f * per_file..((f + 1) * per_file).min(rows)).map(|i| visit(i as i64)).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(visits.iter().map(|v| v.id))),
                Arc::new(Float64Array::from_iter_values(visits.iter().map(|v| v.seconds))),
                Arc::new(Int64Array::from_iter_values(visits.iter().map(|v| v.pages))),
                Arc::new(StringArray::from_iter_values(visits.iter().map(|v| v.browser))),
                Arc::new(BooleanArray::from(visits.iter().map(|v| v.mobile).collect::<Vec<_>>())),
                Arc::new(StringArray::from_iter_values(visits.iter().map(|v| v.outcome))),
            ],
        )
        .unwrap();
        let file = File::create(dir.join(format!("visits-{f}.parquet"))).unwrap();
        let mut writer = ArrowWriter::try_new(file, schema.clone(), None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }
}
