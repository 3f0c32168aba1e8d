//! The systems Portcullis is built to serve, end to end, one named test each: the flow as the
//! system runs it, through a real proxy, with Portcullis in the place of the system's own
//! authentication component (running the files of `examples/<system>/` where there are some).

mod flyte;
mod kyma;
mod mia_platform;
mod oauth2_proxy_keycloak;
mod zero;

use crate::common::{Portcullis, Setup, free_port, root};
use crate::peers::{PeerProcess, example_with, run_nginx};

/// Portcullis on `config` with the rules of `examples/<system>/rules/<rules_file>`, ready.
async fn portcullis_on_example(system: &str, config: &str, rules_file: &str) -> Portcullis {
    let path = root().join(format!("examples/{system}/rules/{rules_file}"));
    let rules = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let portcullis = Portcullis::start(Setup::new(config, &rules)).await;
    portcullis.wait_for("/readyz", 200).await;
    portcullis
}

/// Real nginx on `examples/<system>/nginx.conf` in front of `portcullis` and the app on
/// `app_port`; returns it and the port it listens on.
async fn example_nginx(system: &str, portcullis: &Portcullis, app_port: u16) -> (PeerProcess, u16) {
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix = format!("{}/", dir.path().display());
    let conf = example_with(
        &format!("{system}/nginx.conf"),
        &[
            ("127.0.0.1:4180", format!("127.0.0.1:{}", portcullis.port)),
            ("127.0.0.1:8080", format!("127.0.0.1:{app_port}")),
            ("127.0.0.1:8000", format!("127.0.0.1:{port}")),
            ("/var/log/nginx/", prefix.clone()),
        ],
    );
    (run_nginx(dir, &conf, &prefix, &[port]).await, port)
}
