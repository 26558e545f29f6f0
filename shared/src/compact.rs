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
//!
//! The parameter server's rounds, both ways ([`encode_step`], [`encode_step_answer`]): a
//! 40-byte header of five little-endian fields, then the numbers. A round moves a few dozen
//! numbers, and writing and reading them as JSON text was a quarter of what the master spends
//! on a round. A worker that speaks it
//! says so in its data sample (`compact_steps`); the round that carries the fit's settings
//! stays JSON.

use crate::api::{FitStepRequest, FitStepResponse, Label};
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

/// The media type of a compact fit-step body and answer.
pub const STEP_MEDIA_TYPE: &str = "application/x-chimera-fit-step";

/// A compact fit-step's header: five little-endian 8-byte fields before the numbers. A round
/// is a few dozen numbers, so even a JSON header line would be most of the work of reading it.
const STEP_HEADER_BYTES: usize = 40;

/// A lean fit-step (no settings: the worker holds them under `fit_id`) as a compact body:
/// `fit_id` (u64), `round` (u64), `learning_rate` (f64, NaN when absent), outputs `o` (u64),
/// columns `d` (u64), then the weights (`o` rows of `d`) and the bias (`o`) as little-endian
/// f64. `None` when it cannot be one: it carries settings, names no fit, or its weight rows
/// differ in length; such a request goes as JSON.
pub fn encode_step(req: &FitStepRequest) -> Option<Vec<u8>> {
    let (Some(fit_id), None) = (req.fit_id, &req.settings) else {
        return None;
    };
    let columns = req.weights.first().map_or(0, Vec::len);
    if req.weights.iter().any(|r| r.len() != columns) || req.bias.len() != req.weights.len() {
        return None;
    }
    let header = [
        fit_id,
        req.round,
        req.learning_rate.unwrap_or(f64::NAN).to_bits(),
        req.bias.len() as u64,
        columns as u64,
    ];
    Some(with_numbers(header, req.weights.iter().flatten().chain(&req.bias)))
}

/// Reads a compact fit-step body back. Its numbers are checked by the worker as a JSON body's
/// are (shape against the model, finite; a NaN learning rate is read as absent).
pub fn decode_step(bytes: &[u8]) -> Result<FitStepRequest, String> {
    let ([fit_id, round, rate, outputs, columns], payload) = step_header("a compact fit-step body", bytes)?;
    let rate = f64::from_bits(rate);
    let (outputs, columns) = (size(outputs)?, size(columns)?);
    let mut numbers = numbers_of(payload, outputs, columns.checked_add(1))?;
    let bias = numbers.split_off(outputs * columns);
    Ok(FitStepRequest {
        weights: rows_of(&numbers, outputs, columns),
        bias,
        round,
        fit_id: Some(fit_id),
        learning_rate: (!rate.is_nan()).then_some(rate),
        settings: None,
    })
}

/// A fit-step answer as a compact body: `n_samples` (u64), `loss` (f64), outputs `o` (u64),
/// columns `d` (u64), `averaged` (u64, 0 or 1), then the weights' gradient (`o` rows of `d`),
/// the bias's (`o`), and when averaged the new weights and bias likewise. `None` when its
/// rows differ in length (the worker then answers JSON).
pub fn encode_step_answer(a: &FitStepResponse) -> Option<Vec<u8>> {
    let outputs = a.bias_gradient.len();
    let columns = a.weights_gradients.first().map_or(0, Vec::len);
    let matrix_ok = |m: &[Vec<f64>]| m.len() == outputs && m.iter().all(|r| r.len() == columns);
    let averaged = match (&a.weights, &a.bias) {
        (Some(w), Some(b)) if matrix_ok(w) && b.len() == outputs => true,
        (None, None) => false,
        _ => return None,
    };
    if !matrix_ok(&a.weights_gradients) {
        return None;
    }
    let header = [
        a.n_samples as u64,
        a.loss.to_bits(),
        outputs as u64,
        columns as u64,
        u64::from(averaged),
    ];
    let model = a.weights.iter().flatten().flatten().chain(a.bias.iter().flatten());
    Some(with_numbers(
        header,
        a.weights_gradients
            .iter()
            .flatten()
            .chain(&a.bias_gradient)
            .chain(model),
    ))
}

/// Reads a compact fit-step answer back; the master checks its shape against the model.
pub fn decode_step_answer(bytes: &[u8]) -> Result<FitStepResponse, String> {
    let ([n_samples, loss, outputs, columns, averaged], payload) = step_header("a compact fit-step answer", bytes)?;
    let (outputs, columns) = (size(outputs)?, size(columns)?);
    let averaged = match averaged {
        0 => false,
        1 => true,
        other => return Err(format!("a compact fit-step answer with averaged = {other} (0 or 1)")),
    };
    let copies = if averaged { 2 } else { 1 };
    let per_copy = columns.checked_add(1);
    let mut numbers = numbers_of(payload, outputs, per_copy.and_then(|c| c.checked_mul(copies)))?;
    let model = numbers.split_off(outputs * (columns + 1));
    let bias_gradient = numbers.split_off(outputs * columns);
    let (weights, bias) = if averaged {
        let mut w = model;
        let b = w.split_off(outputs * columns);
        (Some(rows_of(&w, outputs, columns)), Some(b))
    } else {
        (None, None)
    };
    Ok(FitStepResponse {
        weights_gradients: rows_of(&numbers, outputs, columns),
        bias_gradient,
        n_samples: size(n_samples)?,
        loss: f64::from_bits(loss),
        weights,
        bias,
    })
}

/// The five header fields, then the numbers, all little-endian.
fn with_numbers<'a>(header: [u64; 5], numbers: impl Iterator<Item = &'a f64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(STEP_HEADER_BYTES + 8 * 32);
    for field in header {
        out.extend_from_slice(&field.to_le_bytes());
    }
    for v in numbers {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// A compact fit-step's five header fields and the bytes after them.
fn step_header<'a>(what: &str, bytes: &'a [u8]) -> Result<([u64; 5], &'a [u8]), String> {
    let Some((header, payload)) = bytes.split_first_chunk::<STEP_HEADER_BYTES>() else {
        return Err(format!(
            "{what} of {} bytes, shorter than its {STEP_HEADER_BYTES}-byte header",
            bytes.len()
        ));
    };
    let (fields, _) = header.as_chunks::<8>();
    let mut out = [0u64; 5];
    for (o, f) in out.iter_mut().zip(fields) {
        *o = u64::from_le_bytes(*f);
    }
    Ok((out, payload))
}

/// A header count as a size on this machine.
fn size(v: u64) -> Result<usize, String> {
    usize::try_from(v).map_err(|_| format!("a compact fit-step count of {v}"))
}

/// The payload's numbers, which must be exactly `rows × width` of them (`width` is `None` when
/// computing it overflowed).
fn numbers_of(payload: &[u8], rows: usize, width: Option<usize>) -> Result<Vec<f64>, String> {
    check_length(payload, rows, width.unwrap_or(usize::MAX))?;
    Ok(payload
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap_or_default()))
        .collect())
}

/// The first `rows × width` of `values` as `rows` rows of `width`.
fn rows_of(values: &[f64], rows: usize, width: usize) -> Vec<Vec<f64>> {
    (0..rows).map(|r| values[r * width..(r + 1) * width].to_vec()).collect()
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

    fn step(settings: bool) -> FitStepRequest {
        let mut req: FitStepRequest = serde_json::from_str(
            r#"{"weights": [[0.1, -2.5e-300, 3.0], [1.0, 0.2, -0.0]], "bias": [0.3, -7.0], "round": 9, "fit_id": 18446744073709551615, "learning_rate": 0.01}"#,
        )
        .unwrap();
        if settings {
            req.settings = Some(
                serde_json::from_str(
                    r#"{"loss": "squared_error", "penalty": "l2", "alpha": 0.0001, "l1_ratio": 0.15, "huber_delta": 0.1, "random_state": 0, "mode": "gradient", "local_epochs": 1, "learning_rate": 0.01, "columns": ["a", "b", "c"]}"#,
                )
                .unwrap(),
            );
        }
        req
    }

    #[test]
    fn fit_steps_travel_bit_for_bit_and_only_lean_ones_go_compact() {
        let lean = step(false);
        let bytes = encode_step(&lean).unwrap();
        assert_eq!(decode_step(&bytes).unwrap(), lean);
        let no_rate = FitStepRequest {
            learning_rate: None,
            ..lean.clone()
        };
        assert_eq!(decode_step(&encode_step(&no_rate).unwrap()).unwrap(), no_rate);
        assert!(encode_step(&step(true)).is_none(), "the settings round stays JSON");
        let unnamed = FitStepRequest {
            fit_id: None,
            ..lean.clone()
        };
        assert!(encode_step(&unnamed).is_none(), "a round without fit_id stays JSON");
        let mut ragged = lean.clone();
        ragged.weights[1].pop();
        assert!(
            encode_step(&ragged).is_none(),
            "ragged weights stay JSON (the worker names them)"
        );
        // What a peer could get wrong: a cut body, a shape that does not match, no header.
        assert!(decode_step(&bytes[..bytes.len() - 8])
            .unwrap_err()
            .contains("bytes of numbers"));
        assert!(decode_step(&bytes[..39]).unwrap_err().contains("header"));
        assert!(decode_step(&bytes[1..]).is_err());
        let mut huge = bytes.clone();
        huge[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(decode_step(&huge).is_err(), "no overflow");
    }

    #[test]
    fn fit_step_answers_travel_bit_for_bit_in_both_modes() {
        let gradient = FitStepResponse {
            weights_gradients: vec![vec![0.1 + 0.2, -1e-310], vec![5.0, f64::MIN_POSITIVE]],
            bias_gradient: vec![1.0 / 3.0, -0.0],
            n_samples: 640,
            loss: 0.212_121_212_121,
            weights: None,
            bias: None,
        };
        let bytes = encode_step_answer(&gradient).unwrap();
        assert_eq!(decode_step_answer(&bytes).unwrap(), gradient);
        let averaged = FitStepResponse {
            weights: Some(vec![vec![2.0, 3.0], vec![4.0, 5.0]]),
            bias: Some(vec![6.0, 7.0]),
            ..gradient.clone()
        };
        let bytes = encode_step_answer(&averaged).unwrap();
        assert_eq!(decode_step_answer(&bytes).unwrap(), averaged);
        assert!(decode_step_answer(&bytes[..bytes.len() - 8]).is_err());
        let half = FitStepResponse {
            bias: None,
            ..averaged.clone()
        };
        assert!(encode_step_answer(&half).is_none(), "weights without bias stay JSON");
        let no_columns = FitStepResponse {
            weights_gradients: vec![vec![], vec![]],
            ..gradient.clone()
        };
        assert_eq!(
            decode_step_answer(&encode_step_answer(&no_columns).unwrap()).unwrap(),
            no_columns
        );
        let huge = br#"{"n_samples": 1, "loss": 0.5, "outputs": 2, "columns": 9223372036854775807, "averaged": true}"#
            .to_vec();
        assert!(
            decode_step_answer(&[huge, b"\n".to_vec()].concat()).is_err(),
            "no overflow"
        );
    }
}
