//! The minimal HTTP client the fake's tests share: one request per fresh `TcpStream`
//! (`Connection: close`, Content-Length framing), so the bytes on the wire are what is
//! asserted, with no HTTP crate in between.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use fake_gitlab::{Config, Server, TOKEN};

/// A parsed response; `complete` is false when the body ended before its Content-Length.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub complete: bool,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("utf-8 body")
    }
}

/// Reads one response from a buffered stream (Content-Length framing only).
pub fn read_response(r: &mut impl BufRead, head_only: bool) -> Resp {
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).expect("header line");
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').expect("header colon");
        headers.push((k.to_string(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().expect("content-length"));
    let mut body = Vec::new();
    let mut complete = true;
    if !head_only && status != 304 {
        let mut buf = [0u8; 8192];
        while body.len() < len {
            match r.read(&mut buf[..(len - body.len()).min(8192)]) {
                Ok(0) | Err(_) => {
                    complete = false;
                    break;
                }
                Ok(n) => body.extend_from_slice(&buf[..n]),
            }
        }
    }
    Resp {
        status,
        headers,
        body,
        complete,
    }
}

pub fn port_of(url: &str) -> u16 {
    let rest = url.split("://").nth(1).expect("scheme");
    let hostport = rest.split('/').next().expect("host");
    hostport
        .rsplit(':')
        .next()
        .expect("port")
        .parse()
        .expect("port number")
}

/// One request on a fresh plain-TCP connection.
pub fn request(base_url: &str, method: &str, target: &str, headers: &[(&str, &str)]) -> Resp {
    let mut s = TcpStream::connect(("127.0.0.1", port_of(base_url))).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("send");
    read_response(&mut BufReader::new(s), method == "HEAD")
}

pub fn get(base_url: &str, target: &str, headers: &[(&str, &str)]) -> Resp {
    request(base_url, "GET", target, headers)
}

pub const AUTH: &[(&str, &str)] = &[("JOB-TOKEN", TOKEN)];

pub fn start() -> Server {
    Server::start(Config::default()).expect("server starts")
}

/// A GET with the job token, its body parsed as JSON (panics, with the body, on anything
/// but 200).
pub fn get_json(base_url: &str, target: &str) -> (Resp, serde_json::Value) {
    let r = get(base_url, target, AUTH);
    assert_eq!(r.status, 200, "{target}: {}", r.text());
    let v = serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{target}: {e}"));
    (r, v)
}

/// The `id`s of a JSON list.
pub fn ids(list: &serde_json::Value) -> Vec<u64> {
    list.as_array()
        .expect("a JSON list")
        .iter()
        .map(|j| j["id"].as_u64().expect("an id"))
        .collect()
}

/// A server with this config.
pub fn start_with(config: Config) -> Server {
    Server::start(config).expect("server starts")
}
