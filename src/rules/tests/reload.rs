use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::metrics::Metrics;
use crate::rules::reload::{Polled, Reloader, spawn_reloader};
use crate::rules::{Known, RuleSet};

/// Waits up to `limit` for `done`, polling.
async fn within(limit: Duration, done: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    done()
}

fn ids(rules: &ArcSwap<RuleSet>) -> Vec<String> {
    rules.load().rules().map(|r| r.id.clone()).collect()
}

fn reloads(metrics: &Metrics, result: &str) -> u64 {
    metrics.rules_reload_total.with_label_values(&[result]).get()
}

fn start(folder: &Path) -> (Arc<ArcSwap<RuleSet>>, Metrics, tokio::task::JoinHandle<()>) {
    let paths = vec![folder.to_path_buf()];
    let rules = Arc::new(ArcSwap::from_pointee(
        RuleSet::load(&paths, &Known::default()).expect("initial rules load"),
    ));
    let metrics = Metrics::new();
    let task = spawn_reloader(paths, Known::default(), rules.clone(), metrics.clone());
    (rules, metrics, task)
}

#[tokio::test]
async fn a_good_change_is_in_force_within_two_seconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("a.yaml"), "- { id: one, policy: allow }\n").expect("write");
    let (rules, metrics, task) = start(dir.path());
    tokio::time::sleep(Duration::from_millis(100)).await;
    fs::write(dir.path().join("b.yaml"), "- { id: two, policy: deny }\n").expect("write");
    assert!(
        within(Duration::from_secs(2), || ids(&rules) == ["one", "two"]).await,
        "{:?}",
        ids(&rules)
    );
    assert_eq!(reloads(&metrics, "ok"), 1);
    assert_eq!(metrics.rules_loaded.get(), 2);
    task.abort();
}

#[tokio::test]
async fn a_bad_file_keeps_the_last_good_set_and_counts_one_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(dir.path().join("a.yaml"), "- { id: one, policy: allow }\n").expect("write");
    let paths = vec![dir.path().to_path_buf()];
    let rules = Arc::new(ArcSwap::from_pointee(
        RuleSet::load(&paths, &Known::default()).expect("initial rules load"),
    ));
    let metrics = Metrics::new();
    // Step by step, without the timer: each `poll` is one look at the files.
    let mut reloader = Reloader::start(paths, Known::default(), rules.clone(), metrics.clone()).await;
    assert_eq!(reloader.poll().await, Polled::Unchanged);
    fs::write(dir.path().join("a.yaml"), "- { id: one, policy: sometimes }\n").expect("write");
    assert_eq!(reloader.poll().await, Polled::Failed);
    assert_eq!(reloads(&metrics, "error"), 1);
    assert_eq!(
        reloader.poll().await,
        Polled::Unchanged,
        "the same failing files are not retried"
    );
    assert_eq!(reloads(&metrics, "error"), 1);
    assert_eq!(ids(&rules), ["one"]);
    fs::remove_dir_all(dir.path()).expect("remove folder");
    assert_eq!(reloader.poll().await, Polled::Failed, "a missing folder fails");
    assert_eq!(reloads(&metrics, "error"), 2);
    assert_eq!(ids(&rules), ["one"]);
}

#[tokio::test]
async fn a_configmap_symlink_swap_is_picked_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    fs::create_dir(root.join("..2026_01")).expect("mkdir");
    fs::write(root.join("..2026_01/rules.yaml"), "- { id: v1, policy: allow }\n").expect("write");
    symlink("..2026_01", root.join("..data")).expect("symlink");
    symlink("..data/rules.yaml", root.join("rules.yaml")).expect("symlink");
    let (rules, metrics, task) = start(root);
    assert_eq!(ids(&rules), ["v1"]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    // What the kubelet does: write a new timestamped folder, then atomically rename a new link
    // over `..data`.
    fs::create_dir(root.join("..2026_02")).expect("mkdir");
    fs::write(root.join("..2026_02/rules.yaml"), "- { id: v2, policy: deny }\n").expect("write");
    symlink("..2026_02", root.join("..data_tmp")).expect("symlink");
    fs::rename(root.join("..data_tmp"), root.join("..data")).expect("swap");
    fs::remove_dir_all(root.join("..2026_01")).expect("remove old");
    assert!(
        within(Duration::from_secs(2), || ids(&rules) == ["v2"]).await,
        "{:?}",
        ids(&rules)
    );
    assert_eq!(reloads(&metrics, "ok"), 1);
    task.abort();
}
