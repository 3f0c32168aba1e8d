//! A bearer token read from a file and read again when the file changes: the kubelet rotates a
//! projected service account token (about hourly) by swapping the file. The file's modification
//! time and length are looked at most every few seconds, only when a call is made anyway.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use crate::config::read_token;

/// How often the file is looked at, at most.
const RECHECK: Duration = Duration::from_secs(5);

/// The token of one file, current as of the last look.
pub(super) struct TokenFile {
    path: PathBuf,
    state: Mutex<State>,
}

struct State {
    token: Arc<str>,
    stamp: Option<(SystemTime, u64)>,
    checked: Option<Instant>,
}

impl TokenFile {
    /// Reads the token now; `Err` when the file cannot be read or is empty.
    pub(super) fn open(path: &Path) -> Result<TokenFile, String> {
        let token = read_token(path)?;
        Ok(TokenFile {
            path: path.to_path_buf(),
            state: Mutex::new(State {
                token: token.into(),
                stamp: stamp(&std::fs::metadata(path).ok()),
                checked: Some(Instant::now()),
            }),
        })
    }

    /// The token, read again first when the last look is a while ago and the file changed
    /// since. A file that cannot be read keeps the last good token (and is logged).
    pub(super) async fn current(&self) -> Arc<str> {
        let (token, known) = {
            let mut state = self.lock();
            if state.checked.is_some_and(|at| at.elapsed() < RECHECK) {
                return state.token.clone();
            }
            state.checked = Some(Instant::now());
            (state.token.clone(), state.stamp)
        };
        let now = stamp(&tokio::fs::metadata(&self.path).await.ok());
        if now.is_none() || now == known {
            return token;
        }
        let path = self.path.clone();
        match tokio::task::spawn_blocking(move || read_token(&path)).await {
            Ok(Ok(fresh)) => {
                let fresh: Arc<str> = fresh.into();
                let mut state = self.lock();
                state.token = fresh.clone();
                state.stamp = now;
                tracing::info!(file = %self.path.display(), "authorizer token file changed: read again");
                fresh
            }
            Ok(Err(reason)) => {
                tracing::warn!(key = "authorizers[].token_file", file = %self.path.display(), %reason, "authorizer token file cannot be read: the last good token stays in use");
                token
            }
            Err(_) => token,
        }
    }

    /// Makes the next call look at the file (after the API server refused the token).
    pub(super) fn recheck_soon(&self) {
        self.lock().checked = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn stamp(metadata: &Option<std::fs::Metadata>) -> Option<(SystemTime, u64)> {
    let metadata = metadata.as_ref()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn looked_at_long_ago(file: &TokenFile) {
        file.lock().checked = Instant::now().checked_sub(RECHECK * 2);
    }

    #[tokio::test]
    async fn a_changed_file_is_read_again_only_after_a_while_and_a_lost_one_keeps_the_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").expect("write");
        let file = TokenFile::open(&path).expect("opens");
        assert_eq!(&*file.current().await, "first");
        // The kubelet swaps the file for a new one (a new inode, another time and length).
        let next = dir.path().join("token.next");
        std::fs::write(&next, "second-token\n").expect("write");
        std::fs::rename(&next, &path).expect("swap");
        assert_eq!(&*file.current().await, "first", "looked at moments ago: not again yet");
        looked_at_long_ago(&file);
        assert_eq!(&*file.current().await, "second-token");
        std::fs::remove_file(&path).expect("remove");
        looked_at_long_ago(&file);
        assert_eq!(&*file.current().await, "second-token", "the last good token stays");
        std::fs::write(&path, "third-token!\n").expect("write");
        file.recheck_soon();
        assert_eq!(&*file.current().await, "third-token!");
    }

    #[test]
    fn an_empty_or_missing_file_does_not_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        assert!(TokenFile::open(&path).is_err());
        std::fs::write(&path, " \n").expect("write");
        assert!(TokenFile::open(&path).err().is_some_and(|e| e.contains("empty")));
    }
}
