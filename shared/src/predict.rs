//! Checks on a predict request that need no model, and matching its columns to a model's.
//! Used by the master (to fail fast, before any fan-out) and by the workers.

use crate::api::FlatRows;
use crate::error::{ApiError, Code};
use std::collections::{HashMap, HashSet};

/// Column names as the seed compares them: lower-cased and trimmed.
pub fn normalize(name: &str) -> String {
    name.trim().to_lowercase()
}

/// Rejects column lists no model could use (empty, duplicate or blank names); returns the
/// normalized names.
pub fn check_columns(raw: &[String]) -> Result<Vec<String>, ApiError> {
    let columns: Vec<String> = raw.iter().map(|c| normalize(c)).collect();
    if columns.is_empty() {
        return Err(ApiError::new(
            Code::InvalidRequest,
            "X_pred_columns is empty: name the feature columns of X_pred_rows",
        ));
    }
    // A set, not a scan of the names before each one: a request may name 100,000 columns.
    let mut seen = HashSet::with_capacity(columns.len());
    for (i, c) in columns.iter().enumerate() {
        if c.is_empty() {
            return Err(ApiError::new(
                Code::InvalidRequest,
                format!("X_pred_columns[{i}] is an empty name"),
            ));
        }
        if !seen.insert(c.as_str()) {
            return Err(ApiError::new(
                Code::DuplicateColumn,
                format!("X_pred_columns names {c:?} twice (names are compared lower-cased and trimmed)"),
            ));
        }
    }
    Ok(columns)
}

/// At most `max` columns (`CHIMERA_MAX_COLUMNS`): checked first, before anything looks at
/// the names one by one.
pub fn check_column_count(n: usize, max: usize) -> Result<(), ApiError> {
    if n > max {
        return Err(ApiError::new(
            Code::InvalidRequest,
            format!("X_pred_columns names {n} columns; at most {max} are accepted (CHIMERA_MAX_COLUMNS)"),
        ));
    }
    Ok(())
}

pub fn check_not_empty(n_rows: usize) -> Result<(), ApiError> {
    if n_rows == 0 {
        return Err(ApiError::new(
            Code::EmptyRows,
            "X_pred_rows is empty: send at least one row",
        ));
    }
    Ok(())
}

/// A predict body checked as every node checks one: at most `max_columns` columns, each named
/// once, and a finite number per column in every row. Returns the columns normalized.
pub fn check_request(request: &crate::api::PredictBody, max_columns: usize) -> Result<Vec<String>, ApiError> {
    check_column_count(request.columns.len(), max_columns)?;
    let columns = check_columns(&request.columns)?;
    check_rows(&request.rows, &columns)?;
    Ok(columns)
}

/// Every row must hold one finite number per column.
pub fn check_rows(rows: &FlatRows, columns: &[String]) -> Result<(), ApiError> {
    check_not_empty(rows.n_rows)?;
    let wrong = if rows.width == columns.len() {
        rows.ragged
    } else {
        Some((0, rows.width))
    };
    if let Some((i, len)) = wrong {
        return Err(ApiError::new(
            Code::RowLength,
            format!(
                "X_pred_rows[{i}] has {len} values but X_pred_columns names {} columns",
                columns.len()
            ),
        ));
    }
    if let Some(at) = rows.values.iter().position(|v| !v.is_finite()) {
        let (i, j) = (at / rows.width, at % rows.width);
        return Err(ApiError::new(
            Code::InvalidValue,
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
    // Linear: one map of the request's names (which `check_columns` made unique).
    let at: HashMap<&str, usize> = request.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
    let trained: HashSet<&str> = model.iter().map(String::as_str).collect();
    let unknown: Vec<&String> = request.iter().filter(|c| !trained.contains(c.as_str())).collect();
    if !unknown.is_empty() {
        return Err(ApiError::new(
            Code::UnknownColumn,
            format!(
                "unknown column(s) {}; the model was trained on {}",
                some_of(&unknown),
                some_of(model)
            ),
        ));
    }
    let missing: Vec<&String> = model.iter().filter(|c| !at.contains_key(c.as_str())).collect();
    if !missing.is_empty() {
        return Err(ApiError::new(
            Code::MissingColumn,
            format!(
                "missing column(s) {}; the model was trained on {}",
                some_of(&missing),
                some_of(model)
            ),
        ));
    }
    Ok(model.iter().map(|m| at[m.as_str()]).collect())
}

/// A list of names for a message: all of them up to 20, else the first 20 and how many more.
fn some_of<S: std::fmt::Debug>(names: &[S]) -> String {
    const SHOWN: usize = 20;
    if names.len() <= SHOWN {
        return format!("{names:?}");
    }
    format!("{:?} and {} more", &names[..SHOWN], names.len() - SHOWN)
}

/// At most how many numbers a JSON body holds: every number but the last follows a comma.
/// Counted 32 bytes at a time into byte-wide sums, which compilers turn into vector code.
pub fn numbers_at_most(body: &[u8]) -> usize {
    let mut total = 1;
    // 255 blocks of 32 before a byte-wide sum could overflow.
    for part in body.chunks(255 * 32) {
        let mut sums = [0u8; 32];
        let blocks = part.chunks_exact(32);
        total += blocks
            .remainder()
            .iter()
            .map(|&b| usize::from(b == b','))
            .sum::<usize>();
        for block in blocks {
            for (sum, &b) in sums.iter_mut().zip(block) {
                *sum += u8::from(b == b',');
            }
        }
        total += sums.iter().map(|&v| usize::from(v)).sum::<usize>();
    }
    total
}

/// Why [`parse_body_parallel`] gave a body back unparsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unscanned {
    /// Not the plain shape the scanner reads (no `X_pred_rows` key, a string inside the rows, a
    /// chunk that does not parse): a one-pass parse names the problem.
    Unusual,
    /// Its numbers take more room as `f64` than as text (8 bytes each): parsing it would more
    /// than double what the master holds, so the workers parse it instead.
    Dense,
}

/// Parses a large predict body with its rows split among `threads` threads at row boundaries:
/// the same [`PredictBody`](crate::api::PredictBody) as one `serde_json` pass, in a fraction of
/// the time. The rows array and the cuts between rows are found by looking at a few bytes
/// around them; each chunk's parse then checks it, and stops as soon as its numbers would take
/// more room than its text ([`Unscanned::Dense`]), so no separate pass counts them first.
pub fn parse_body_parallel(body: &[u8], threads: usize) -> Result<crate::api::PredictBody, Unscanned> {
    const KEY: &[u8] = b"\"X_pred_rows\"";
    let threads = threads.max(1);
    let unusual = Unscanned::Unusual;
    let key = body.windows(KEY.len()).position(|w| w == KEY).ok_or(unusual)?;
    let mut at = key + KEY.len();
    let skip_ws = |at: &mut usize| {
        while body.get(*at).is_some_and(u8::is_ascii_whitespace) {
            *at += 1;
        }
    };
    skip_ws(&mut at);
    (body.get(at) == Some(&b':')).then_some(()).ok_or(unusual)?;
    at += 1;
    skip_ws(&mut at);
    (body.get(at) == Some(&b'[')).then_some(()).ok_or(unusual)?;
    let start = at;
    // The rows array ends at the last `]` that closes a row (`]` after `]`); from the end, since
    // the rows are most of the body. A body where that is something else fails a parse below.
    let closes_row = |i: usize| body[..i].trim_ascii_end().last() == Some(&b']');
    let end = (start + 1..body.len())
        .rev()
        .find(|&i| body[i] == b']' && closes_row(i))
        .ok_or(unusual)?;
    // Cut after a row's `]` near each share of the rows; a parse below checks each chunk.
    let mut cuts = vec![start + 1];
    for k in 1..threads {
        let from = (start + (end - start) * k / threads).max(cuts[cuts.len() - 1]);
        let cut = (from..end).find(|&i| body[i] == b']' && body[i + 1..].trim_ascii_start().first() == Some(&b','));
        if let Some(cut) = cut {
            cuts.push(cut + 1);
        }
    }
    cuts.push(end);
    // The rest of the body, with an empty rows array: its columns (and its validity).
    let mut rest = body[..start].to_vec();
    rest.extend_from_slice(b"[]");
    rest.extend_from_slice(&body[end + 1..]);
    let shell: crate::api::PredictShape = serde_json::from_slice(&rest).map_err(|_| unusual)?;
    // Each chunk is `[row, row, ...]` once its leading comma is dropped.
    let chunks: Vec<&[u8]> = cuts.windows(2).map(|w| &body[w[0]..w[1]]).collect();
    let parsed: Vec<Result<FlatRows, Unscanned>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                scope.spawn(move || {
                    let trimmed = chunk.trim_ascii_start();
                    let rows = trimmed.strip_prefix(b",").unwrap_or(trimmed);
                    // Anything the scanner does not take, serde_json refuses too; the caller's
                    // one-pass parse then names it.
                    parse_row_list(rows, true)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(Unscanned::Unusual)))
            .collect()
    });
    let mut out = FlatRows::default();
    // A dense chunk makes the body dense, whatever another chunk says.
    if parsed.contains(&Err(Unscanned::Dense)) {
        return Err(Unscanned::Dense);
    }
    for part in parsed {
        let part = part?;
        if part.n_rows == 0 {
            continue;
        }
        if out.n_rows == 0 {
            out = part; // The first rows are kept as parsed, not copied.
            continue;
        }
        if out.ragged.is_none() && part.width != out.width {
            out.ragged = Some((out.n_rows, part.width));
        }
        if out.ragged.is_none() {
            out.ragged = part.ragged.map(|(i, len)| (out.n_rows + i, len));
        }
        out.n_rows += part.n_rows;
        out.values.extend_from_slice(&part.values);
    }
    Ok(crate::api::PredictBody {
        columns: shell.columns,
        rows: out,
    })
}

/// Rows of JSON numbers separated by commas (`[1, 2.5], [-3e2, 4]`, the inside of
/// `X_pred_rows`), read by a scanner made for exactly that, faster than serde_json's general
/// parser on a large predict, which was most of the master's work. Each number is checked
/// against JSON's number grammar, then converted by `fast-float2` (Lemire's algorithm), which
/// rounds correctly, as serde_json does with `float_roundtrip` (on for the workspace), so both
/// give the same bits. [`Unscanned::Unusual`] for anything else (strings, nesting, a number
/// out of range, a stray byte), all of which serde_json refuses too: the caller's one-pass
/// parse then names the problem. With `bounded`, [`Unscanned::Dense`] when the numbers take
/// more room as f64 than as text, told early (see [`DENSE_AFTER`]).
fn parse_row_list(text: &[u8], bounded: bool) -> Result<FlatRows, Unscanned> {
    let (out, read) = scan_rows(text, bounded).ok_or(Unscanned::Unusual)?;
    if bounded && out.values.len() * 8 > read {
        return Err(Unscanned::Dense);
    }
    Ok(out)
}

/// A bounded scan gives up once its numbers take more room as f64 than the text read so far,
/// after this much text: early enough that a dense body costs the master little more than
/// itself, late enough that a few short numbers at the start do not decide for the body.
const DENSE_AFTER: usize = 64 << 10;

/// [`parse_row_list`]'s scan, with how many bytes it read: `None` for a body it does not
/// take. With `bounded`, it stops at the end of the first row past [`DENSE_AFTER`] bytes
/// where the numbers outgrow the text.
fn scan_rows(text: &[u8], bounded: bool) -> Option<(FlatRows, usize)> {
    let mut s = Scanner { text, at: 0 };
    let mut out = FlatRows::default();
    // A number takes at least two bytes with its comma: enough room for most bodies at once.
    out.values.reserve(text.len() / 16);
    s.whitespace();
    if s.at == text.len() {
        return Some((out, s.at));
    }
    loop {
        s.expect(b'[')?;
        s.whitespace();
        let mut len = 0;
        if s.peek() == Some(b']') {
            s.at += 1;
        } else {
            loop {
                out.values.push(s.number()?);
                len += 1;
                s.whitespace();
                match s.next()? {
                    b',' => s.whitespace(),
                    b']' => break,
                    _ => return None,
                }
            }
        }
        if out.n_rows == 0 {
            out.width = len;
        } else if len != out.width && out.ragged.is_none() {
            out.ragged = Some((out.n_rows, len));
        }
        out.n_rows += 1;
        if bounded && s.at >= DENSE_AFTER && out.values.len() * 8 > s.at {
            return Some((out, s.at)); // Dense: more numbers than the text read can hold.
        }
        s.whitespace();
        match s.next() {
            None => return Some((out, s.at)),
            Some(b',') => s.whitespace(),
            Some(_) => return None,
        }
    }
}

/// A cursor over JSON text, for [`parse_row_list`].
struct Scanner<'a> {
    text: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    /// JSON's whitespace: space, tab, newline, carriage return (not form feed).
    fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Skips a run of ASCII digits; returns its length. Eight bytes at a time while eight
    /// remain (a number's digits were most of the scanner's time when read one by one).
    fn digits(&mut self) -> usize {
        let from = self.at;
        while let Some(chunk) = self.text.get(self.at..self.at + 8) {
            let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            // A byte is a digit when `byte - '0'` is below 10: then neither it nor it + 0x76
            // reaches 0x80. The lowest byte with a high bit set is the first non-digit.
            let x = word ^ 0x3030_3030_3030_3030;
            let not_digit = ((x.wrapping_add(0x7676_7676_7676_7676)) | x) & 0x8080_8080_8080_8080;
            if not_digit != 0 {
                self.at += not_digit.trailing_zeros() as usize / 8;
                return self.at - from;
            }
            self.at += 8;
        }
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
        self.at - from
    }

    /// One number in JSON's grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`,
    /// finite as f64.
    fn number(&mut self) -> Option<f64> {
        let from = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            (self.digits() > 0).then_some(())?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            (self.digits() > 0).then_some(())?;
        }
        fast_float2::parse::<f64, _>(&self.text[from..self.at])
            .ok()
            .filter(|v| v.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::PredictBody;

    fn body(json: &str) -> PredictBody {
        serde_json::from_str(json).unwrap()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(ToString::to_string).collect()
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

    #[test]
    fn a_hundred_thousand_columns_are_checked_and_aligned_by_name() {
        let names: Vec<String> = (0..100_000).map(|i| format!("c{i}")).collect();
        let reversed: Vec<String> = names.iter().rev().cloned().collect();
        let columns = check_columns(&reversed).unwrap();
        let order = align(&columns, &names).unwrap();
        assert_eq!(order[0], 99_999);
        assert_eq!(order[99_999], 0);
        let mut dup = names.clone();
        dup.push("C5 ".into());
        assert_eq!(check_columns(&dup).unwrap_err().code, "duplicate_column");
        let mut unknown = names.clone();
        unknown.iter_mut().take(30).for_each(|c| c.push('x'));
        let e = align(&unknown, &names).unwrap_err();
        assert!(
            e.message.contains("and 10 more"),
            "a long list is cut: {}",
            &e.message[..200]
        );
    }

    #[test]
    fn the_row_scanner_reads_numbers_as_serde_json_does() {
        // splitmix64: random bit patterns without a dependency.
        let mut state = 3u64;
        let mut next = || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "1",
            "-1",
            "0.5",
            "1e3",
            "1E-3",
            "2.5e+10",
            "-0.0e0",
            "123456789012345678901234567890",
            "4.9e-324",
            "2.2250738585072014e-308",
            "1.7976931348623157e308",
            "0.1",
            "0.30000000000000004",
            "9007199254740993",
            "3.141592653589793238462643383279",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        for _ in 0..5000 {
            let v = f64::from_bits(next());
            if v.is_finite() {
                texts.push(format!("{v}"));
                texts.push(format!("{v:e}"));
            }
            #[allow(clippy::cast_precision_loss)]
            let x = (next() >> 11) as f64 / (1u64 << 53) as f64 * 2e6 - 1e6;
            texts.push(format!("{x}"));
            texts.push(format!("{x:.3}"));
            texts.push(format!("{x:.20}"));
        }
        let body = format!("[{}]", texts.join(", "));
        let scanned = parse_row_list(body.as_bytes(), false).expect("one row of numbers");
        let by_serde: Vec<f64> = serde_json::from_str(&body).unwrap();
        assert_eq!(scanned.n_rows, 1);
        assert_eq!(scanned.width, texts.len());
        for ((a, b), t) in scanned.values.iter().zip(&by_serde).zip(&texts) {
            assert_eq!(a.to_bits(), b.to_bits(), "{t}");
        }
        // Rows, whitespace, empty rows and raggedness as serde_json reads them.
        let rows = parse_row_list(b" [1, 2] ,\n[3,4],[ ],\t[5 ,6 ] ", false).unwrap();
        assert_eq!((rows.n_rows, rows.width, rows.ragged), (4, 2, Some((2, 0))));
        assert_eq!(rows.values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(parse_row_list(b"  ", false).unwrap().n_rows, 0);
        // What JSON refuses (or serde_json must name) is not taken.
        for odd in [
            "[01]",
            "[+1]",
            "[.5]",
            "[1.]",
            "[1e]",
            "[1e+]",
            "[-]",
            "[NaN]",
            "[Infinity]",
            "[1e400]",
            "[1,]",
            "[1 2]",
            "[\"1\"]",
            "[[1]]",
            "[1]]",
            "[1] [2]",
            "[1],",
            "[1]\u{c}",
            "[0x10]",
            "[1_0]",
            "[true]",
            "[null]",
            // Digit runs read eight bytes at a time: a stray byte at each place in a word.
            "[123456789\u{e9}]",
            "[12345678:9]",
            "[1234567/89]",
            "[0.123456789012345\u{7f}6]",
        ] {
            assert_eq!(parse_row_list(odd.as_bytes(), false), Err(Unscanned::Unusual), "{odd}");
            assert!(
                serde_json::from_str::<FlatRows>(&format!("[{odd}]")).is_err(),
                "serde_json refuses {odd} too"
            );
        }
    }

    #[test]
    fn commas_bound_the_numbers() {
        let body = format!("[{}]", vec!["1.5"; 10_000].join(","));
        assert_eq!(numbers_at_most(body.as_bytes()), 10_000);
        assert_eq!(numbers_at_most(b""), 1);
    }

    #[test]
    fn the_parallel_parse_is_the_one_pass_parse() {
        let one_pass = |text: &str| serde_json::from_str::<PredictBody>(text).unwrap();
        let rows: Vec<String> = (0..257)
            .map(|i| format!("[{}, {:e}, -{}.{}]", i, f64::from(i) / 7.0, i * 3, i % 10))
            .collect();
        let bodies = [
            format!(
                r#"{{"X_pred_columns": ["a", "b", "c"], "X_pred_rows": [{}]}}"#,
                rows.join(",")
            ),
            // Rows first, odd whitespace, newlines between rows.
            format!(
                "{{ \"X_pred_rows\" :\n [ {} ] ,\"X_pred_columns\":[\"a\",\"b\",\"c\"] }}",
                rows.join(" ,\n ")
            ),
            // A ragged row late in the body: named with its index across the chunks.
            format!(
                r#"{{"X_pred_columns": ["a", "b", "c"], "X_pred_rows": [{}, [1, 2]]}}"#,
                rows.join(",")
            ),
        ];
        for body in &bodies {
            for threads in [1, 2, 3, 8] {
                let parallel = parse_body_parallel(body.as_bytes(), threads).expect("a plain body");
                assert_eq!(parallel, one_pass(body), "{threads} threads");
            }
        }
        let ragged = parse_body_parallel(bodies[2].as_bytes(), 4).unwrap();
        assert_eq!(ragged.rows.ragged, Some((257, 2)));
        // Anything unusual is left to the one-pass parse (and its error message).
        for odd in [
            r#"{"X_pred_columns": ["a"], "X_pred_rows": []}"#,
            r#"{"X_pred_columns": ["a"], "X_pred_rows": [["1"]]}"#,
            r#"{"X_pred_columns": ["a"], "X_pred_rows": [[1], [2]"#,
            r#"{"X_pred_columns": ["a"], "rows": [[1]]}"#,
            r#"{"X_pred_columns": ["a"], "X_pred_rows": [[1], [[2]]]}"#,
            r#"{"X_pred_columns": ["a"], "X_pred_rows": [[1], [x]]}"#,
        ] {
            assert_eq!(parse_body_parallel(odd.as_bytes(), 2), Err(Unscanned::Unusual), "{odd}");
        }
        // Numbers that take more room parsed than as text are left to the workers, however
        // the body is cut.
        let short = format!(
            r#"{{"X_pred_columns": ["a", "b"], "X_pred_rows": [{}]}}"#,
            vec!["[1,2]"; 1000].join(",")
        );
        for threads in [1, 2, 3] {
            assert_eq!(parse_body_parallel(short.as_bytes(), threads), Err(Unscanned::Dense));
        }
        assert_eq!(parse_row_list(b"[1,2],[3,4]", true), Err(Unscanned::Dense));
        assert_eq!(
            parse_row_list(b"[1,2],[3,4]", false).unwrap().values,
            vec![1.0, 2.0, 3.0, 4.0]
        );
        // A long dense body is given up early: the scan stops at the first row past
        // `DENSE_AFTER` bytes (six bytes a row here), not at the body's end.
        let long = vec!["[1,2]"; 200_000].join(",");
        assert_eq!(scan_rows(long.as_bytes(), true).unwrap().0.n_rows, DENSE_AFTER / 6 + 1);
        assert_eq!(parse_row_list(long.as_bytes(), true), Err(Unscanned::Dense));
        // Long numbers are not dense, however long the body.
        let sparse = vec!["[0.123456789012, 0.987654321098]"; 20_000].join(",");
        assert_eq!(parse_row_list(sparse.as_bytes(), true).unwrap().n_rows, 20_000);
    }
}
