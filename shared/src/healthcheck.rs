//! `chimera-master healthcheck` / `chimera-worker healthcheck`: a `FROM scratch` image has no
//! shell and no curl, so the binaries probe their own `/healthz` for Docker's healthcheck.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// GETs `/healthz` on `addr`; Ok when it answers 200 within `timeout`.
pub fn probe(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("{addr}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).map_err(|e| format!("{addr}: {e}"))?;
    let line = String::from_utf8_lossy(&head[..n]);
    if line.starts_with("HTTP/1.1 200") || line.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(format!(
            "{addr}: unexpected answer {:?}",
            line.lines().next().unwrap_or("")
        ))
    }
}

/// The `healthcheck` subcommand of both binaries: probe this node's own `/healthz`, at the
/// port `CHIMERA_LISTEN_PORT` names, else the topology's `port_variable` (default `default`).
pub fn run(dir: &std::path::Path, port_variable: &str, default: u16) -> Result<(), String> {
    let src = crate::config::EnvSource::from_process(&dir.join(".env")).unwrap_or_default();
    let port = src
        .get(port_variable)
        .and_then(|p| p.trim().parse::<f64>().ok())
        .map_or(default, |p| p as u16);
    let mut addr = src.listen(port).map_err(|e| e.to_string())?;
    if addr.ip().is_unspecified() {
        addr.set_ip([127, 0, 0, 1].into());
    }
    probe(addr, Duration::from_secs(2)).map_err(|e| format!("unhealthy: {e}"))
}
