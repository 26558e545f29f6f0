//! The seed's two logs, one pair per node under `<log dir>/<node>/`:
//!
//! - `chimera_status.log`: workflow events, `TIMESTAMP LEVEL message`;
//! - `chimera_time.log`: latencies in the seed's exact format, so its parsers keep working:
//!   `http://HOST:PORT/v1/chimera/sgd/fit-step worker endpoint latency = 0.0123 s`
//!   (seconds with four decimals, no exponent, no timestamp).
//!
//! Status lines are written through at once. Latency lines, one per worker call, go through a
//! buffer (a write per call costs more than the call's bookkeeping): it is flushed at the end
//! of each fit (`flush`), every half second by a background thread, and on drop.
//!
//! Both files rotate by size ([`Rotation`]: `chimera_time.log` becomes `chimera_time.log.1`,
//! and so on, the oldest dropped), so a node answering predicts for weeks keeps a bounded
//! disk. Rotation happens between whole lines; each file keeps the seed's line format. Text
//! taken from a request (a Host header, say) goes through [`sanitize`] first, so a client
//! cannot forge a log line.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const STATUS_LOG: &str = "chimera_status.log";
pub const TIME_LOG: &str = "chimera_time.log";

/// Who measured a latency: the seed writes `worker` for master -> worker calls and `master` for
/// the master's own endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Master,
    Worker,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Side::Master => "master",
            Side::Worker => "worker",
        }
    }
}

/// When a log file is rotated, and how many rotated files are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// A file is rotated before it would pass this size (`CHIMERA_LOG_MAX_BYTES`).
    pub max_bytes: u64,
    /// Rotated files kept beside the current one (`CHIMERA_LOG_FILES`).
    pub keep: u32,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_bytes: 32 << 20,
            keep: 3,
        }
    }
}

/// A file that rotates itself by size. Each `write` is whole lines (the callers make sure),
/// so a rotation never splits one.
#[derive(Debug)]
struct RotatingFile {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Rotation,
}

impl RotatingFile {
    fn open(path: PathBuf, rotation: Rotation) -> std::io::Result<RotatingFile> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| annotate(&e, &path))?;
        let size = file.metadata().map_or(0, |m| m.len());
        Ok(RotatingFile {
            path,
            file,
            size,
            rotation,
        })
    }

    /// `log.(k-1)` -> `log.k`, ..., `log` -> `log.1`, then a fresh `log`.
    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |k: u32| PathBuf::from(format!("{}.{k}", self.path.display()));
        if self.rotation.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            for k in (1..self.rotation.keep).rev() {
                let from = numbered(k);
                if from.exists() {
                    std::fs::rename(&from, numbered(k + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(1))?;
        }
        self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    /// Writes the whole lines of `buf` that fit before the size limit (the caller's
    /// `write_all` comes back with the rest), rotating when not one more line fits.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = self.rotation.max_bytes.saturating_sub(self.size) as usize;
        let chunk = if buf.len() <= room {
            buf.len()
        } else if let Some(cut) = buf[..room].iter().rposition(|&b| b == b'\n') {
            cut + 1
        } else if self.size > 0 {
            self.rotate()?;
            return self.write(buf);
        } else {
            // A fresh file and a line longer than the limit: that line, whole.
            buf.iter().position(|&b| b == b'\n').map_or(buf.len(), |i| i + 1)
        };
        self.file.write_all(&buf[..chunk])?;
        self.size += chunk as u64;
        Ok(chunk)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[derive(Debug)]
pub struct NodeLogs {
    dir: PathBuf,
    /// `None` when telemetry is off.
    status: Option<Mutex<RotatingFile>>,
    time: Option<Arc<Mutex<BufWriter<RotatingFile>>>>,
}

impl NodeLogs {
    /// Opens (creating) both logs under `dir`, rotated at the default size.
    pub fn open(dir: &Path) -> std::io::Result<NodeLogs> {
        Self::open_with(dir, Rotation::default())
    }

    /// Opens (creating) both logs under `dir`.
    pub fn open_with(dir: &Path, rotation: Rotation) -> std::io::Result<NodeLogs> {
        std::fs::create_dir_all(dir).map_err(|e| annotate(&e, dir))?;
        let open = |name: &str| RotatingFile::open(dir.join(name), rotation);
        let time = Arc::new(Mutex::new(BufWriter::with_capacity(64 * 1024, open(TIME_LOG)?)));
        spawn_flusher(Arc::downgrade(&time));
        Ok(NodeLogs {
            dir: dir.to_path_buf(),
            status: Some(Mutex::new(open(STATUS_LOG)?)),
            time: Some(time),
        })
    }

    /// Writes nothing (`CHIMERA_TELEMETRY=off`).
    pub fn disabled() -> NodeLogs {
        NodeLogs {
            dir: PathBuf::new(),
            status: None,
            time: None,
        }
    }

    /// Opens the logs, or none when telemetry is off.
    pub fn open_if(enabled: bool, dir: &Path, rotation: Rotation) -> std::io::Result<NodeLogs> {
        if enabled {
            Self::open_with(dir, rotation)
        } else {
            Ok(Self::disabled())
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// One workflow event in `chimera_status.log`.
    pub fn status(&self, level: &str, message: &str) {
        #[cfg(feature = "service")]
        match level {
            "ERROR" => tracing::error!("{message}"),
            "WARN" => tracing::warn!("{message}"),
            _ => tracing::info!("{message}"),
        }
        if let Some(file) = self.status.as_ref() {
            let line = format!("{} {level} {message}\n", utc_timestamp(SystemTime::now()));
            // A full disk must not take the service down; the event also went to tracing.
            let _ = file
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .write_all(line.as_bytes());
        }
    }

    /// One latency in `chimera_time.log`, in the seed's format.
    pub fn latency(&self, url: &str, side: Side, seconds: f64) {
        if let Some(time) = &self.time {
            // One write of a whole line: the buffer then hands the file whole lines only.
            let line = time_line(url, side, seconds);
            let _ = time
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .write_all(line.as_bytes());
        }
    }

    /// Writes buffered latency lines out now.
    pub fn flush(&self) {
        if let Some(time) = &self.time {
            let _ = time.lock().unwrap_or_else(std::sync::PoisonError::into_inner).flush();
        }
    }
}

impl Drop for NodeLogs {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Flushes the time log every half second until the logs are dropped.
fn spawn_flusher(time: Weak<Mutex<BufWriter<RotatingFile>>>) {
    let _ = std::thread::Builder::new()
        .name("chimera-log-flush".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500));
            match time.upgrade() {
                Some(t) => {
                    let _ = t.lock().unwrap_or_else(std::sync::PoisonError::into_inner).flush();
                }
                None => return,
            }
        });
}

fn annotate(e: &std::io::Error, path: &Path) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// `text` made safe for a one-line log entry: control characters (a newline would forge a
/// line) become `?`, and anything past `max_chars` is cut with an ellipsis.
pub fn sanitize(text: &str, max_chars: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max_chars)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().nth(max_chars).is_some() {
        out.push('…');
    }
    out
}

/// `URL worker endpoint latency = 0.0123 s` (four decimals, never an exponent).
pub fn time_line(url: &str, side: Side, seconds: f64) -> String {
    format!("{url} {} endpoint latency = {seconds:.4} s\n", side.as_str())
}

/// `2026-11-27T16:05:56.123Z`, computed without a date crate (civil-from-days).
pub fn utc_timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn time_lines_keep_the_seeds_format() {
        assert_eq!(
            time_line(
                "http://192.168.10.2:80/v1/chimera/sgd/fit-step",
                Side::Worker,
                0.012_345
            ),
            "http://192.168.10.2:80/v1/chimera/sgd/fit-step worker endpoint latency = 0.0123 s\n"
        );
        // Tiny values never switch to an exponent.
        assert_eq!(
            time_line("http://h:1/x", Side::Master, 1e-9),
            "http://h:1/x master endpoint latency = 0.0000 s\n"
        );
    }

    #[test]
    fn timestamps_are_utc_iso8601() {
        let t = UNIX_EPOCH + Duration::from_millis(1_795_795_556_123);
        assert_eq!(utc_timestamp(t), "2026-11-27T16:05:56.123Z");
        assert_eq!(
            utc_timestamp(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn both_logs_are_appended_to() {
        let dir = std::env::temp_dir().join(format!("chimera-logs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let logs = NodeLogs::open(&dir.join("w1")).unwrap();
        logs.status("INFO", "fit started");
        logs.latency("http://h:1/p", Side::Worker, 0.5);
        logs.latency("http://h:1/p", Side::Worker, 0.25);
        logs.flush();
        let status = std::fs::read_to_string(dir.join("w1").join(STATUS_LOG)).unwrap();
        assert!(status.ends_with(" INFO fit started\n"));
        let time = std::fs::read_to_string(dir.join("w1").join(TIME_LOG)).unwrap();
        assert_eq!(time.lines().count(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn logs_rotate_by_size_between_whole_lines_and_keep_a_few_files() {
        let dir = std::env::temp_dir().join(format!("chimera-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let rotation = Rotation {
            max_bytes: 1000,
            keep: 2,
        };
        let logs = NodeLogs::open_with(&dir, rotation).unwrap();
        for i in 0..200 {
            logs.latency(&format!("http://h:1/p{i}"), Side::Worker, 0.5);
            logs.status("INFO", &format!("event {i}"));
        }
        logs.flush();
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(
            files,
            vec![
                "chimera_status.log",
                "chimera_status.log.1",
                "chimera_status.log.2",
                "chimera_time.log",
                "chimera_time.log.1",
                "chimera_time.log.2"
            ]
        );
        for f in &files {
            let text = std::fs::read_to_string(dir.join(f)).unwrap();
            assert!(text.len() <= 1000, "{f} holds {} bytes", text.len());
            assert!(text.ends_with('\n'), "{f} ends with a whole line");
            if f.starts_with("chimera_time") {
                assert!(text
                    .lines()
                    .all(|l| l.starts_with("http://h:1/p") && l.ends_with(" worker endpoint latency = 0.5000 s")));
            }
        }
        let newest = std::fs::read_to_string(dir.join(TIME_LOG)).unwrap();
        assert!(newest.contains("/p199 "), "the newest lines are in the current file");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn request_text_cannot_forge_a_line() {
        assert_eq!(sanitize("evil\nhttp://x latency = 0", 100), "evil?http://x latency = 0");
        assert_eq!(sanitize("abcdef", 3), "abc…");
        assert_eq!(sanitize("ok:80", 100), "ok:80");
    }
}
