//! The compact predict answer a worker gives its master for large predicts: one JSON line
//! (`{"n_rows": N, "width": W, "classes": [...]}`), then `N × W` little-endian f64 (values for a
//! regression, one probability per class for a classification). A 100,000-row binary
//! classification answer is 1.6 MB instead of about 7 MB of JSON, and the master adds it into
//! its sums as it decodes, so a large predict costs it about its body size, not several times.
//! Clients never see it: they send and receive JSON.
//!
//! The other way, a large predict's rows: the master parses the client's JSON once and sends
//! every worker the same compact body ([`encode_rows`]: a header line with the columns and the
//! shape, then the numbers), so no worker parses the same text again.

use crate::api::Label;
use serde::{Deserialize, Serialize};

/// The media type the master asks for (`Accept`) and the worker answers with.
pub const MEDIA_TYPE: &str = "application/x-chimera-predict";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub n_rows: usize,
    /// Numbers per row: 1 for a regression, the number of classes for a classification.
    pub width: usize,
    /// The classes, in column order (classification only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<Label>>,
}

/// A decoded answer: the header and the numbers, read in place.
#[derive(Debug)]
pub struct Answer<'a> {
    pub header: Header,
    payload: &'a [u8],
}

impl Answer<'_> {
    /// Row `i`'s numbers.
    pub fn row(&self, i: usize) -> impl Iterator<Item = f64> + '_ {
        let w = self.header.width;
        self.payload[i * w * 8..(i + 1) * w * 8]
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap_or_default()))
    }
}

pub fn encode(header: &Header, values: impl Iterator<Item = f64>) -> Vec<u8> {
    let mut out = serde_json::to_vec(header).unwrap_or_default();
    out.push(b'\n');
    out.reserve(header.n_rows * header.width * 8);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Checks everything a peer could get wrong: the header, the classes against the width, the
/// payload's length, and that every number is finite.
pub fn decode(bytes: &[u8]) -> Result<Answer<'_>, String> {
    let (header, payload): (Header, _) = split("a compact answer", bytes)?;
    if header.width == 0 || header.classes.as_ref().is_some_and(|c| c.len() != header.width) {
        return Err(format!(
            "a compact header of width {} with {:?} classes",
            header.width,
            header.classes.as_ref().map(Vec::len)
        ));
    }
    check_length(payload, header.n_rows, header.width)?;
    if payload
        .chunks_exact(8)
        .any(|b| !f64::from_le_bytes(b.try_into().unwrap_or_default()).is_finite())
    {
        return Err("a number that is not finite".into());
    }
    Ok(Answer { header, payload })
}

/// A compact body's header line, read as `H`, and the numbers after it.
fn split<'a, H: serde::de::DeserializeOwned>(what: &str, bytes: &'a [u8]) -> Result<(H, &'a [u8]), String> {
    let end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| format!("{what} without its header line"))?;
    let header = serde_json::from_slice(&bytes[..end]).map_err(|e| format!("{what}: an unreadable header: {e}"))?;
    Ok((header, &bytes[end + 1..]))
}

/// `n_rows × width` little-endian f64 must be exactly the payload (no overflow on the way).
fn check_length(payload: &[u8], n_rows: usize, width: usize) -> Result<(), String> {
    let expected = n_rows.checked_mul(width).and_then(|n| n.checked_mul(8));
    if expected == Some(payload.len()) {
        return Ok(());
    }
    Err(format!(
        "{} bytes of numbers for {n_rows} rows x {width} (expected {expected:?})",
        payload.len()
    ))
}

/// The media type of a compact rows body (the master's large predict to its workers).
pub const ROWS_MEDIA_TYPE: &str = "application/x-chimera-rows";

#[derive(Debug, Serialize, Deserialize)]
struct RowsHeader {
    #[serde(rename = "X_pred_columns")]
    columns: Vec<String>,
    n_rows: usize,
    width: usize,
}

/// A predict body as a compact rows body: `{"X_pred_columns": [...], "n_rows": N, "width": W}`,
/// a newline, then the `N × W` numbers, row-major, little-endian f64.
pub fn encode_rows(body: &crate::api::PredictBody) -> Vec<u8> {
    let header = RowsHeader {
        columns: body.columns.clone(),
        n_rows: body.rows.n_rows,
        width: body.rows.width,
    };
    let mut out = serde_json::to_vec(&header).unwrap_or_default();
    out.push(b'\n');
    out.reserve(body.rows.values.len() * 8);
    for v in &body.rows.values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Reads a compact rows body back, checking its shape against its length; the numbers are
/// checked like a JSON body's (`predict::check_rows`) by the caller.
pub fn decode_rows(bytes: &[u8]) -> Result<crate::api::PredictBody, String> {
    let (header, payload): (RowsHeader, _) = split("a compact rows body", bytes)?;
    check_length(payload, header.n_rows, header.width)?;
    let values = payload
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap_or_default()))
        .collect();
    Ok(crate::api::PredictBody {
        columns: header.columns,
        rows: crate::api::FlatRows {
            values,
            n_rows: header.n_rows,
            width: header.width,
            ragged: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_travel_bit_for_bit_and_a_short_body_is_named() {
        let body: crate::api::PredictBody =
            serde_json::from_str(r#"{"X_pred_columns": ["a", "b"], "X_pred_rows": [[0.1, 1e-300], [-2.5, 3.0]]}"#)
                .unwrap();
        let bytes = encode_rows(&body);
        assert_eq!(decode_rows(&bytes).unwrap(), body);
        assert!(decode_rows(&bytes[..bytes.len() - 3])
            .unwrap_err()
            .contains("bytes of numbers"));
        assert!(decode_rows(b"{}").is_err(), "no header line");
        let huge = br#"{"X_pred_columns": [], "n_rows": 18446744073709551615, "width": 2}"#.to_vec();
        assert!(decode_rows(&[huge, b"\n".to_vec()].concat()).is_err(), "no overflow");
    }

    #[test]
    fn numbers_travel_bit_for_bit_and_bad_answers_are_named() {
        let header = Header {
            n_rows: 2,
            width: 2,
            classes: Some(vec![Label::Str("bad".into()), Label::Str("good".into())]),
        };
        let values = [0.1 + 0.2, 0.7, 1.0 / 3.0, 2.0 / 3.0];
        let bytes = encode(&header, values.iter().copied());
        let answer = decode(&bytes).unwrap();
        assert_eq!(answer.header, header);
        assert_eq!(answer.row(1).collect::<Vec<_>>(), vec![1.0 / 3.0, 2.0 / 3.0]);
        assert_eq!(answer.row(0).next(), Some(0.1 + 0.2));
        assert!(decode(&bytes[..bytes.len() - 1])
            .unwrap_err()
            .contains("bytes of numbers"));
        assert!(decode(b"no header").is_err());
        let wrong = Header {
            width: 3,
            ..header.clone()
        };
        assert!(decode(&encode(&wrong, std::iter::repeat_n(0.5, 6))).is_err());
        let nan = encode(&header, [f64::NAN, 0.0, 0.0, 0.0].into_iter());
        assert!(decode(&nan).unwrap_err().contains("finite"));
        let huge = br#"{"n_rows": 18446744073709551615, "width": 2}"#.to_vec();
        assert!(decode(&[huge, b"\n".to_vec()].concat()).is_err(), "no overflow");
    }
}
