//! The workload server of gljob's benchmark (`bench/run.sh`; see `BENCHMARKS.md`).
//!
//! `bench_server generate --dir D [--quick]` writes the three benchmark archives to `D`
//! (deterministic: the same bytes on every machine, regenerated only when the parameters
//! change) and `D/manifest.json`, which says what each holds:
//!
//! | workload | what | full size |
//! |---|---|---|
//! | `mixed` | a build's artifacts: 20,000 source files, reports, logs and assets (256 B – 64 KiB), then 4 large binaries (68 MiB) | 20,004 files, about 496 MiB raw, 258 MiB zipped |
//! | `many-small` | 100,000 files of 100 B – 2 KiB (a `node_modules`-like tree) | about 103 MiB raw, 58 MiB zipped |
//! | `one-big` | one 1 GiB incompressible file, then a small one ([`zips::write_large`]) | 1 GiB |
//!
//! `bench_server serve --dir D [--object-storage] [--throttle BYTES_PER_SEC]` starts the fake
//! GitLab with one successful pipeline on ref `bench` of project 1 whose jobs are named after
//! the workloads and serve their archives from disk ([`Archive::File`]). It prints `export`
//! lines (`CI_API_V4_URL`, `CI_SERVER_URL`, `CI_PROJECT_ID`, `CI_JOB_TOKEN`, `BENCH_REF`,
//! `BENCH_CONTROL_PORT`), then `READY`, and serves until killed; with `--background` it
//! prints the exports (and `FAKE_GITLAB_PID`) once listening and returns, serving on, for
//! `eval "$(bench_server serve --dir D --background)"` by hand. Each connection to
//! `127.0.0.1:BENCH_CONTROL_PORT` gets one JSON line and is closed:
//! `{"bytes_sent":N,"requests":N,"storage_requests":N}` ([`Server::bytes_sent`] and the request
//! log), so a harness can take the difference across one client run.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use argh::FromArgs;
use fake_gitlab::zips::{self, PseudoRandom};
use fake_gitlab::{Archive, Config, Origin, Server, TOKEN, background, demo};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// gljob's benchmark workloads: generate them, or serve them from the fake GitLab.
#[derive(FromArgs)]
struct Args {
    #[argh(subcommand)]
    command: Command,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Generate(Generate),
    Serve(Serve),
    FanIn(FanIn),
    Floor(Floor),
}

/// Time the floor of unpacking an archive on 2 threads, without any network: `create`
/// writes the archive's files from memory (entries inflated beforehand, not timed), `inflate`
/// inflates and CRC-checks every entry from the archive in memory (read beforehand, not
/// timed). Prints `seconds=S` of the timed part. The benchmark's floor row is the larger of
/// these two and the download alone.
#[derive(FromArgs)]
#[argh(subcommand, name = "floor")]
struct Floor {
    /// what to time: create or inflate
    #[argh(positional)]
    what: String,
    /// the archive
    #[argh(positional)]
    archive: PathBuf,
    /// where `create` writes (created; must not exist)
    #[argh(positional)]
    dest: Option<PathBuf>,
}

/// Serve one pipeline of N parallel jobs (`shard 1/N` …) with distinct in-memory archives,
/// for timing a fan-in (`bench/fan_in.sh`) against fetching the jobs one by one.
#[derive(FromArgs)]
#[argh(subcommand, name = "fan-in")]
struct FanIn {
    /// how many jobs (default 10)
    #[argh(option, default = "10")]
    jobs: u32,
    /// files per job (default 2000, 1–8 KiB each, plus one 4 MiB file)
    #[argh(option, default = "2000")]
    files: u32,
    /// serve downloads through the object-storage origin (302 redirects)
    #[argh(switch)]
    object_storage: bool,
}

/// Write the workload archives and manifest.json to a directory (skipped when up to date).
#[derive(FromArgs)]
#[argh(subcommand, name = "generate")]
struct Generate {
    /// directory for the archives (created if missing)
    #[argh(option)]
    dir: PathBuf,
    /// tiny workloads, for a smoke test of the harness
    #[argh(switch)]
    quick: bool,
}

/// Serve the workloads in a directory (from `generate`) until killed.
#[derive(FromArgs)]
#[argh(subcommand, name = "serve")]
struct Serve {
    /// directory holding manifest.json and the archives
    #[argh(option)]
    dir: PathBuf,
    /// answer archive downloads with a 302 to the object-storage origin
    #[argh(switch)]
    object_storage: bool,
    /// pace archive bodies to this many bytes per second (all connections together)
    #[argh(option)]
    throttle: Option<u64>,
    /// print the export lines once listening (and FAKE_GITLAB_PID), then return and serve
    /// on in the background: for eval "$(bench_server serve --dir D --background)"
    #[argh(switch)]
    background: bool,
    /// with --background: append the request log to FILE (default: no log)
    #[argh(option, arg_name = "FILE")]
    log: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args: Args = argh::from_env();
    let result = match args.command {
        Command::Generate(g) => generate(&g.dir, g.quick),
        Command::Serve(s) if s.background && !background::is_child() => {
            let raw: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
            background::relaunch(&background::child_args(&raw), s.log.as_deref())
        }
        Command::Serve(s) => serve(&s),
        Command::FanIn(f) => fan_in(&f),
        Command::Floor(f) => floor(&f),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Sizes of one generation; `tag()` names them in the manifest.
struct Params {
    mixed_small_files: u64,
    mixed_small_max: u64,
    mixed_big: u64,
    many_small_files: u64,
    one_big: u64,
}

impl Params {
    fn new(quick: bool) -> Params {
        if quick {
            Params {
                mixed_small_files: 200,
                mixed_small_max: 16 << 10,
                mixed_big: 512 << 10,
                many_small_files: 1_000,
                one_big: 8 << 20,
            }
        } else {
            Params {
                mixed_small_files: 20_000,
                mixed_small_max: 64 << 10,
                mixed_big: 68 << 20,
                many_small_files: 100_000,
                one_big: 1 << 30,
            }
        }
    }

    /// Changes whenever the bytes would: bump the version when the generators change.
    fn tag(&self) -> String {
        format!(
            "v1 mixed={}x{}+4x{} many-small={} one-big={}",
            self.mixed_small_files,
            self.mixed_small_max,
            self.mixed_big,
            self.many_small_files,
            self.one_big
        )
    }
}

/// What one workload archive holds.
struct Summary {
    name: &'static str,
    files: u64,
    dirs: u64,
    raw_bytes: u64,
    /// A small file of the archive, for `--path` and `--file` probes.
    small_file: String,
}

fn generate(dir: &Path, quick: bool) -> io::Result<()> {
    let params = Params::new(quick);
    fs::create_dir_all(dir)?;
    let manifest_path = dir.join("manifest.json");
    if let Ok(old) = fs::read_to_string(&manifest_path)
        && let Ok(old) = serde_json::from_str::<serde_json::Value>(&old)
        && old["params"] == params.tag()
        && ["mixed", "many-small", "one-big"]
            .iter()
            .all(|w| dir.join(format!("{w}.zip")).is_file())
    {
        eprintln!(
            "bench_server: workloads in {} are up to date",
            dir.display()
        );
        return Ok(());
    }
    let _ = fs::remove_file(&manifest_path);
    let mut workloads = serde_json::Map::new();
    for name in ["mixed", "many-small", "one-big"] {
        let path = dir.join(format!("{name}.zip"));
        let tmp = dir.join(format!("{name}.zip.tmp"));
        eprintln!("bench_server: writing {}", path.display());
        let summary = match name {
            "mixed" => write_mixed(&tmp, &params)?,
            "many-small" => write_many_small(&tmp, &params)?,
            _ => write_one_big(&tmp, &params)?,
        };
        fs::rename(&tmp, &path)?;
        let zip_bytes = fs::metadata(&path)?.len();
        workloads.insert(
            summary.name.to_string(),
            serde_json::json!({
                "zip": format!("{name}.zip"),
                "files": summary.files,
                "dirs": summary.dirs,
                "raw_bytes": summary.raw_bytes,
                "zip_bytes": zip_bytes,
                "small_file": summary.small_file,
            }),
        );
    }
    let manifest = serde_json::json!({ "params": params.tag(), "workloads": workloads });
    let tmp = dir.join("manifest.json.tmp");
    fs::write(&tmp, format!("{manifest:#}\n"))?;
    fs::rename(&tmp, &manifest_path)
}

/// splitmix64: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Log-uniform in `lo..=hi`: as many tiny files as large ones per doubling.
    fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let f = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        let v = (lo as f64) * ((hi as f64) / (lo as f64)).powf(f);
        (v as u64).clamp(lo, hi)
    }
}

/// Text that compresses like source code and logs (deflate: about 4×): lines of words
/// from a fixed vocabulary, with numbers.
struct TextGen {
    vocab: Vec<Vec<u8>>,
}

impl TextGen {
    fn new() -> TextGen {
        let mut rng = Rng(0x7E47);
        let vocab = (0..1024)
            .map(|_| {
                let len = 2 + rng.below(7) as usize;
                (0..len).map(|_| b'a' + rng.below(26) as u8).collect()
            })
            .collect();
        TextGen { vocab }
    }

    fn fill(&self, rng: &mut Rng, n: usize, out: &mut Vec<u8>) {
        let start = out.len();
        let end = start + n;
        // Where recent lines start: a third of the lines repeat one of them, as boilerplate
        // and log templates do.
        let mut recent: Vec<(usize, usize)> = Vec::new();
        let mut line = 0u64;
        while out.len() < end {
            line += 1;
            let from = out.len();
            if !recent.is_empty() && rng.below(3) == 0 {
                let (a, b) = recent[rng.below(recent.len() as u64) as usize];
                out.extend_from_within(a..b);
                continue;
            }
            let indent = rng.below(4) as usize * 2;
            out.extend(std::iter::repeat_n(b' ', indent));
            let words = 3 + rng.below(10);
            for w in 0..words {
                if w > 0 {
                    out.push(b' ');
                }
                if rng.below(16) == 0 {
                    let _ = write!(out, "{}", rng.below(1000));
                } else {
                    // Zipf-ish: common words far more often than rare ones.
                    let i = rng.below(1024) * rng.below(1024) * rng.below(1024) / (1 << 20);
                    out.extend_from_slice(&self.vocab[i as usize]);
                }
            }
            let _ = writeln!(out, "; // {line}");
            if recent.len() == 32 {
                recent.remove(0);
            }
            recent.push((from, out.len()));
        }
        out.truncate(end);
    }
}

/// Bytes that compress like binaries (about 2×): 4 KiB blocks of random data, text and runs
/// of zeros.
fn fill_binary(text: &TextGen, rng: &mut Rng, n: usize, out: &mut Vec<u8>) {
    let end = out.len() + n;
    while out.len() < end {
        let block = (end - out.len()).min(4096);
        match rng.below(8) {
            0..=2 => fill_random(rng, block, out),
            3..=5 => text.fill(rng, block, out),
            _ => out.extend(std::iter::repeat_n(0u8, block)),
        }
    }
}

fn fill_random(rng: &mut Rng, n: usize, out: &mut Vec<u8>) {
    let start = rng.below(1 << 40);
    let from = out.len();
    out.resize(from + n, 0);
    let _ = PseudoRandom::range(start, n as u64).read_exact(&mut out[from..]);
}

fn opts(mode: u32, stored: bool) -> SimpleFileOptions {
    let fixed = DateTime::from_date_and_time(2024, 5, 1, 12, 0, 0).unwrap_or_default();
    SimpleFileOptions::default()
        .system(zip::System::Unix)
        .last_modified_time(fixed)
        .compression_method(if stored {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        })
        .unix_permissions(mode)
}

/// A streaming zip writer (data descriptors, as gitlab-runner writes) that adds each
/// directory entry before the first file below it.
struct TreeWriter {
    zip: ZipWriter<zip::write::StreamWriter<BufWriter<File>>>,
    dirs: std::collections::BTreeSet<String>,
    files: u64,
    raw: u64,
}

impl TreeWriter {
    fn create(path: &Path) -> io::Result<TreeWriter> {
        let out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        Ok(TreeWriter {
            zip: ZipWriter::new_stream(out),
            dirs: Default::default(),
            files: 0,
            raw: 0,
        })
    }

    fn file(&mut self, name: &str, data: &[u8], mode: u32, stored: bool) -> io::Result<()> {
        let mut at = 0;
        while let Some(i) = name[at..].find('/') {
            let dir = &name[..at + i + 1];
            if self.dirs.insert(dir.to_string()) {
                self.zip
                    .add_directory(dir, opts(0o755, true))
                    .map_err(io::Error::other)?;
            }
            at += i + 1;
        }
        self.zip
            .start_file(name, opts(mode, stored))
            .map_err(io::Error::other)?;
        self.zip.write_all(data)?;
        self.files += 1;
        self.raw += data.len() as u64;
        Ok(())
    }

    fn finish(self, name: &'static str, small_file: String) -> io::Result<Summary> {
        self.zip
            .finish()
            .map_err(io::Error::other)?
            .into_inner()
            .flush()?;
        Ok(Summary {
            name,
            files: self.files,
            dirs: self.dirs.len() as u64,
            raw_bytes: self.raw,
            small_file,
        })
    }
}

/// A build's artifacts: small files of several kinds, then four large binaries.
fn write_mixed(path: &Path, p: &Params) -> io::Result<Summary> {
    let text = TextGen::new();
    let mut rng = Rng(0x1111);
    let mut w = TreeWriter::create(path)?;
    let mut buf = Vec::new();
    let mut small_file = String::new();
    for i in 0..p.mixed_small_files {
        let size = rng.log_uniform(256, p.mixed_small_max) as usize;
        buf.clear();
        let (a, b) = (i / 400, (i / 20) % 20);
        let (name, mode, stored) = match i % 20 {
            0..=9 => {
                text.fill(&mut rng, size, &mut buf);
                (
                    format!("src/mod{a:02}/part{b:02}/file{i:05}.rs"),
                    0o644,
                    false,
                )
            }
            10..=12 => {
                text.fill(&mut rng, size, &mut buf);
                (format!("reports/suite{a:02}/case{i:05}.xml"), 0o644, false)
            }
            13 | 14 => {
                text.fill(&mut rng, size, &mut buf);
                (format!("logs/run{a:02}/step{i:05}.log"), 0o644, false)
            }
            15..=17 => {
                fill_binary(&text, &mut rng, size, &mut buf);
                (
                    format!("dist/assets/chunk{a:02}/obj{i:05}.bin"),
                    0o644,
                    false,
                )
            }
            18 => {
                fill_binary(&text, &mut rng, size, &mut buf);
                (format!("dist/bin/tool{i:05}"), 0o755, false)
            }
            _ => {
                fill_random(&mut rng, size, &mut buf);
                (format!("dist/img/set{a:02}/pic{i:05}.png"), 0o644, true)
            }
        };
        if small_file.is_empty() && size < 4096 {
            small_file = name.clone();
        }
        w.file(&name, &buf, mode, stored)?;
    }
    // Four large files: three binaries and one incompressible (stored, as runners store what
    // does not compress).
    let big = p.mixed_big as usize;
    for (name, kind, mode) in [
        ("dist/big/app", 'b', 0o755),
        ("dist/big/app.debug", 'b', 0o644),
        ("dist/big/image.tar.gz", 'r', 0o644),
        ("dist/big/libapp.so", 'b', 0o755),
    ] {
        buf.clear();
        if kind == 'r' {
            fill_random(&mut rng, big, &mut buf);
        } else {
            fill_binary(&text, &mut rng, big, &mut buf);
        }
        w.file(name, &buf, mode, kind == 'r')?;
    }
    w.finish("mixed", small_file)
}

/// A `node_modules`-like tree of 100 B – 2 KiB files.
fn write_many_small(path: &Path, p: &Params) -> io::Result<Summary> {
    let text = TextGen::new();
    let mut rng = Rng(0x2222);
    let mut w = TreeWriter::create(path)?;
    let mut buf = Vec::new();
    let mut small_file = String::new();
    for i in 0..p.many_small_files {
        let size = 100 + rng.below(1949) as usize;
        buf.clear();
        text.fill(&mut rng, size, &mut buf);
        let name = format!(
            "node_modules/pkg{:03}/lib/sub{:02}/f{i:06}.js",
            i / 1000,
            (i / 50) % 20
        );
        if small_file.is_empty() {
            small_file = name.clone();
        }
        w.file(&name, &buf, 0o644, false)?;
    }
    w.finish("many-small", small_file)
}

/// [`zips::write_large`]: one big stored file, then a small one.
fn write_one_big(path: &Path, p: &Params) -> io::Result<Summary> {
    zips::write_large(path, p.one_big)?;
    Ok(Summary {
        name: "one-big",
        files: 2,
        dirs: 0,
        raw_bytes: p.one_big + zips::LARGE_TAIL.len() as u64,
        small_file: zips::LARGE_TAIL_ENTRY.to_string(),
    })
}

/// A shard's archive: `shard-I/NNNNN.txt` files of 1–8 KiB and one 4 MiB blob, deterministic.
fn shard(i: u32, files: u32) -> io::Result<Vec<u8>> {
    let mut w = ZipWriter::new(io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().unix_permissions(0o644);
    let mut text = PseudoRandom::range(u64::from(i) << 32, u64::MAX >> 1);
    for f in 0..files {
        w.start_file(format!("shard-{i}/{f:05}.txt"), opts)
            .map_err(io::Error::other)?;
        let len = 1024 + (f as usize * 7919 + i as usize * 131) % 7168;
        let mut chunk = vec![0u8; len];
        text.read_exact(&mut chunk)?;
        // Text-like, so it deflates as source files do.
        chunk.iter_mut().for_each(|b| *b = *b % 64 + 32);
        w.write_all(&chunk)?;
    }
    w.start_file(
        format!("shard-{i}/blob.bin"),
        opts.compression_method(CompressionMethod::Stored),
    )
    .map_err(io::Error::other)?;
    io::copy(
        &mut PseudoRandom::range(u64::from(i) << 40, 4 << 20),
        &mut w,
    )?;
    Ok(w.finish().map_err(io::Error::other)?.into_inner())
}

fn fan_in(args: &FanIn) -> io::Result<()> {
    let server = Server::start(Config {
        object_storage: args.object_storage,
        ..Config::default()
    })?;
    let pipeline = {
        let mut world = server.world();
        let pipeline = world.add_pipeline(demo::OWN_PROJECT, "bench", "success");
        for i in 1..=args.jobs {
            let archive = Archive::from(shard(i, args.files)?);
            world.add_job(pipeline, &format!("shard {i}/{}", args.jobs), Some(archive));
        }
        pipeline
    };
    let mut out = io::stdout().lock();
    writeln!(out, "export CI_API_V4_URL={}", server.api_url())?;
    writeln!(out, "export CI_PROJECT_ID={}", demo::OWN_PROJECT)?;
    writeln!(out, "export CI_JOB_TOKEN={TOKEN}")?;
    writeln!(out, "export BENCH_PIPELINE_ID={pipeline}")?;
    writeln!(out, "READY")?;
    out.flush()?;
    drop(out);
    loop {
        std::thread::park();
    }
}

fn serve(args: &Serve) -> io::Result<()> {
    let manifest = fs::read_to_string(args.dir.join("manifest.json"))
        .map_err(|e| io::Error::new(e.kind(), format!("reading manifest.json: {e}")))?;
    let manifest: serde_json::Value = serde_json::from_str(&manifest).map_err(io::Error::other)?;
    let Some(workloads) = manifest["workloads"].as_object() else {
        return Err(io::Error::other("manifest.json has no workloads"));
    };
    let server = Server::start(Config {
        object_storage: args.object_storage,
        throttle_bytes_per_sec: args.throttle,
        ..Config::default()
    })?;
    let git_ref = "bench";
    {
        let mut world = server.world();
        let pipeline = world.add_pipeline(demo::OWN_PROJECT, git_ref, "success");
        for (name, w) in workloads {
            let zip = w["zip"].as_str().unwrap_or_default();
            let archive = Archive::File(fs::canonicalize(args.dir.join(zip))?);
            world.add_job(pipeline, name, Some(archive));
        }
    }
    let control = TcpListener::bind(("127.0.0.1", 0))?;
    let mut out = io::stdout().lock();
    writeln!(out, "export CI_API_V4_URL={}", server.api_url())?;
    writeln!(out, "export CI_SERVER_URL={}", server.server_url())?;
    writeln!(out, "export CI_PROJECT_ID={}", demo::OWN_PROJECT)?;
    writeln!(out, "export CI_JOB_TOKEN={TOKEN}")?;
    writeln!(out, "export BENCH_REF={git_ref}")?;
    writeln!(
        out,
        "export BENCH_CONTROL_PORT={}",
        control.local_addr()?.port()
    )?;
    writeln!(out, "READY")?;
    out.flush()?;
    drop(out);
    for conn in control.incoming() {
        let Ok(mut conn) = conn else { continue };
        let requests = server.requests();
        let storage = requests
            .iter()
            .filter(|r| r.origin == Origin::Storage)
            .count();
        let line = serde_json::json!({
            "bytes_sent": server.bytes_sent(),
            "requests": requests.len(),
            "storage_requests": storage,
        });
        let _ = writeln!(conn, "{line}");
    }
    Ok(())
}

/// Threads of the floor: gljob's workers.
const FLOOR_THREADS: usize = 2;

/// Runs `work` on [`FLOOR_THREADS`] threads at once, until each returns.
fn on_threads(work: impl Fn() -> io::Result<()> + Sync) -> io::Result<()> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..FLOOR_THREADS).map(|_| scope.spawn(&work)).collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("a floor thread panicked"))
    })
}

fn floor(args: &Floor) -> io::Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let bytes = fs::read(&args.archive)?;
    let mut zip = zip::ZipArchive::new(io::Cursor::new(&bytes[..])).map_err(io::Error::other)?;
    let next = AtomicUsize::new(0);
    let seconds = match (args.what.as_str(), &args.dest) {
        ("create", Some(dest)) => {
            // Inflated beforehand; runs of up to 256 entries or one large entry per task,
            // as gljob's segments, so both threads stay busy to the end.
            let mut entries: Vec<(PathBuf, Option<Vec<u8>>)> = Vec::new();
            for i in 0..zip.len() {
                let mut e = zip.by_index(i).map_err(io::Error::other)?;
                let path = dest.join(
                    e.enclosed_name()
                        .ok_or_else(|| io::Error::other("bad name"))?,
                );
                if e.is_dir() {
                    entries.push((path, None));
                } else {
                    let mut data = Vec::with_capacity(e.size() as usize);
                    e.read_to_end(&mut data)?;
                    entries.push((path, Some(data)));
                }
            }
            let mut tasks: Vec<std::ops::Range<usize>> = Vec::new();
            let (mut start, mut size) = (0, 0usize);
            for (i, (_, data)) in entries.iter().enumerate() {
                size += data.as_ref().map_or(0, Vec::len);
                if i + 1 - start >= 256 || size >= 8 << 20 {
                    tasks.push(start..i + 1);
                    (start, size) = (i + 1, 0);
                }
            }
            tasks.push(start..entries.len());
            let t0 = std::time::Instant::now();
            fs::create_dir(dest)?;
            on_threads(|| {
                while let Some(task) = tasks.get(next.fetch_add(1, Ordering::SeqCst)) {
                    for (path, data) in &entries[task.clone()] {
                        match data {
                            None => fs::create_dir_all(path)?,
                            Some(data) => {
                                if let Some(parent) = path.parent()
                                    && !parent.is_dir()
                                {
                                    fs::create_dir_all(parent)?;
                                }
                                fs::write(path, data)?;
                            }
                        }
                    }
                }
                Ok(())
            })?;
            t0.elapsed()
        }
        ("inflate", None) => {
            let t0 = std::time::Instant::now();
            let n = zip.len();
            on_threads(|| {
                let mut zip = zip.clone();
                let mut buf = vec![0u8; 256 << 10];
                while let Some(i) = Some(next.fetch_add(1, Ordering::SeqCst)).filter(|&i| i < n) {
                    // The zip crate checks the CRC at the entry's end.
                    let mut e = zip.by_index(i).map_err(io::Error::other)?;
                    while e.read(&mut buf)? > 0 {}
                }
                Ok(())
            })?;
            t0.elapsed()
        }
        _ => {
            return Err(io::Error::other(
                "usage: floor create ARCHIVE DEST | floor inflate ARCHIVE",
            ));
        }
    };
    println!("seconds={:.4}", seconds.as_secs_f64());
    Ok(())
}
