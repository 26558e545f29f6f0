//! A seeded hash that is the same on every platform and Rust version (std's `DefaultHasher`
//! is not): FNV-1a over bytes. Bootstrap seeds and xtask's input fingerprints use it, so the
//! same experiment draws the same samples and a changed input is always noticed.

/// FNV-1a, 64 bits, starting from `seed` mixed into the offset basis.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Fnv {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    /// The plain FNV-1a start.
    pub fn new() -> Fnv {
        Fnv(Self::OFFSET)
    }

    /// A start that depends on `seed` (spread over the bits by the golden-ratio constant).
    pub fn seeded(seed: u64) -> Fnv {
        Fnv(Self::OFFSET ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    pub fn eat(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    /// A file's path plus what changes when the file is rewritten: a small file's bytes (spec
    /// files: a cluster's copies of them get a new modification time on every container start,
    /// which must not look like a change), a large file's size and modification time (data:
    /// not read again). A missing file adds its path only.
    pub fn eat_file_stamp(&mut self, path: &std::path::Path) {
        /// Files up to this size are fingerprinted by content.
        const BY_CONTENT: u64 = 64 * 1024;
        self.eat(path.to_string_lossy().as_bytes());
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        self.eat(&meta.len().to_le_bytes());
        if meta.len() <= BY_CONTENT {
            if let Ok(bytes) = std::fs::read(path) {
                self.eat(&bytes);
                return;
            }
        }
        let mtime = meta.modified().unwrap_or(std::time::SystemTime::UNIX_EPOCH);
        let since = mtime
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        self.eat(&since.as_nanos().to_le_bytes());
    }

    pub fn finish(self) -> u64 {
        self.0
    }
}

impl Default for Fnv {
    fn default() -> Self {
        Fnv::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_fnv1a_vectors() {
        let hash = |s: &str| {
            let mut h = Fnv::new();
            h.eat(s.as_bytes());
            h.finish()
        };
        assert_eq!(hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash("foobar"), 0x8594_4171_f739_67e8);
        let mut seeded = Fnv::seeded(7);
        seeded.eat(b"worker-1");
        assert_ne!(seeded.finish(), hash("worker-1"));
    }
}
