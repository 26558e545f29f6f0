//! Where things are: the workspace, the shared target directory, the built binaries; and
//! building them with the one profile and target that tests and images share.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The target triple every build uses (also set as `build.target` in `.cargo/config.toml`).
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

/// `target/<triple>/release`: the static binaries of master and worker.
pub fn bin_dir() -> PathBuf {
    target_dir().join(TARGET).join("release")
}

pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Builds every binary of the workspace: `chimera-master`, `chimera-worker`, and the
/// benchmark's `chimera-bench` (a no-op when they are fresh). No `-p`: every build selects the
/// whole workspace, so cargo resolves the same features as `cargo xtask` and `cargo test` and
/// never compiles a dependency twice.
pub fn build_binaries() -> Result<(), String> {
    eprintln!(
        "building chimera-master and chimera-worker (release, static; the first build takes several minutes) ..."
    );
    let status = cargo()
        .args(["build", "--release", "--bins"])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("cargo build failed (see above)".into());
    }
    Ok(())
}

/// An experiment folder as an absolute path, with a clear error when it is not one.
pub fn experiment_dir(dir: &Path) -> Result<PathBuf, String> {
    let abs = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        std::env::current_dir().map_err(|e| e.to_string())?.join(dir)
    };
    if !abs.join("chimera_master.yaml").exists() {
        return Err(format!(
            "{} is not an experiment folder (no chimera_master.yaml); try --dir examples/bagging-classification",
            dir.display()
        ));
    }
    Ok(abs)
}
