//! Checks on a predict request that need no model, and matching its columns to a model's.
//! Used by the master (to fail fast, before any fan-out) and by the workers.

use crate::api::PredictRequest;
use crate::error::ApiError;

/// Column names as the seed compares them: lower-cased and trimmed.
pub fn normalize(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Rejects what no model could answer: no rows, ragged rows, duplicate or empty column names,
/// values that are not finite. Returns the normalized column names.
pub fn check_request(req: &PredictRequest) -> Result<Vec<String>, ApiError> {
    let columns: Vec<String> = req.columns.iter().map(|c| normalize(c)).collect();
    if columns.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "X_pred_columns is empty: name the feature columns of X_pred_rows",
        ));
    }
    for (i, c) in columns.iter().enumerate() {
        if c.is_empty() {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("X_pred_columns[{i}] is an empty name"),
            ));
        }
        if columns[..i].contains(c) {
            return Err(ApiError::bad_request(
                "duplicate_column",
                format!("X_pred_columns names {c:?} twice (names are compared lower-cased and trimmed)"),
            ));
        }
    }
    if req.rows.is_empty() {
        return Err(ApiError::bad_request(
            "empty_rows",
            "X_pred_rows is empty: send at least one row",
        ));
    }
    for (i, row) in req.rows.iter().enumerate() {
        if row.len() != columns.len() {
            return Err(ApiError::bad_request(
                "row_length",
                format!(
                    "X_pred_rows[{i}] has {} values but X_pred_columns names {} columns",
                    row.len(),
                    columns.len()
                ),
            ));
        }
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            return Err(ApiError::bad_request(
                "invalid_value",
                format!("X_pred_rows[{i}][{j}] (column {:?}) is not a finite number", columns[j]),
            ));
        }
    }
    Ok(columns)
}

/// For each of the model's columns, its position in the request. Columns may come in any order;
/// missing and unknown ones are named.
pub fn align(request: &[String], model: &[String]) -> Result<Vec<usize>, ApiError> {
    let unknown: Vec<&String> = request.iter().filter(|c| !model.contains(c)).collect();
    if !unknown.is_empty() {
        return Err(ApiError::bad_request(
            "unknown_column",
            format!("unknown column(s) {unknown:?}; the model was trained on {model:?}"),
        ));
    }
    let missing: Vec<&String> = model.iter().filter(|c| !request.contains(c)).collect();
    if !missing.is_empty() {
        return Err(ApiError::bad_request(
            "missing_column",
            format!("missing column(s) {missing:?}; the model was trained on {model:?}"),
        ));
    }
    Ok(model
        .iter()
        .map(|m| request.iter().position(|r| r == m).expect("checked above"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(cols: &[&str], rows: Vec<Vec<f64>>) -> PredictRequest {
        PredictRequest {
            columns: cols.iter().map(|s| s.to_string()).collect(),
            rows,
        }
    }

    #[test]
    fn requests_are_checked() {
        assert_eq!(
            check_request(&req(&[" A", "b"], vec![vec![1.0, 2.0]])).unwrap(),
            vec!["a", "b"]
        );
        assert_eq!(check_request(&req(&["a"], vec![])).unwrap_err().code, "empty_rows");
        let e = check_request(&req(&["a", "b"], vec![vec![1.0, 2.0], vec![1.0]])).unwrap_err();
        assert_eq!(
            e.message,
            "X_pred_rows[1] has 1 values but X_pred_columns names 2 columns"
        );
        assert_eq!(
            check_request(&req(&["a", "A "], vec![vec![1.0, 2.0]]))
                .unwrap_err()
                .code,
            "duplicate_column"
        );
        assert_eq!(
            check_request(&req(&["a"], vec![vec![f64::NAN]])).unwrap_err().code,
            "invalid_value"
        );
        assert_eq!(
            check_request(&req(&[], vec![vec![]])).unwrap_err().code,
            "invalid_request"
        );
    }

    #[test]
    fn columns_align_by_name() {
        let model = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let got = align(&["c".into(), "a".into(), "b".into()], &model).unwrap();
        assert_eq!(got, vec![1, 2, 0]);
        let e = align(&["a".into(), "b".into(), "zz".into()], &model).unwrap_err();
        assert_eq!(e.code, "unknown_column");
        assert!(e.message.contains("\"zz\""));
        let e = align(&["a".into(), "b".into()], &model).unwrap_err();
        assert_eq!(e.code, "missing_column");
        assert!(e.message.contains("\"c\""));
    }
}
