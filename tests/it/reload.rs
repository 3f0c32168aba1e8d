//! Hot reload through the real binary: a good change is in force within 2 s; a bad file keeps
//! the last good set and is counted.

use std::time::{Duration, Instant};

use crate::common::{Portcullis, Setup, client, file_issuer_config};

async fn status(p: &Portcullis, uri: &str) -> u16 {
    client()
        .get(p.url("/auth"))
        .header("X-Original-URL", format!("https://app.example.com{uri}"))
        .header("X-Original-Method", "GET")
        .send()
        .await
        .expect("send")
        .status()
        .as_u16()
}

async fn eventually(p: &Portcullis, uri: &str, expected: u16, within: Duration) {
    let deadline = Instant::now() + within;
    while status(p, uri).await != expected {
        assert!(
            Instant::now() < deadline,
            "{uri} did not become {expected}; log:\n{}",
            p.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const OPEN: &str = "- id: open\n  paths: [\"/open/**\"]\n  policy: allow\n";

#[tokio::test]
async fn a_good_change_is_in_force_within_two_seconds() {
    let p = Portcullis::start(Setup::new(&file_issuer_config("rsa1"), OPEN)).await;
    assert_eq!(status(&p, "/new/x").await, 403);
    let added = format!("{OPEN}- id: new\n  paths: [\"/new/**\"]\n  policy: allow\n");
    std::fs::write(p.rules_dir().join("10-rules.yaml"), added).expect("write");
    eventually(&p, "/new/x", 200, Duration::from_millis(2500)).await;
    assert_eq!(p.metric(r#"portcullis_rules_reload_total{result="ok"}"#).await, 1.0);
    assert_eq!(p.metric("portcullis_rules_loaded").await, 2.0);
}

#[tokio::test]
async fn a_bad_file_keeps_the_last_good_rules_and_is_counted() {
    let p = Portcullis::start(Setup::new(&file_issuer_config("rsa1"), OPEN)).await;
    std::fs::write(
        p.rules_dir().join("20-bad.yaml"),
        "- id: broken\n  paths: [\"/x/[\"]\n  policy: allow\n",
    )
    .expect("write");
    let deadline = Instant::now() + Duration::from_millis(2500);
    let errors = r#"portcullis_rules_reload_total{result="error"}"#;
    while p.metric_if_present(errors).await.unwrap_or(0.0) < 1.0 {
        assert!(
            Instant::now() < deadline,
            "bad reload not counted; log:\n{}",
            p.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status(&p, "/open/a").await, 200, "the last good set stays in force");
    assert!(p.log_text().contains("20-bad.yaml"), "the error names the file");
    std::fs::remove_file(p.rules_dir().join("20-bad.yaml")).expect("remove");
    std::fs::write(
        p.rules_dir().join("10-rules.yaml"),
        "- id: open\n  paths: [\"/open/**\"]\n  policy: deny\n",
    )
    .expect("write");
    eventually(&p, "/open/a", 403, Duration::from_millis(2500)).await;
}
