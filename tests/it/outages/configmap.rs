//! A rules ConfigMap swapped to an invalid set under load, laid out as the kubelet lays out a
//! ConfigMap volume: the data in a timestamped `..<stamp>` folder, a `..data` symlink to it, and
//! one symlink per key (`r00.yaml -> ..data/r00.yaml`). An update writes a new folder, points a
//! `..data_tmp` link at it, renames that over `..data` (the one atomic step) and deletes the old
//! folder. A reload that read some files before a swap and the rest after would put a set in
//! force that is neither the old nor the new one: no request may ever see one.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::{Portcullis, Setup, client, fixture};

/// Rule files: many, so that reading them all takes long enough for a swap to land in between.
const FILES: usize = 200;

/// One version of the ConfigMap: `r00.yaml`... (one path each) and `zz-last.yaml`, read last.
/// The invalid set turns every `rNN` rule into `deny` and breaks the last file, so a read that
/// straddles a swap (new files first, old last file) would load, and deny.
fn version(policy: &str, last_valid: bool) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = (0..FILES)
        .map(|i| {
            (
                format!("r{i:02}.yaml"),
                format!("- id: r{i:02}\n  paths: [\"/p{i:02}/**\"]\n  policy: {policy}\n"),
            )
        })
        .collect();
    let last = if last_valid { "allow" } else { "sometimes" };
    files.push((
        "zz-last.yaml".into(),
        format!("- id: last\n  paths: [\"/last/**\"]\n  policy: {last}\n"),
    ));
    files
}

/// Publishes `files` as the kubelet does (see the module comment); `stamp` names the folder.
fn publish(dir: &Path, stamp: usize, files: &[(String, String)]) {
    let data = write_folder(dir, stamp, files);
    let old = std::fs::read_link(dir.join("..data")).ok();
    point_data_at(dir, &data);
    for (name, _) in files {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(name), &link).expect("key link");
        }
    }
    if let Some(old) = old {
        std::fs::remove_dir_all(dir.join(old)).expect("remove old folder");
    }
}

/// Writes one version's folder `..<stamp>`; returns its name.
fn write_folder(dir: &Path, stamp: usize, files: &[(String, String)]) -> String {
    let data = format!("..{stamp:08}");
    std::fs::create_dir(dir.join(&data)).expect("data folder");
    for (name, text) in files {
        std::fs::write(dir.join(&data).join(name), text).expect("write");
    }
    data
}

/// The atomic step: a new `..data_tmp` link renamed over `..data`.
fn point_data_at(dir: &Path, data: &str) {
    let _ = std::fs::remove_file(dir.join("..data_tmp"));
    std::os::unix::fs::symlink(data, dir.join("..data_tmp")).expect("link");
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).expect("swap");
}

async fn status(p: &Portcullis, i: usize) -> u16 {
    status_at(&client(), &p.base, i).await
}

/// `/auth` of the Portcullis at `base` about `/pNN/x` (usable from a spawned task).
async fn status_at(client: &reqwest::Client, base: &str, i: usize) -> u16 {
    client
        .get(format!("{base}/auth"))
        .header("X-Original-URL", format!("https://app.example.com/p{i:02}/x"))
        .header("X-Original-Method", "GET")
        .send()
        .await
        .expect("auth")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_configmap_swapped_to_an_invalid_set_under_load_never_shows_a_half_loaded_set() {
    let volume = tempfile::tempdir().expect("tempdir");
    let dir = volume.path().to_path_buf();
    let old = version("allow", true);
    publish(&dir, 0, &old);
    let config = format!(
        "[[issuers]]\nname = \"main\"\nissuer = \"https://issuer.test/\"\njwks_file = \"{}\"\naudiences = [\"api\"]\n\n\
         [rules]\npaths = [\"{}\"]\ndefault = \"deny\"\n",
        fixture("keys/rsa1.jwks.json").display(),
        dir.display()
    );
    let p = Portcullis::start(Setup::new(&config, "")).await;
    p.wait_for("/readyz", 200).await;
    assert_eq!(status(&p, 0).await, 200, "{}", p.log_text());

    // The kubelet side: swaps between the invalid set and the old one every 50 ms (both folders
    // written once beforehand, so each swap is only the rename and lands at any moment).
    let invalid = write_folder(&dir, 1, &version("deny", false));
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (stop, dir) = (stop.clone(), dir.clone());
        let folders = [
            invalid,
            std::fs::read_link(dir.join("..data"))
                .expect("..data")
                .display()
                .to_string(),
        ];
        std::thread::spawn(move || {
            let mut swaps = 0;
            // Ends on the invalid set: what a bad update leaves behind.
            while !stop.load(Ordering::SeqCst) || swaps % 2 == 0 {
                point_data_at(&dir, &folders[swaps % 2]);
                swaps += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            swaps
        })
    };
    // The load: four clients asking about every path in turn for 8 s.
    let until = Instant::now() + Duration::from_secs(8);
    let clients: Vec<_> = (0..4)
        .map(|start| {
            let base = p.base.clone();
            tokio::spawn(async move {
                let client = client();
                let mut seen: BTreeMap<u16, usize> = BTreeMap::new();
                let mut i = start;
                while Instant::now() < until {
                    *seen.entry(status_at(&client, &base, i % FILES).await).or_default() += 1;
                    i += 1;
                }
                seen
            })
        })
        .collect();
    let mut seen: BTreeMap<u16, usize> = BTreeMap::new();
    for client in clients {
        for (status, n) in client.await.expect("client") {
            *seen.entry(status).or_default() += n;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let swaps = swapper.join().expect("swapper");
    let answers: usize = seen.values().sum();
    eprintln!("{answers} answers {seen:?} over {swaps} swaps");
    assert!(
        answers > 100 && swaps > 20,
        "too little happened: {answers} answers, {swaps} swaps"
    );
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        vec![200],
        "every answer is the old set's (200); got {seen:?} over {swaps} swaps; log:\n{}",
        p.log_text()
    );
    let errors = p
        .metric_if_present(r#"portcullis_rules_reload_total{result="error"}"#)
        .await
        .unwrap_or(0.0);
    assert!(errors >= 1.0, "the invalid set was seen and refused");

    // A valid update is then applied.
    publish(&dir, 2, &version("deny", true));
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&p, 0).await != 403 {
        assert!(
            Instant::now() < deadline,
            "the valid set never applied; log:\n{}",
            p.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status(&p, FILES - 1).await, 403);
}
