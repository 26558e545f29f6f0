//! CSV files in xtask go through the project's one reader, [`chimera_shared::table`] (polars),
//! so an example or a predict input fails with the same file, line and column as a worker's.

use std::path::Path;

pub use chimera_shared::table::{number_text as num, write, Table};

pub fn read(path: &Path) -> Result<Table, String> {
    Table::read(path).map_err(|e| e.to_string())
}

/// Every row as numbers.
pub fn numbers(table: &Table) -> Result<Vec<Vec<f64>>, String> {
    table.number_rows().map_err(|e| e.to_string())
}

/// Every row's cells as text.
pub fn text_rows(table: &Table) -> Result<Vec<Vec<String>>, String> {
    table.text_rows().map_err(|e| e.to_string())
}
