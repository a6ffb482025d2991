//! A large artifact streams through gljob in constant memory.
//! `GLJOB_TEST_LARGE_MIB` sets the size (default 256 MiB; the acceptance figure was
//! measured with 1024).

use fake_gitlab::Archive;

use crate::util::server;

/// Peak resident memory gljob may use, whatever the archive's size.
const RSS_LIMIT_KIB: u64 = 32 * 1024;

#[test]
fn a_large_artifact_is_fetched_in_constant_memory() {
    let mib: u64 = std::env::var("GLJOB_TEST_LARGE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let server = server();
    let source = tempfile::tempdir().unwrap();
    let archive = source.path().join("large.zip");
    fake_gitlab::zips::write_large(&archive, mib << 20).unwrap();
    {
        let mut world = server.world();
        let pipeline = world.add_pipeline(1, "main", "success");
        world.add_job(pipeline, "big", Some(Archive::File(archive)));
    }
    let (g, run, peak) = crate::util::peak_rss_kib(
        &server,
        &[
            "fetch", "--ref", "main", "--job", "big", "--dest", "out", "--quiet",
        ],
    );
    run.success();
    eprintln!("fetching a {mib} MiB artifact: peak RSS {peak} KiB");
    assert!(
        peak < RSS_LIMIT_KIB,
        "peak RSS {peak} KiB for a {mib} MiB artifact"
    );
    let total: u64 = walk_sizes(&g.dir().join("out"));
    assert!(
        total >= mib << 20,
        "the big file arrived whole ({total} bytes)"
    );
}

fn walk_sizes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                walk_sizes(&e.path())
            } else {
                e.metadata().unwrap().len()
            }
        })
        .sum()
}
