//! A small blocking HTTP client for tools and tests: `cargo xtask fit/predict/demo` and the
//! black-box tests speak to the master exactly as curl would.

use crate::api::{paths, FitResponse, PredictRequest, PredictResponse};
use crate::error::ErrorBody;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// An answer: the status and the raw body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(&self.body).map_err(|e| format!("{e}: {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as a typed value when the status is 2xx, else the server's error message.
    pub fn ok<T: DeserializeOwned>(&self) -> Result<T, String> {
        if (200..300).contains(&self.status) {
            return self.json();
        }
        match serde_json::from_slice::<ErrorBody>(&self.body) {
            Ok(e) => Err(format!("{} ({}): {}", self.status, e.details.error_message, e.message)),
            Err(_) => Err(format!("{}: {}", self.status, self.text())),
        }
    }
}

#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    /// Sent as `Authorization: Bearer ...` (`CHIMERA_API_TOKEN`).
    token: Option<String>,
}

const BODY_LIMIT: u64 = 1 << 32;

impl Client {
    /// `base` is `http://HOST:PORT`.
    pub fn new(base: impl Into<String>, timeout: Duration) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .new_agent();
        Client {
            agent,
            base: base.into(),
            token: None,
        }
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    #[must_use]
    pub fn with_token(mut self, token: Option<String>) -> Client {
        self.token = token;
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn get(&self, path: &str) -> Result<Answer, String> {
        let url = format!("{}{path}", self.base);
        let mut req = self.agent.get(&url);
        if let Some(t) = &self.token {
            req = req.header("authorization", &format!("Bearer {t}"));
        }
        let res = req.call().map_err(|e| format!("GET {url}: {e}"))?;
        Self::answer(res, &url)
    }

    pub fn post_bytes(&self, path: &str, body: &[u8]) -> Result<Answer, String> {
        self.post_bytes_as(path, body, "application/json")
    }

    /// A POST of `body` as `content_type` (the master's compact bodies, in tests).
    pub fn post_bytes_as(&self, path: &str, body: &[u8], content_type: &str) -> Result<Answer, String> {
        let url = format!("{}{path}", self.base);
        let mut req = self.agent.post(&url).content_type(content_type);
        if let Some(t) = &self.token {
            req = req.header("authorization", &format!("Bearer {t}"));
        }
        let res = req.send(body).map_err(|e| format!("POST {url}: {e}"))?;
        Self::answer(res, &url)
    }

    pub fn post_json<T: Serialize>(&self, path: &str, body: &T) -> Result<Answer, String> {
        let bytes = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        self.post_bytes(path, &bytes)
    }

    fn answer(mut res: ureq::http::Response<ureq::Body>, url: &str) -> Result<Answer, String> {
        let status = res.status().as_u16();
        let body = res
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_vec()
            .map_err(|e| format!("{url}: reading the answer: {e}"))?;
        Ok(Answer { status, body })
    }

    /// True when `/healthz` answers 200.
    pub fn healthy(&self) -> bool {
        self.get(paths::HEALTHZ).is_ok_and(|a| a.status == 200)
    }

    /// `POST <kind>/fit` with an empty body, as the seed's users do.
    pub fn fit(&self, kind: &str) -> Result<FitResponse, String> {
        self.post_bytes(&format!("/v1/chimera/{kind}/fit"), b"")?.ok()
    }

    pub fn predict(&self, kind: &str, request: &PredictRequest) -> Result<PredictResponse, String> {
        self.post_json(&format!("/v1/chimera/{kind}/predict"), request)?.ok()
    }
}

/// Ports nobody listens on right now (each bound to port 0 at once, then released), for tests
/// and benchmarks that start real servers.
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .filter_map(|_| std::net::TcpListener::bind("127.0.0.1:0").ok())
        .collect();
    listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .map(|a| a.port())
        .collect()
}
