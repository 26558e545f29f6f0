//! Dynamic batching of small aggregation predicts, as model servers (Triton, TF Serving) do it.
//!
//! Under load most of a single-row predict's cost is HTTP: the client's call to the master,
//! then one call from the master to every worker. Predicts that arrive while earlier batches
//! are with the workers wait for one to come back, then go out together: one call per worker
//! carries all their rows, and each request gets its own rows' share of the answer. Nothing
//! waits on a timer: a request that finds fewer than [`IN_FLIGHT`] batches out goes at once,
//! so a lone client sees no added latency, and the busier the master, the larger the batches.
//!
//! Each HTTP thread batches its own requests (its worker pool and HTTP client are its own);
//! rows are independent, so an answer does not depend on which requests shared its batch.
//! Requests are checked before they queue, so one client's bad row never fails another's
//! batch; requests batch together only when their columns are the same, and a batch stays
//! within the body size the workers accept (`CHIMERA_MAX_BODY_BYTES`): a request whose rows
//! alone would not fit as compact rows goes alone, as the JSON it came as.

use crate::aggregate;
use crate::pool::{self, CallResult, WorkerPool};
use actix_web::web::{self, Bytes};
use chimera_shared::api::{paths, FailedWorker, FlatRows, Outcome, PredRows, PredictBody, PredictResponse};
use chimera_shared::compact;
use chimera_shared::config::TaskKind;
use chimera_shared::ApiError;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use tokio::sync::oneshot;

/// A batch carries at most this many numbers (512 KiB as f64), however many requests wait; a
/// single request larger than that goes alone.
const MAX_BATCH_VALUES: usize = 64 * 1024;

/// Batches one HTTP thread may have with the workers at once. With one, a second client's
/// predict always waited for the first's batch: at 4 clients, p50 rose from about 0.54 to
/// 0.62 ms. With two, 4 clients are as fast as without batching, and 32 clients still get
/// about twice the throughput (`chimera-bench load`, alternated runs).
const IN_FLIGHT: usize = 2;

/// One HTTP thread's waiting predicts and how many batches of them are with the workers.
pub struct Batcher {
    queue: RefCell<VecDeque<Waiting>>,
    sending: Cell<usize>,
    /// The largest body a worker accepts (the nodes share `CHIMERA_MAX_BODY_BYTES`).
    max_bytes: usize,
}

/// A checked predict waiting for its batch: its columns (normalized), rows, the JSON it came
/// as, and where its answer goes.
struct Waiting {
    columns: Vec<String>,
    rows: FlatRows,
    json: Bytes,
    reply: oneshot::Sender<Result<PredictResponse, ApiError>>,
}

impl Batcher {
    /// A batcher for workers that accept bodies of at most `max_bytes`.
    pub fn new(max_bytes: usize) -> Batcher {
        Batcher {
            queue: RefCell::default(),
            sending: Cell::default(),
            max_bytes,
        }
    }

    /// Predicts `rows` (already checked against `columns`; `json` is the body they came in)
    /// with the next batch of this thread.
    pub async fn predict(
        batcher: web::Data<Batcher>,
        pool: web::Data<WorkerPool>,
        task: TaskKind,
        request: PredictBody,
        json: Bytes,
    ) -> Result<PredictResponse, ApiError> {
        let (reply, answer) = oneshot::channel();
        batcher.queue.borrow_mut().push_back(Waiting {
            columns: request.columns,
            rows: request.rows,
            json,
            reply,
        });
        if batcher.sending.get() < IN_FLIGHT {
            batcher.sending.set(batcher.sending.get() + 1);
            actix_web::rt::spawn(send_batches(batcher.clone(), pool, task));
        }
        answer
            .await
            .map_err(|_| ApiError::internal("a predict batch ended without an answer"))?
    }

    /// The next batch: the oldest waiting request and, in arrival order, those with the same
    /// columns, up to [`MAX_BATCH_VALUES`] and a worker's body size. Empty when nobody waits.
    /// Only a batch of one request can outgrow that body as compact rows (`fits` false).
    fn next_batch(&self) -> Batch {
        let mut queue = self.queue.borrow_mut();
        let Some(first) = queue.pop_front() else {
            return Batch {
                waiting: Vec::new(),
                fits: true,
            };
        };
        let room = (self.max_bytes.saturating_sub(header_bound(&first.columns)) / 8).min(MAX_BATCH_VALUES);
        let mut values = first.rows.values.len();
        let mut batch = vec![first];
        let mut at = 0;
        while at < queue.len() {
            let fits = values + queue[at].rows.values.len() <= room;
            if fits && queue[at].columns == batch[0].columns {
                values += queue[at].rows.values.len();
                batch.extend(queue.remove(at));
            } else {
                at += 1;
            }
        }
        Batch {
            waiting: batch,
            fits: values <= room,
        }
    }
}

/// Requests that go to the workers together; `fits`: as compact rows within a worker's body.
struct Batch {
    waiting: Vec<Waiting>,
    fits: bool,
}

/// Sends batches until nobody waits: the task a request starts when fewer than
/// [`IN_FLIGHT`] batches are out.
async fn send_batches(batcher: web::Data<Batcher>, pool: web::Data<WorkerPool>, task: TaskKind) {
    // Gives the sender's place back however the task ends, so that even a panic in it cannot
    // leave later predicts waiting for a sender that will never come.
    struct Sending(web::Data<Batcher>);
    impl Drop for Sending {
        fn drop(&mut self) {
            self.0.sending.set(self.0.sending.get() - 1);
        }
    }
    let _sending = Sending(batcher.clone());
    loop {
        let Batch { waiting: batch, fits } = batcher.next_batch();
        if batch.is_empty() {
            return;
        }
        let sizes: Vec<usize> = batch.iter().map(|w| w.rows.n_rows).collect();
        let n_rows = sizes.iter().sum();
        let results = if fits {
            let mut rows = FlatRows {
                width: batch[0].rows.width,
                ..FlatRows::default()
            };
            for w in &batch {
                rows.values.extend_from_slice(&w.rows.values);
                rows.n_rows += w.rows.n_rows;
            }
            let body = compact::encode_rows(&PredictBody {
                columns: batch[0].columns.clone(),
                rows,
            });
            let media = pool::Media {
                content_type: compact::ROWS_MEDIA_TYPE,
                accept: None,
            };
            pool.call_all_as(paths::MODEL_PREDICT, Bytes::from(body), media).await
        } else {
            // A lone request of short numbers whose f64s would not fit in a worker's body;
            // their text does, since the master took it.
            pool.call_all(paths::MODEL_PREDICT, Some(batch[0].json.clone())).await
        };
        match combine(task, n_rows, &pool, results) {
            Ok(answer) => {
                for (w, part) in batch.into_iter().zip(split(answer, &sizes)) {
                    // A client that went away has dropped its end: nothing to do.
                    let _ = w.reply.send(Ok(part));
                }
            }
            Err(e) => {
                for w in batch {
                    let _ = w.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// At most how many bytes a compact rows body's header takes for these columns: the header
/// with no rows, plus room for the row count's digits.
fn header_bound(columns: &[String]) -> usize {
    let empty = PredictBody {
        columns: columns.to_vec(),
        rows: FlatRows::default(),
    };
    compact::encode_rows(&empty).len() + 20
}

/// The workers' answers to a batch, combined as one predict's (see [`aggregate::combine`]);
/// every worker failing is the error [`no_answer`] names.
fn combine(
    task: TaskKind,
    n_rows: usize,
    pool: &WorkerPool,
    results: Vec<CallResult>,
) -> Result<PredictResponse, ApiError> {
    let (raw, mut failed, client_errors) = sort_results(pool, results);
    let mut answers = Vec::with_capacity(raw.len());
    for (name, body) in raw {
        match serde_json::from_slice::<PredictResponse>(&body) {
            Ok(a) => answers.push((name, a)),
            Err(e) => failed.push(FailedWorker {
                name,
                error: format!("unreadable answer: {e}"),
            }),
        }
    }
    match aggregate::combine(task, n_rows, answers, &mut failed) {
        Some(mut answer) => {
            answer.failed_workers.clone_from(&failed);
            Ok(answer)
        }
        None => Err(no_answer(client_errors, &failed)),
    }
}

/// The workers that answered (name, body), those that did not, and the errors of those that
/// refused the request itself (4xx).
pub fn sort_results(
    pool: &WorkerPool,
    results: Vec<CallResult>,
) -> (Vec<(String, Bytes)>, Vec<FailedWorker>, Vec<ApiError>) {
    let mut raw = Vec::new();
    let mut failed = Vec::new();
    let mut client_errors = Vec::new();
    for (w, r) in pool.list().iter().zip(results) {
        if r.outcome == Outcome::Ok {
            raw.push((w.name.clone(), r.body));
        } else {
            if let Some(e) = r.api_error().filter(|e| e.status < 500) {
                client_errors.push(e);
            }
            failed.push(FailedWorker {
                name: w.name.clone(),
                error: r.error.unwrap_or_default(),
            });
        }
    }
    (raw, failed, client_errors)
}

/// Why a predict has no answer: when every worker refused the request itself (an unknown
/// column, say), the client's mistake; otherwise no worker could answer.
pub fn no_answer(mut client_errors: Vec<ApiError>, failed: &[FailedWorker]) -> ApiError {
    if !client_errors.is_empty() && client_errors.len() == failed.len() {
        return client_errors.swap_remove(0);
    }
    pool::no_worker_available("predict", failed.iter().map(|f| (&f.name, &f.error)))
}

/// A batch's answer cut into its requests' answers, `sizes[i]` rows each, in order.
fn split(answer: PredictResponse, sizes: &[usize]) -> Vec<PredictResponse> {
    if sizes.len() == 1 {
        return vec![answer]; // A batch of one (a quiet master): nothing to cut.
    }
    let mut parts = Vec::with_capacity(sizes.len());
    let mut at = 0;
    for &n in sizes {
        let rows = at..at + n;
        parts.push(PredictResponse {
            y_pred_rows: match &answer.y_pred_rows {
                PredRows::Values(v) => PredRows::Values(cut(v, &rows)),
                PredRows::Labels(v) => PredRows::Labels(cut(v, &rows)),
            },
            classes: answer.classes.clone(),
            y_pred_labels: answer.y_pred_labels.as_deref().map(|v| cut(v, &rows)),
            y_pred_proba: answer.y_pred_proba.as_deref().map(|v| cut(v, &rows)),
            failed_workers: answer.failed_workers.clone(),
        });
        at += n;
    }
    parts
}

/// `v[rows]` as a new vector. The combined answer has a row for each row sent; `get` keeps a
/// short one from panicking.
fn cut<T: Clone>(v: &[T], rows: &std::ops::Range<usize>) -> Vec<T> {
    v.get(rows.clone()).map(<[T]>::to_vec).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chimera_shared::api::Label;

    #[test]
    fn a_batch_answer_is_cut_into_each_requests_rows() {
        let answer = PredictResponse {
            y_pred_rows: PredRows::Values(vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
            classes: Some(vec![Label::Int(0), Label::Int(1)]),
            y_pred_labels: Some((0..6).map(|i| Label::Int(i % 2)).collect()),
            y_pred_proba: Some((0..6).map(|i| vec![f64::from(i), 1.0]).collect()),
            failed_workers: vec![FailedWorker {
                name: "worker-2".into(),
                error: "down".into(),
            }],
        };
        let parts = split(answer.clone(), &[1, 3, 2]);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[1].y_pred_rows, PredRows::Values(vec![0.2, 0.3, 0.4]));
        assert_eq!(parts[2].y_pred_labels, Some(vec![Label::Int(0), Label::Int(1)]));
        assert_eq!(parts[0].y_pred_proba, Some(vec![vec![0.0, 1.0]]));
        for p in &parts {
            assert_eq!(p.classes, answer.classes);
            assert_eq!(p.failed_workers, answer.failed_workers);
        }
    }

    fn waiting(columns: &[&str], n_rows: usize) -> (Waiting, oneshot::Receiver<Result<PredictResponse, ApiError>>) {
        let (reply, rx) = oneshot::channel();
        let rows = FlatRows {
            values: vec![1.0; n_rows * columns.len()],
            n_rows,
            width: columns.len(),
            ragged: None,
        };
        let columns = columns.iter().map(ToString::to_string).collect();
        let json = Bytes::new();
        (
            Waiting {
                columns,
                rows,
                json,
                reply,
            },
            rx,
        )
    }

    #[test]
    fn a_batch_takes_the_oldest_request_and_those_with_its_columns_up_to_its_bound() {
        let batcher = Batcher::new(256 << 20);
        let mut receivers = Vec::new();
        for (columns, n) in [
            (&["a", "b"][..], 1),
            (&["b", "a"][..], 1),
            (&["a", "b"][..], 2),
            (&["a", "b"][..], MAX_BATCH_VALUES / 2),
            (&["a", "b"][..], 3),
        ] {
            let (w, rx) = waiting(columns, n);
            batcher.queue.borrow_mut().push_back(w);
            receivers.push(rx);
        }
        // The oldest, then same columns in order; the one too large to fit waits for the next.
        let first: Vec<usize> = batcher.next_batch().waiting.iter().map(|w| w.rows.n_rows).collect();
        assert_eq!(first, vec![1, 2, 3]);
        let second = batcher.next_batch().waiting;
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].columns, vec!["b", "a"]);
        assert_eq!(batcher.next_batch().waiting[0].rows.n_rows, MAX_BATCH_VALUES / 2);
        assert!(batcher.next_batch().waiting.is_empty());
    }

    #[test]
    fn a_batch_fits_in_a_workers_body() {
        // Room for the header and 100 numbers: two requests of 40, not a third.
        let header = header_bound(&["a".to_string(), "b".to_string()]);
        let batcher = Batcher::new(header + 8 * 100);
        let mut receivers = Vec::new();
        for _ in 0..3 {
            let (w, rx) = waiting(&["a", "b"], 20);
            batcher.queue.borrow_mut().push_back(w);
            receivers.push(rx);
        }
        assert_eq!(batcher.next_batch().waiting.len(), 2);
        assert_eq!(batcher.next_batch().waiting.len(), 1);
        // One request too large for compact rows alone still goes, alone.
        let batcher = Batcher::new(header + 8 * 10);
        let (w, _rx) = waiting(&["a", "b"], 20);
        batcher.queue.borrow_mut().push_back(w);
        assert_eq!(batcher.next_batch().waiting.len(), 1);
    }
}
