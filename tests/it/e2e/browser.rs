//! Headless Chromium signing in: runs `tests/node/login.mjs` (playwright-core driving the
//! system's `/usr/bin/chromium`) and reads the JSON it prints.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::peers::program;

/// The browser the driver runs; never one downloaded by a test tool.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The longest a whole sign-in, sign-out and second sign-in page may take (each step of the
/// driver has its own 15 s limit; this bounds a hung browser).
const DRIVER_TIMEOUT: Duration = Duration::from_secs(120);

/// Held while a browser runs (across the tests' separate runtimes: tokio's mutex needs none).
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The URLs one browser run goes through.
pub struct Journey {
    /// The protected page the browser opens first and must land back on.
    pub protected: String,
    /// `/oauth2/sign_out?rd=<signed_out>` on the proxy.
    pub sign_out: String,
    /// Where sign-out must end.
    pub signed_out: String,
    /// The provider's issuer URL (its sign-in pages live under it).
    pub issuer: String,
    /// The login typed on the provider's sign-in page.
    pub user: String,
    /// How long the browser waits before it opens the protected page a second time (zero: at
    /// once); longer than the session's refresh age, the second visit refreshes the session.
    pub revisit_after: Duration,
}

/// What the browser saw (the driver's JSON), every step having gone as the driver expected.
pub struct Outcome(pub Value);

impl Outcome {
    /// What one step saw: `{url, title, text, app}`.
    pub fn step(&self, name: &str) -> &Value {
        let step = &self.0["steps"][name];
        assert!(step.is_object(), "the driver reported no step {name}: {}", self.0);
        step
    }

    /// The URL the browser was on at step `name`.
    pub fn url(&self, name: &str) -> &str {
        self.step(name)["url"].as_str().expect("url")
    }

    /// The echo app's JSON shown at step `name`; fails with the page text when the page was
    /// something else.
    pub fn app(&self, name: &str) -> &Value {
        let step = self.step(name);
        assert!(
            step["app"].is_object(),
            "step {name} did not show the app's JSON: {step}"
        );
        &step["app"]
    }

    /// The values of request header `name` as the app received it at step `name` (the echo app
    /// lists every value); `None` when the header did not reach it.
    pub fn app_header(&self, step: &str, name: &str) -> Option<Vec<String>> {
        let values = self.app(step)["headers"][name.to_ascii_lowercase()].as_array()?;
        Some(
            values
                .iter()
                .map(|v| v.as_str().expect("header text").to_owned())
                .collect(),
        )
    }

    /// The cookies the browser held after sign-in (`cookies`), after the second visit
    /// (`cookies_after_revisit`) or after sign-out (`cookies_after_sign_out`), without values
    /// (each with its `size` and a `digest` of the value).
    pub fn cookies(&self, when: &str) -> Vec<Value> {
        match self.0[when].as_array() {
            Some(cookies) => cookies.clone(),
            None => panic!("the browser driver reported no `{when}`: {}", self.0),
        }
    }
}

/// Fails saying how to install what the driver needs, when it is missing.
fn check_installed(folder: &Path) {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: run tests/run.sh (apt-get install -y chromium)"
    );
    assert!(
        folder.join("node_modules/playwright-core").is_dir() && folder.join("node_modules/oidc-provider").is_dir(),
        "the browser driver is not installed: run tests/run.sh (or `npm ci` in {})",
        folder.display()
    );
}

/// Runs the driver through `journey`. On any failure it panics with the driver's error, the
/// failing step, the page text and the path of a screenshot (kept on disk).
pub async fn sign_in_and_out(journey: &Journey) -> Outcome {
    let folder = crate::common::oidc::node_folder();
    check_installed(&folder);
    // One browser at a time: two Chromiums on two shared cores make every step slow enough to
    // brush the driver's per-step limit.
    let _one_browser = ONE_BROWSER.lock().await;
    let out_dir = tempfile::Builder::new()
        .prefix("portcullis-e2e-")
        .tempdir()
        .expect("tempdir");
    let stdout_path = out_dir.path().join("driver.out.json");
    let stderr_path = out_dir.path().join("driver.err");
    let mut child = Command::new(program("node"))
        .current_dir(&folder)
        .arg("login.mjs")
        .args(["--protected", &journey.protected])
        .args(["--sign-out", &journey.sign_out])
        .args(["--signed-out", &journey.signed_out])
        .args(["--issuer", &journey.issuer])
        .args(["--user", &journey.user])
        .args(["--chromium", CHROMIUM])
        .args(["--revisit-after-ms", &journey.revisit_after.as_millis().to_string()])
        .arg("--out-dir")
        .arg(out_dir.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).expect("driver stdout"))
        .stderr(std::fs::File::create(&stderr_path).expect("driver stderr"))
        .spawn()
        .expect("start node login.mjs");
    // Poll instead of blocking: the echo app runs on this test's runtime and must keep serving.
    let deadline = Instant::now() + DRIVER_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let kept = keep(out_dir);
    let Some(status) = status else {
        panic!(
            "the browser driver did not finish within {DRIVER_TIMEOUT:?} (output in {}):\n{stdout}\n{stderr}",
            kept.display()
        );
    };
    let result: Value = stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("the browser driver printed no JSON ({status}):\n{stdout}\n{stderr}"));
    if !status.success() || result["ok"] != true {
        panic!(
            "browser login failed: {}\n  step: {}\n  page: {}\n  screenshot: {} {}\n  documents loaded:\n{}\n  \
             driver stderr:\n{stderr}\n  steps done:\n{}",
            result["error"].as_str().unwrap_or("(no error given)"),
            result["failed_step"],
            serde_json::to_string_pretty(&result["page"]).unwrap_or_default(),
            result["screenshot"].as_str().unwrap_or("(none)"),
            result["screenshot_error"].as_str().unwrap_or(""),
            serde_json::to_string_pretty(&result["navigations"]).unwrap_or_default(),
            serde_json::to_string_pretty(&result["steps"]).unwrap_or_default(),
        );
    }
    let _ = std::fs::remove_dir_all(&kept);
    Outcome(result)
}

/// Keeps the driver's folder (screenshot, output) past the test, for a failure to point at.
fn keep(dir: tempfile::TempDir) -> PathBuf {
    dir.keep()
}
