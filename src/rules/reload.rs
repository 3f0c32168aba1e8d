//! Hot reload: watches the rule files and swaps in a new [`RuleSet`] when they change; a set
//! that fails to load leaves the last good one in force.
//!
//! Polling (every 500 ms) of a fingerprint of the file list and contents is used rather than
//! file-system events: it follows symlinks, so the swap of a Kubernetes ConfigMap volume's
//! `..data` link is seen like any edit, and it works on every file system.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};

use super::load::{Source, read_sources};
use super::{Known, RuleError, RuleSet};
use crate::metrics::Metrics;

/// How often the rule files are looked at.
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// A hash of what was read: each file's path and text, or the errors met while reading.
pub type Fingerprint = [u8; 32];

/// Starts the background task that reloads `rules` from `paths` within 2 seconds of a change
/// (including the symlink swap of a Kubernetes ConfigMap volume), counting
/// `portcullis_rules_reload_total{result}` and setting `portcullis_rules_loaded`.
///
/// The set already in `rules` is taken as loaded from the files as they are when the task
/// starts; a fingerprint that failed to load is not retried until the files change again.
pub fn spawn_reloader(
    paths: Vec<PathBuf>,
    known: Known,
    rules: Arc<ArcSwap<RuleSet>>,
    metrics: Metrics,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut reloader = Reloader::start(paths, known, rules, metrics).await;
        let mut ticks = tokio::time::interval(POLL_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            reloader.poll().await;
        }
    })
}

/// What one look at the rule files did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polled {
    /// The files are as they were at the last look: nothing was loaded.
    Unchanged,
    /// They changed and the new set is in force.
    Applied,
    /// They changed and do not load: the last good set stays.
    Failed,
}

/// The reload step by step: remembers what the files looked like at the last look.
pub struct Reloader {
    paths: Vec<PathBuf>,
    known: Arc<Known>,
    rules: Arc<ArcSwap<RuleSet>>,
    metrics: Metrics,
    last: Fingerprint,
}

impl Reloader {
    /// Takes the set in `rules` as loaded from the files as they are now.
    /// New sets are checked against `known`, the names the configuration defines.
    pub async fn start(paths: Vec<PathBuf>, known: Known, rules: Arc<ArcSwap<RuleSet>>, metrics: Metrics) -> Reloader {
        let last = read(&paths).await.0;
        metrics.rules_loaded.set(gauge(rules.load().len()));
        Reloader {
            paths,
            known: Arc::new(known),
            rules,
            metrics,
            last,
        }
    }

    /// Looks at the files once; loads and swaps in a new set when they changed.
    pub async fn poll(&mut self) -> Polled {
        let (fingerprint, sources) = read(&self.paths).await;
        if fingerprint == self.last {
            return Polled::Unchanged;
        }
        // A read that straddles a swap (a ConfigMap's `..data` link renamed between two files)
        // holds some old files and some new: a set nobody wrote. Only what a second read agrees
        // with is loaded; otherwise the next poll looks again.
        if read(&self.paths).await.0 != fingerprint {
            tracing::debug!("rule files changed while they were read; reading them again at the next poll");
            return Polled::Unchanged;
        }
        self.last = fingerprint;
        if apply(sources, &self.known, &self.rules, &self.metrics).await {
            if self.rules.load().is_empty() {
                tracing::warn!(key = "rules.paths", "{}", super::empty_set_warning(&self.paths));
            }
            Polled::Applied
        } else {
            Polled::Failed
        }
    }
}

/// Reads the files off the async workers.
async fn read(paths: &[PathBuf]) -> (Fingerprint, Result<Vec<Source>, Vec<RuleError>>) {
    let paths = paths.to_vec();
    tokio::task::spawn_blocking(move || {
        let sources = read_sources(&paths);
        (fingerprint(&sources), sources)
    })
    .await
    .unwrap_or_else(|e| ([0; 32], Err(vec![join_error(&e)])))
}

/// Compiles what was read and swaps it in (true), or keeps the old set and reports why (false).
async fn apply(
    sources: Result<Vec<Source>, Vec<RuleError>>,
    known: &Arc<Known>,
    rules: &ArcSwap<RuleSet>,
    metrics: &Metrics,
) -> bool {
    let known = known.clone();
    let loaded = match sources {
        Ok(sources) => tokio::task::spawn_blocking(move || RuleSet::from_sources(&sources, &known))
            .await
            .unwrap_or_else(|e| Err(vec![join_error(&e)])),
        Err(errors) => Err(errors),
    };
    match loaded {
        Ok(set) => {
            let count = set.len();
            set.install(rules);
            metrics.rules_reload_total.with_label_values(&["ok"]).inc();
            metrics.rules_loaded.set(gauge(count));
            tracing::info!(rules = count, "rule files changed: new rule set in force");
            true
        }
        Err(errors) => {
            metrics.rules_reload_total.with_label_values(&["error"]).inc();
            for error in &errors {
                tracing::error!(
                    file = %error.file.display(),
                    line = error.line,
                    rule = error.rule.as_deref().unwrap_or(""),
                    %error,
                    "rule reload failed"
                );
            }
            tracing::warn!(
                key = "rules.paths",
                errors = errors.len(),
                "rule files changed but do not load: the last good rule set stays"
            );
            false
        }
    }
}

/// The fingerprint of a read: paths and texts in order, or the error messages.
pub fn fingerprint(sources: &Result<Vec<Source>, Vec<RuleError>>) -> Fingerprint {
    let mut hash = Sha256::new();
    match sources {
        Ok(sources) => {
            for source in sources {
                hash.update(source.path.to_string_lossy().as_bytes());
                hash.update([0]);
                hash.update((source.text.len() as u64).to_le_bytes());
                hash.update(source.text.as_bytes());
            }
        }
        Err(errors) => {
            hash.update(b"error\0");
            errors.iter().for_each(|e| hash.update(e.to_string().as_bytes()));
        }
    }
    hash.finalize().into()
}

fn gauge(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn join_error(error: &tokio::task::JoinError) -> RuleError {
    RuleError {
        file: PathBuf::new(),
        line: None,
        rule: None,
        reason: format!("rule loading task failed: {error}"),
    }
}
