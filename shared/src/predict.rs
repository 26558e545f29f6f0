//! Checks on a predict request that need no model, and matching its columns to a model's.
//! Used by the master (to fail fast, before any fan-out) and by the workers.

use crate::api::FlatRows;
use crate::error::ApiError;

/// Column names as the seed compares them: lower-cased and trimmed.
pub fn normalize(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Rejects column lists no model could use (empty, duplicate or blank names); returns the
/// normalized names.
pub fn check_columns(raw: &[String]) -> Result<Vec<String>, ApiError> {
    let columns: Vec<String> = raw.iter().map(|c| normalize(c)).collect();
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
    Ok(columns)
}

pub fn check_not_empty(n_rows: usize) -> Result<(), ApiError> {
    if n_rows == 0 {
        return Err(ApiError::bad_request(
            "empty_rows",
            "X_pred_rows is empty: send at least one row",
        ));
    }
    Ok(())
}

/// Every row must hold one finite number per column.
pub fn check_rows(rows: &FlatRows, columns: &[String]) -> Result<(), ApiError> {
    check_not_empty(rows.n_rows)?;
    let wrong = if rows.width != columns.len() {
        Some((0, rows.width))
    } else {
        rows.ragged
    };
    if let Some((i, len)) = wrong {
        return Err(ApiError::bad_request(
            "row_length",
            format!(
                "X_pred_rows[{i}] has {len} values but X_pred_columns names {} columns",
                columns.len()
            ),
        ));
    }
    if let Some(at) = rows.values.iter().position(|v| !v.is_finite()) {
        let (i, j) = (at / rows.width, at % rows.width);
        return Err(ApiError::bad_request(
            "invalid_value",
            format!("X_pred_rows[{i}][{j}] (column {:?}) is not a finite number", columns[j]),
        ));
    }
    Ok(())
}

/// For each of the model's columns, its position in the request. Columns may come in any order;
/// missing and unknown ones are named.
pub fn align(request: &[String], model: &[String]) -> Result<Vec<usize>, ApiError> {
    // The usual case, on every request of a hot path: the model's own order.
    if request == model {
        return Ok((0..model.len()).collect());
    }
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
    use crate::api::PredictBody;

    fn body(json: &str) -> PredictBody {
        serde_json::from_str(json).unwrap()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rows_parse_into_one_buffer() {
        let b = body(r#"{"X_pred_columns": ["a", "b"], "X_pred_rows": [[1, 2.5], [3, 4]]}"#);
        assert_eq!((b.rows.n_rows, b.rows.width), (2, 2));
        assert_eq!(b.rows.row(1), &[3.0, 4.0]);
        assert!(check_rows(&b.rows, &check_columns(&b.columns).unwrap()).is_ok());
    }

    #[test]
    fn requests_are_checked() {
        assert_eq!(check_columns(&strings(&[" A", "b"])).unwrap(), vec!["a", "b"]);
        assert_eq!(
            check_columns(&strings(&["a", "A "])).unwrap_err().code,
            "duplicate_column"
        );
        assert_eq!(check_columns(&[]).unwrap_err().code, "invalid_request");
        let cols = strings(&["a", "b"]);
        assert_eq!(
            check_rows(&body(r#"{"X_pred_columns": [], "X_pred_rows": []}"#).rows, &cols)
                .unwrap_err()
                .code,
            "empty_rows"
        );
        let e = check_rows(
            &body(r#"{"X_pred_columns": [], "X_pred_rows": [[1, 2], [1]]}"#).rows,
            &cols,
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "X_pred_rows[1] has 1 values but X_pred_columns names 2 columns"
        );
        let e = check_rows(
            &body(r#"{"X_pred_columns": [], "X_pred_rows": [[1], [1]]}"#).rows,
            &cols,
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "X_pred_rows[0] has 1 values but X_pred_columns names 2 columns"
        );
    }

    #[test]
    fn columns_align_by_name() {
        let model = strings(&["a", "b", "c"]);
        assert_eq!(align(&strings(&["c", "a", "b"]), &model).unwrap(), vec![1, 2, 0]);
        let e = align(&strings(&["a", "b", "zz"]), &model).unwrap_err();
        assert_eq!(e.code, "unknown_column");
        assert!(e.message.contains("\"zz\""));
        let e = align(&strings(&["a", "b"]), &model).unwrap_err();
        assert_eq!(e.code, "missing_column");
        assert!(e.message.contains("\"c\""));
    }
}
