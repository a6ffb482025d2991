//! `Config::throttle_bytes_per_sec` and `Server::bytes_sent`, the two knobs the benchmark
//! (`bench/run.sh`) uses, over real sockets.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use fake_gitlab::{Archive, Config, Server, TOKEN, demo};

/// GETs `path` on the API origin with the job token and `Connection: close`; returns the
/// whole response (head and body) as received.
fn get(server: &Server, path: &str) -> Vec<u8> {
    let addr = server
        .server_url()
        .trim_start_matches("http://")
        .to_string();
    let mut s = TcpStream::connect(&addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nJOB-TOKEN: {TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("response");
    out
}

fn server_with_archive(throttle: Option<u64>, len: usize) -> Server {
    let server = Server::start(Config {
        throttle_bytes_per_sec: throttle,
        ..Config::default()
    })
    .expect("server");
    server
        .world()
        .set_archive(demo::BUILD_JOB, Some(Archive::from(vec![7u8; len])));
    server
}

const ARCHIVE: &str = "/api/v4/projects/2/jobs/102/artifacts";

#[test]
fn bytes_sent_counts_every_response_byte() {
    let server = server_with_archive(None, 300_000);
    assert_eq!(server.bytes_sent(), 0);
    let a = get(&server, ARCHIVE);
    assert!(a.starts_with(b"HTTP/1.1 200"), "{:?}", &a[..40]);
    assert!(a.len() > 300_000);
    let b = get(&server, "/api/v4/job");
    // The server counts before it closes, so once the client has seen EOF, all is counted.
    assert_eq!(server.bytes_sent(), (a.len() + b.len()) as u64);
}

#[test]
fn throttle_paces_archive_bodies_but_not_api_answers() {
    // 1 MiB at 4 MiB/s: about 250 ms (less the 10 ms burst), where loopback takes ~1 ms.
    let server = server_with_archive(Some(4 << 20), 1 << 20);
    let t = Instant::now();
    let body = get(&server, ARCHIVE);
    let took = t.elapsed();
    assert!(body.len() > 1 << 20);
    assert!(took >= Duration::from_millis(200), "took {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");

    let t = Instant::now();
    for _ in 0..5 {
        get(&server, "/api/v4/job");
    }
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn throttle_is_shared_by_concurrent_downloads() {
    // Two downloads of 512 KiB at once on a 4 MiB/s link: 1 MiB in all, about 250 ms.
    let server = server_with_archive(Some(4 << 20), 512 << 10);
    let t = Instant::now();
    std::thread::scope(|s| {
        let a = s.spawn(|| get(&server, ARCHIVE));
        let b = s.spawn(|| get(&server, ARCHIVE));
        assert!(a.join().expect("a").len() > 512 << 10);
        assert!(b.join().expect("b").len() > 512 << 10);
    });
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(200), "took {took:?}");
}
