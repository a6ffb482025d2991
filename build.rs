//! Stamps the binary with its git revision and target for `gljob --version`.
//! `GLJOB_GIT_REV` in the build environment overrides git (release builds from a tarball).

use std::path::Path;
use std::process::Command;

fn main() {
    let rev = std::env::var("GLJOB_GIT_REV").ok().or_else(|| {
        let out = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
    });
    println!(
        "cargo:rustc-env=GLJOB_GIT_REV={}",
        rev.as_deref().unwrap_or("unknown")
    );
    println!(
        "cargo:rustc-env=GLJOB_TARGET={}",
        std::env::var("TARGET").unwrap_or_default()
    );
    println!("cargo:rerun-if-env-changed=GLJOB_GIT_REV");
    for path in [".git/HEAD", ".git/refs/heads"] {
        if Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
