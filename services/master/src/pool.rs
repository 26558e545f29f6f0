//! The master's workers and every call to them. [`Workers`] is what all HTTP threads share (the
//! list, the call settings, the last call to each, the log); a [`WorkerPool`] adds one thread's
//! awc client (awc clients are not `Send`) and makes the calls: pooled keep-alive connections,
//! the seed's per-call timeout, a short connect timeout so a dead address costs about a second,
//! retries by [`crate::retry`], and every call's latency in the time log and metrics.

use crate::retry::{self, Attempt};
use actix_web::web::Bytes;
use awc::error::{ConnectError, SendRequestError};
use chimera_shared::api::Outcome;
use chimera_shared::error::ErrorBody;
use chimera_shared::logs::{NodeLogs, Side};
use chimera_shared::{ApiError, Code};
use futures_util::future::join_all;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct CallSettings {
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_retries: u32,
    pub max_body_bytes: usize,
}

/// A registered `chimera_worker_call_duration_seconds` series: (endpoint, outcome, handle).
type CallHistogram = (&'static str, Outcome, metrics::Histogram);

/// A worker as the master sees it.
#[derive(Debug, Clone)]
pub struct WorkerRef {
    pub name: String,
    /// The name as a shared metric label (no allocation per call).
    pub label: Arc<str>,
    /// Registered call histograms by (endpoint, outcome): looked up once, not on every call.
    pub histograms: Arc<std::sync::Mutex<Vec<CallHistogram>>>,
    /// `http://HOST:PORT`, no trailing slash.
    pub url: String,
}

/// The last call to each worker, by name: what `/v1/chimera/status` shows.
#[derive(Debug, Default)]
pub struct LastCalls(std::sync::Mutex<std::collections::HashMap<String, LastCall>>);

#[derive(Debug, Clone, serde::Serialize)]
pub struct LastCall {
    pub endpoint: String,
    pub outcome: Outcome,
    pub seconds: f64,
}

impl LastCalls {
    fn record(&self, worker: &str, call: LastCall) {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match map.get_mut(worker) {
            Some(slot) => *slot = call,
            None => {
                map.insert(worker.to_string(), call);
            }
        }
    }

    pub fn get(&self, worker: &str) -> Option<LastCall> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(worker)
            .cloned()
    }
}

impl WorkerRef {
    pub fn new(name: &str, url: String) -> WorkerRef {
        WorkerRef {
            name: name.to_string(),
            label: name.into(),
            histograms: Arc::default(),
            url,
        }
    }

    /// `chimera_worker_call_duration_seconds{worker, endpoint, outcome}` for this worker.
    fn call_histogram(&self, endpoint: &'static str, outcome: Outcome) -> metrics::Histogram {
        let mut cache = self
            .histograms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, _, h)) = cache
            .iter()
            .find(|(e, o, _)| std::ptr::eq(*e, endpoint) && *o == outcome)
        {
            return h.clone();
        }
        let h = metrics::histogram!(
            "chimera_worker_call_duration_seconds",
            "worker" => self.label.clone(),
            "endpoint" => endpoint,
            "outcome" => outcome.as_str()
        );
        cache.push((endpoint, outcome, h.clone()));
        h
    }
}

/// The 503 when no worker could do a job, naming each worker and what went wrong with it.
pub fn no_worker_available<N: std::fmt::Display, E: std::fmt::Display>(
    what: &str,
    errors: impl IntoIterator<Item = (N, E)>,
) -> ApiError {
    let detail: Vec<String> = errors.into_iter().map(|(n, e)| format!("{n}: {e}")).collect();
    ApiError::new(
        Code::NoWorkerAvailable,
        format!(
            "no worker could {what}; {}. Check that the workers are up (`cargo xtask status`) and read their logs",
            detail.join("; ")
        ),
    )
}

/// How one call ended, after retries.
#[derive(Debug, Clone)]
pub struct CallResult {
    pub outcome: Outcome,
    pub seconds: f64,
    /// The answer's status and body when the worker answered.
    pub status: Option<u16>,
    pub body: Bytes,
    /// What went wrong, for people (absent when the call succeeded).
    pub error: Option<String>,
}

impl CallResult {
    /// The worker's own error, when it answered with one in the seed's shape.
    pub fn api_error(&self) -> Option<ApiError> {
        let status = self.status?;
        if status < 400 {
            return None;
        }
        serde_json::from_slice::<ErrorBody>(&self.body)
            .ok()
            .map(|b| ApiError::from_body(status, &b))
    }
}

/// What every HTTP thread shares about the workers.
#[derive(Debug)]
pub struct Workers {
    pub list: Vec<WorkerRef>,
    pub settings: CallSettings,
    pub last_calls: LastCalls,
    pub logs: Arc<NodeLogs>,
}

/// The workers as one HTTP thread calls them.
pub struct WorkerPool {
    workers: Arc<Workers>,
    client: awc::Client,
}

impl WorkerPool {
    pub fn new(workers: Arc<Workers>) -> WorkerPool {
        let client = awc::Client::builder()
            .connector(awc::Connector::new().timeout(workers.settings.connect_timeout))
            .timeout(workers.settings.timeout)
            .disable_redirects()
            .finish();
        WorkerPool { workers, client }
    }

    pub fn list(&self) -> &[WorkerRef] {
        &self.workers.list
    }

    pub fn len(&self) -> usize {
        self.workers.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.workers.list.is_empty()
    }

    /// The same request to every worker at once; results in the workers' order.
    pub async fn call_all(&self, path: &'static str, body: Option<Bytes>) -> Vec<CallResult> {
        let all: Vec<usize> = (0..self.len()).collect();
        self.call_some(&all, path, body).await
    }

    /// The same request to the workers at these indices at once; results in that order.
    pub async fn call_some(&self, which: &[usize], path: &'static str, body: Option<Bytes>) -> Vec<CallResult> {
        join_all(
            which
                .iter()
                .map(|&i| self.call(&self.workers.list[i], path, body.clone())),
        )
        .await
    }

    /// Asks every worker's `/healthz` at once, with the connect timeout (at least 0.5 s) as
    /// the limit.
    pub async fn probe_health(&self) -> Vec<bool> {
        let limit = self.workers.settings.connect_timeout.max(Duration::from_millis(500));
        join_all(self.workers.list.iter().map(|w| {
            let req = self
                .client
                .get(format!("{}{}", w.url, chimera_shared::api::paths::HEALTHZ))
                .timeout(limit);
            async move { req.send().await.is_ok_and(|r| r.status().is_success()) }
        }))
        .await
    }

    /// POSTs (or GETs, without a body) `path` on `worker`, retrying as the policy allows.
    async fn call(&self, worker: &WorkerRef, path: &'static str, body: Option<Bytes>) -> CallResult {
        let Workers {
            settings,
            last_calls,
            logs,
            ..
        } = &*self.workers;
        let url = format!("{}{}", worker.url, path);
        let started = Instant::now();
        let mut tries = 0u32;
        loop {
            tries += 1;
            let attempt_started = Instant::now();
            let result = once(&self.client, settings, &url, body.clone()).await;
            let seconds = attempt_started.elapsed().as_secs_f64();
            // The seed logs every worker call's latency, retries included.
            logs.latency(&url, Side::Worker, seconds);
            let outcome = match &result {
                Ok((status, _)) if *status < 400 => Outcome::Ok,
                Err((Outcome::Timeout, _)) => Outcome::Timeout,
                _ => Outcome::Error,
            };
            worker.call_histogram(path, outcome).record(seconds);
            let attempt = match &result {
                Ok((status, _)) => Attempt::Answered(*status),
                Err(_) => Attempt::NoAnswer,
            };
            if outcome != Outcome::Ok && retry::should_retry(attempt, tries, settings.max_retries) {
                actix_web::rt::time::sleep(retry::backoff(tries - 1)).await;
                continue;
            }
            let total = started.elapsed().as_secs_f64();
            last_calls.record(
                &worker.name,
                LastCall {
                    endpoint: path.to_string(),
                    outcome,
                    seconds: total,
                },
            );
            return match result {
                Ok((status, body)) => {
                    let error = (status >= 400).then(|| describe_error(status, &body));
                    CallResult {
                        outcome,
                        seconds: total,
                        status: Some(status),
                        body,
                        error,
                    }
                }
                Err((outcome, message)) => CallResult {
                    outcome,
                    seconds: total,
                    status: None,
                    body: Bytes::new(),
                    error: Some(format!("{url}: {message}")),
                },
            };
        }
    }
}

async fn once(
    client: &awc::Client,
    settings: &CallSettings,
    url: &str,
    body: Option<Bytes>,
) -> Result<(u16, Bytes), (Outcome, String)> {
    let sent = match body {
        Some(body) => {
            client
                .post(url)
                .insert_header(("content-type", "application/json"))
                .send_body(body)
                .await
        }
        None => client.get(url).send().await,
    };
    let mut response = sent.map_err(|e| match e {
        SendRequestError::Timeout => (Outcome::Timeout, format!("no answer within {:?}", settings.timeout)),
        SendRequestError::Connect(ConnectError::Timeout) => (
            Outcome::Timeout,
            format!("could not connect within {:?}", settings.connect_timeout),
        ),
        other => (Outcome::Error, format!("unreachable: {other}")),
    })?;
    let status = response.status().as_u16();
    let body = response
        .body()
        .limit(settings.max_body_bytes)
        .await
        .map_err(|e| (Outcome::Error, format!("could not read the answer: {e}")))?;
    Ok((status, body))
}

fn describe_error(status: u16, body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => format!("{status} {}: {}", b.details.error_message, b.message),
        Err(_) => format!("{status}: {}", String::from_utf8_lossy(&body[..body.len().min(200)])),
    }
}
