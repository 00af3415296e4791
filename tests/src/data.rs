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
