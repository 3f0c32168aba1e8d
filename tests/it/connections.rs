//! Connections: slow or silent clients are closed after `server.header_read_timeout`, at most
//! `server.max_connections` are open, accept errors do not stop the server, SIGTERM drains, and
//! the new `[server]` keys are validated.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::ask;
use crate::common::jwks_server::fixture_jwks;
use crate::common::rules::DECISIONS as RULES;
use crate::common::tokens::rsa1;
use crate::common::{Portcullis, Setup, client, file_issuer_config, run};

/// How long a test waits for something that should happen much sooner; it only stops a hang.
const HANG_GUARD: Duration = Duration::from_secs(20);

/// Portcullis with these `[server]` settings given as environment overrides.
async fn start_with(server: &[(&str, &str)]) -> Portcullis {
    let mut setup = Setup::new(&file_issuer_config("rsa1"), RULES);
    setup.env = server
        .iter()
        .map(|(key, value)| (format!("PORTCULLIS_SERVER__{}", key.to_uppercase()), value.to_string()))
        .collect();
    Portcullis::start(setup).await
}

async fn connect(p: &Portcullis) -> TcpStream {
    TcpStream::connect(("127.0.0.1", p.port)).await.expect("connect")
}

/// Reads until the server closes the connection (end of stream or reset) and returns what it
/// sent before; fails the test if the connection is still open after [`HANG_GUARD`].
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let closed = tokio::time::timeout(HANG_GUARD, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection was still open after {HANG_GUARD:?}");
    received
}

/// Sends `GET /healthz` on a kept-alive connection and reads the answer: its status line, or
/// `None` when the server closed the connection instead.
async fn healthz_on(stream: &mut TcpStream) -> Option<String> {
    let request = b"GET /healthz HTTP/1.1\r\nHost: portcullis.test\r\n\r\n";
    if stream.write_all(request).await.is_err() {
        return None;
    }
    let read = async {
        let mut received = Vec::new();
        let mut buffer = [0u8; 1024];
        loop {
            // `/healthz` answers "ok\n": the answer is complete when its body is in.
            if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n")
                && received.len() >= end + 4 + 3
            {
                let head = String::from_utf8_lossy(&received[..end]).to_string();
                return head.lines().next().map(str::to_string);
            }
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(HANG_GUARD, read)
        .await
        .expect("no answer and not closed")
}

async fn healthz_answers(p: &Portcullis) {
    let response = client().get(p.url("/healthz")).send().await.expect("healthz");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn half_a_request_head_is_closed_while_other_connections_are_answered() {
    let p = start_with(&[("header_read_timeout", "1s")]).await;
    let mut slow = connect(&p).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: portcullis.test\r\nX-Slow: ")
        .await
        .expect("write");
    for _ in 0..3 {
        healthz_answers(&p).await;
    }
    let received = read_until_closed(&mut slow).await;
    assert!(
        !String::from_utf8_lossy(&received).contains(" 200 "),
        "the half request was answered: {}",
        String::from_utf8_lossy(&received)
    );
    healthz_answers(&p).await;
}

#[tokio::test]
async fn a_silent_connection_and_a_stalled_http2_preface_are_closed() {
    let p = start_with(&[("header_read_timeout", "1s")]).await;
    let mut silent = connect(&p).await;
    let mut preface = connect(&p).await;
    // The first 16 of the 24 bytes of the HTTP/2 preface: the protocol is not known yet.
    preface.write_all(b"PRI * HTTP/2.0\r\n").await.expect("write");
    assert_eq!(read_until_closed(&mut silent).await, b"");
    read_until_closed(&mut preface).await;
    healthz_answers(&p).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_timeout_too() {
    let p = start_with(&[("header_read_timeout", "1s")]).await;
    let mut idle = connect(&p).await;
    let status = healthz_on(&mut idle).await.expect("answered");
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(read_until_closed(&mut idle).await, b"");
}

#[tokio::test]
async fn http2_without_tls_is_served_with_the_peer_address() {
    let p = start_with(&[("header_read_timeout", "1s")]).await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .timeout(HANG_GUARD)
        .build()
        .expect("client");
    let response = h2.get(p.url("/healthz")).send().await.expect("healthz");
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
    // `/auth` reads the peer's address (forwarded headers only from trusted peers).
    let response = h2
        .get(p.url("/auth"))
        .header("X-Original-URL", "https://app.example.com/public/logo.png")
        .header("X-Original-Method", "GET")
        .send()
        .await
        .expect("auth");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn connections_past_max_connections_are_closed_and_served_again_once_others_close() {
    let p = start_with(&[("max_connections", "3"), ("header_read_timeout", "60s")]).await;
    // Hold three served connections; the kit's own probe connection may still be counted for a
    // moment after it closed, so a refused attempt is retried.
    let deadline = Instant::now() + HANG_GUARD;
    let mut held = Vec::new();
    while held.len() < 3 {
        let mut stream = connect(&p).await;
        match healthz_on(&mut stream).await {
            Some(status) => {
                assert!(status.contains(" 200 "), "{status}");
                held.push(stream);
            }
            None => {
                assert!(Instant::now() < deadline, "could not hold 3 connections");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    let mut extra = connect(&p).await;
    assert_eq!(healthz_on(&mut extra).await, None, "a fourth connection was served");
    for stream in &mut held {
        let status = healthz_on(stream).await.expect("a held connection still answers");
        assert!(status.contains(" 200 "), "{status}");
    }
    p.wait_for_log("server.max_connections").await;

    drop(held);
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        let mut stream = connect(&p).await;
        if let Some(status) = healthz_on(&mut stream).await {
            assert!(status.contains(" 200 "), "{status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no connection was served after the others closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn running_out_of_file_descriptors_does_not_stop_the_server() {
    let p = start_with(&[]).await;
    let pid = p.pid().to_string();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("fds").count();
    // Room for two more connections: accepting the others fails with EMFILE.
    let limit = format!("--nofile={}:{}", open + 2, open + 2);
    let status = Command::new("prlimit")
        .args(["--pid", &pid, &limit])
        .status()
        .expect("prlimit");
    assert!(status.success(), "prlimit failed");
    let mut streams = Vec::new();
    for _ in 0..8 {
        streams.push(connect(&p).await);
    }
    let deadline = Instant::now() + HANG_GUARD;
    while !p.log_text().contains("cannot accept connections") {
        assert!(
            Instant::now() < deadline,
            "no accept error was logged:\n{}",
            p.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(streams);
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        if let Ok(response) = client().get(p.url("/healthz")).send().await
            && response.status() == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "not served again:\n{}", p.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A JWKS endpoint that holds every request until released, then answers each with `rsa1`.
async fn stalling_jwks_server() -> (String, tokio::sync::watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let uri = format!("http://{}/jwks.json", listener.local_addr().expect("addr"));
    let (release, released) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut released = released.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let _ = released.wait_for(|released| *released).await;
                let body = fixture_jwks(&["rsa1"]).to_string();
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    (uri, release)
}

#[tokio::test]
async fn sigterm_answers_requests_in_flight_and_closes_idle_connections() {
    let (jwks_uri, release) = stalling_jwks_server().await;
    let config = format!(
        "[[issuers]]\nname = \"main\"\nissuer = \"https://issuer.test/\"\njwks_uri = \"{jwks_uri}\"\naudiences = [\"api\"]\n\n[rules]\npaths = [\"rules/\"]\n"
    );
    let mut p = Portcullis::start(Setup::new(&config, RULES)).await;
    let mut idle = connect(&p).await;
    assert!(
        healthz_on(&mut idle)
            .await
            .is_some_and(|status| status.contains(" 200 "))
    );
    let silent = connect(&p).await;

    // In flight: the token's key is not loaded, so its check waits for the stalled JWKS fetch.
    let token = format!("Bearer {}", rsa1(json!({})));
    let in_flight = tokio::spawn(ask_admin(p.url("/auth"), token));
    wait_for_log(&p, "asking for a refetch").await;

    let status = Command::new("kill")
        .args(["-TERM", &p.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    wait_for_log(&p, "draining").await;
    release.send_replace(true);

    let answered = tokio::time::timeout(HANG_GUARD, in_flight)
        .await
        .expect("the request in flight was answered")
        .expect("task");
    assert_eq!(answered, 200, "log:\n{}", p.log_text());
    // The idle and the silent connection are still open on this side: they did not hold it up.
    let exit = p.wait_exit(HANG_GUARD).await.expect("exited after draining");
    assert!(exit.success(), "exit status {exit:?}; log:\n{}", p.log_text());
    assert!(p.log_text().contains("drained"), "{}", p.log_text());
    drop((idle, silent));
}

/// Asks `url` (an `/auth`) about `GET https://app.example.com/admin/` with `authorization`.
async fn ask_admin(url: String, authorization: String) -> u16 {
    let response = client()
        .get(url)
        .header("X-Original-URL", "https://app.example.com/admin/")
        .header("X-Original-Method", "GET")
        .header("Authorization", authorization)
        .send()
        .await
        .expect("the request in flight got an answer");
    response.status().as_u16()
}

async fn wait_for_log(p: &Portcullis, text: &str) {
    let deadline = Instant::now() + HANG_GUARD;
    while !p.log_text().contains(text) {
        assert!(Instant::now() < deadline, "`{text}` never logged:\n{}", p.log_text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn check_server(keys: &str) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("rules")).expect("mkdir");
    std::fs::write(dir.path().join("portcullis.toml"), format!("[server]\n{keys}\n")).expect("write");
    let (code, _, stderr) = run(&["check", "--config", "portcullis.toml"], dir.path());
    (code, stderr)
}

#[test]
fn connection_and_cache_limits_are_validated_by_key_and_file() {
    for (keys, expected) in [
        ("header_read_timeout = \"0s\"", "server.header_read_timeout"),
        ("header_read_timeout = \"soon\"", "server.header_read_timeout"),
        ("header_read_timeout = \"2h\"", "server.header_read_timeout"),
        ("max_connections = 0", "server.max_connections"),
        ("max_connections = -5", "server.max_connections"),
        ("max_connections = \"many\"", "server.max_connections"),
        ("token_cache_memory = \"lots\"", "server.token_cache_memory"),
        ("token_cache_memory = \"64 MiBs\"", "server.token_cache_memory"),
        ("token_cache_memory = \"0MiB\"", "server.token_cache_memory"),
        ("token_cache_memory = -1", "server.token_cache_memory"),
    ] {
        let (code, stderr) = check_server(keys);
        assert_eq!(code, 1, "accepted: {keys}");
        assert!(
            stderr.contains(expected) && stderr.contains("portcullis.toml"),
            "{keys}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{keys}: {stderr}");
    }
    for keys in [
        "header_read_timeout = \"500ms\"\nmax_connections = 1\ntoken_cache_memory = \"512KiB\"",
        "token_cache_memory = \"1GB\"",
        "token_cache_memory = 1048576",
    ] {
        let (code, stderr) = check_server(keys);
        assert_eq!(code, 0, "{keys}: {stderr}");
    }
}

#[tokio::test]
async fn token_cache_memory_bounds_the_cache_of_the_running_server() {
    let token = format!("Bearer {}", rsa1(json!({})));
    // Under the default budget a verified token stays cached.
    let default = start_with(&[]).await;
    for _ in 0..2 {
        assert_eq!(
            ask(&default, "/admin/", &[("Authorization", &token)]).await.status(),
            200
        );
    }
    assert_eq!(default.metric("portcullis_token_cache_hits_total").await, 1.0);

    // Under a budget smaller than one entry it is evicted as soon as the cache does its
    // housekeeping (moka applies evictions lazily): the same token is then verified again.
    let tiny = start_with(&[("token_cache_memory", "100B")]).await;
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        assert_eq!(ask(&tiny, "/admin/", &[("Authorization", &token)]).await.status(), 200);
        if tiny.metric("portcullis_token_cache_misses_total").await >= 2.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the token stayed cached under a 100-byte budget"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
