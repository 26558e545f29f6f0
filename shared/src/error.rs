//! The error shape of every 4xx/5xx answer, kept from the Python original:
//! `{"message": ..., "details": {"errorCode": <http status>, "errorMessage": <kind>}}`.
//!
//! `errorMessage` is a stable, machine-readable code (`unknown_column`, `not_fitted`, ...);
//! `message` is the sentence a person reads, naming what was wrong and what to do.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetails {
    #[serde(rename = "errorCode")]
    pub error_code: u16,
    #[serde(rename = "errorMessage")]
    pub error_message: String,
}

/// The JSON body of an error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub message: String,
    pub details: ErrorDetails,
}

/// An error that becomes an HTTP answer: status, stable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400: the request itself is wrong (bad JSON, wrong shape, bad values).
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    /// 409: the request is fine but the node is not in a state to answer it (predict before fit).
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(409, code, message)
    }

    /// 503: no worker could do the job.
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(503, code, message)
    }

    /// 500: a fault of ours; the message still says what happened.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "internal_error", message)
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            message: self.message.clone(),
            details: ErrorDetails {
                error_code: self.status,
                error_message: self.code.to_string(),
            },
        }
    }

    /// Rebuilds an error from a peer's answer (the master relaying a worker's 4xx).
    pub fn from_body(status: u16, body: &ErrorBody) -> Self {
        ApiError {
            status,
            code: intern_code(&body.details.error_message),
            message: body.message.clone(),
        }
    }
}

/// Codes are `&'static str` so they stay a closed, documented set; unknown ones from a peer
/// collapse into `worker_error`.
fn intern_code(code: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "invalid_json",
        "invalid_request",
        "unknown_column",
        "missing_column",
        "duplicate_column",
        "empty_rows",
        "row_length",
        "invalid_value",
        "not_fitted",
        "fit_in_progress",
        "columns_mismatch",
        "training_diverged",
        "payload_too_large",
        "not_found",
        "method_not_allowed",
        "wrong_kind",
        "no_worker_available",
        "internal_error",
    ];
    KNOWN.iter().find(|k| **k == code).copied().unwrap_or("worker_error")
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_the_seed_shape() {
        let e = ApiError::bad_request("unknown_column", "unknown column 'foo'");
        let json = serde_json::to_value(e.body()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"message": "unknown column 'foo'",
                "details": {"errorCode": 400, "errorMessage": "unknown_column"}})
        );
    }

    #[test]
    fn relayed_errors_keep_known_codes_and_fold_unknown_ones() {
        let body = ApiError::conflict("not_fitted", "fit first").body();
        assert_eq!(ApiError::from_body(409, &body).code, "not_fitted");
        let mut odd = body.clone();
        odd.details.error_message = "something_new".into();
        assert_eq!(ApiError::from_body(409, &odd).code, "worker_error");
    }
}
