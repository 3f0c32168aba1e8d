//! The command line: `serve`, `check`, `explain`, `token`, `secret`, `--version`.

mod credentials;
mod identity_token;
mod times;
mod token_report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use base64::Engine;
use clap::{Args, Parser, Subcommand};
use rand::RngCore;

use crate::answer::IdentityHeaders;
use crate::authn::jwks;
use crate::authn::jws::Signer;
use crate::authn::jwt::Verifier;
use crate::authn::{Authenticated, Authenticator, Outcome};
use crate::config::Config;
use crate::decision::{self, Decision};
use crate::metrics::Metrics;
use crate::origin::OriginalRequest;
use crate::rules::{Known, RuleSet};
use crate::server;

/// Portcullis: the forward-auth decision service.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Serve(ConfigArg),
    /// Load the config and every rule file; print what is wrong; exit 1 on any error.
    Check(ConfigArg),
    /// Show which rule matches a URL, why earlier ones do not, and the decision.
    Explain(ExplainArgs),
    /// Mint a signed JWT (RS256 or ES256, by key type) for demos and tests.
    Token(TokenArgs),
    /// Print a fresh random session secret (base64 of 32 bytes).
    Secret,
}

/// `--config FILE`.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Config file (else $PORTCULLIS_CONFIG, else ./portcullis.toml).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

/// Arguments of `explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The original URL, e.g. https://app.example.com/admin/users?page=2.
    #[arg(long)]
    url: String,
    /// The original method.
    #[arg(long, default_value = "GET")]
    method: String,
    /// A bearer token to check.
    #[arg(long, conflicts_with = "cookie")]
    token: Option<String>,
    /// A session cookie value to check.
    #[arg(long)]
    cookie: Option<String>,
    /// Print one JSON object instead of text (for scripts; fields in the README).
    #[arg(long)]
    json: bool,
    /// A request header, 'Name: value' (repeatable): presents any credential, such as a
    /// session check's header.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// A whole Cookie header, 'a=b; c=d' (repeatable): presents a session check's cookies.
    #[arg(long = "cookie-header", value_name = "COOKIES")]
    cookie_headers: Vec<String>,
}

/// Arguments of `token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Private key, PEM: PKCS#8, PKCS#1 or SEC1 (RSA gives RS256, EC P-256 gives ES256).
    #[arg(long, required_unless_present = "identity_token")]
    key: Option<PathBuf>,
    /// Mint the identity token Portcullis sends upstreams instead: the config's
    /// `[identity_token]` key, `iss` and `ttl`, `kid` the key's thumbprint; `--aud` is the
    /// rule's audience (other claims than sub, email, groups and aud are not used).
    #[arg(long, conflicts_with_all = ["key", "kid", "iss", "claims"])]
    identity_token: bool,
    /// Config file for `--identity-token` (else $PORTCULLIS_CONFIG, else ./portcullis.toml).
    #[arg(long, requires = "identity_token")]
    config: Option<PathBuf>,
    /// `sub` claim.
    #[arg(long)]
    sub: String,
    /// `groups` claim, comma separated.
    #[arg(long, value_delimiter = ',')]
    groups: Vec<String>,
    /// `email` claim.
    #[arg(long)]
    email: Option<String>,
    /// `aud` claim.
    #[arg(long)]
    aud: Option<String>,
    /// `iss` claim.
    #[arg(long, default_value = "portcullis-demo")]
    iss: String,
    /// Lifetime from now, e.g. 1h, 15m; negative (-1h) for a token that has already expired.
    #[arg(long, default_value = "1h", value_parser = times::signed_duration, allow_hyphen_values = true)]
    ttl: i64,
    /// `exp` as an absolute time, unix seconds or RFC 3339 UTC (2026-01-01T00:00:00Z); wins over --ttl.
    #[arg(long, value_parser = times::absolute_time)]
    exp: Option<i64>,
    /// `nbf` (not before), unix seconds or RFC 3339 UTC; none by default.
    #[arg(long, value_parser = times::absolute_time)]
    nbf: Option<i64>,
    /// Extra claim `name=value` (value read as JSON when it parses, else as a string); repeatable.
    #[arg(long = "claim")]
    claims: Vec<String>,
    /// Key id in the header (default: the key file's name without extension).
    #[arg(long)]
    kid: Option<String>,
}

/// Parses the arguments and runs the command; the process exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Check(args) => check(args),
        Command::Explain(args) => explain(args),
        Command::Token(args) => print_result(mint(&args)),
        Command::Secret => {
            println!("{}", new_secret());
            ExitCode::SUCCESS
        }
    }
}

fn print_result(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime starts")
}

fn load_config(args: &ConfigArg) -> Result<Config, String> {
    let file = Config::locate(args.config.clone());
    Config::load(&file).map_err(|e| e.to_string())
}

fn serve(args: ConfigArg) -> ExitCode {
    init_tracing();
    crate::authn::jwt::install_crypto_provider();
    let config = match load_config(&args) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime().block_on(server::serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs: human on a terminal, JSON with `PORTCULLIS_LOG_FORMAT=json`; level from `RUST_LOG`.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only where a person reads them: not in files, pipes or log collectors.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let json = std::env::var("PORTCULLIS_LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

fn check(args: ConfigArg) -> ExitCode {
    let config = match load_config(&args) {
        Ok(config) => config,
        Err(error) => {
            for line in error.lines() {
                eprintln!("error: {line}");
            }
            eprintln!("{} error(s)", error.lines().count());
            return ExitCode::FAILURE;
        }
    };
    match RuleSet::load(&config.rules.paths, &Known::of(&config)) {
        Ok(rules) => {
            if rules.is_empty() {
                println!("warning: {}", crate::rules::empty_set_warning(&config.rules.paths));
            }
            for warning in rules.warnings() {
                println!("warning: {warning}");
            }
            println!("ok: {} and {} rules", config.source.display(), rules.len());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for error in &errors {
                eprintln!("error: {error}");
            }
            eprintln!("{} error(s)", errors.len());
            ExitCode::FAILURE
        }
    }
}

fn explain(args: ExplainArgs) -> ExitCode {
    crate::authn::jwt::install_crypto_provider();
    let result = load_config(&args.config).and_then(|config| {
        let rules = RuleSet::load(&config.rules.paths, &Known::of(&config))
            .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))?;
        let request = request_from_url(&args.url, &args.method)?;
        runtime().block_on(explain_request(&config, &rules, &request, &args))
    });
    print_result(result)
}

/// Builds the original request `explain` reasons about from a URL and a method, exactly as the
/// server reads it from `X-Original-URL` and `X-Original-Method`.
fn request_from_url(text: &str, method: &str) -> Result<OriginalRequest, String> {
    if text.starts_with('/') {
        return Err(format!(
            "--url `{text}` is relative: give the absolute URL the proxy sends as X-Original-URL, such as https://app.example.com{text}"
        ));
    }
    let mut headers = axum::http::HeaderMap::new();
    let value = |v: &str, flag: &str| {
        axum::http::HeaderValue::from_str(v).map_err(|_| format!("{flag} `{v}` holds characters a header cannot"))
    };
    headers.insert("x-original-url", value(text, "--url")?);
    headers.insert("x-original-method", value(method, "--method")?);
    crate::origin::from_auth_headers(&headers, true).map_err(|e| format!("--url/--method: {e}"))
}

async fn explain_request(
    config: &Config,
    rules: &RuleSet,
    request: &OriginalRequest,
    args: &ExplainArgs,
) -> Result<String, String> {
    use serde_json::json;
    let mut out = vec![format!(
        "request: {} {} (path matched as {})",
        request.method,
        request.url(),
        request.path
    )];
    let mut report = serde_json::Map::new();
    report.insert(
        "request".into(),
        json!({ "method": request.method.as_str(), "url": request.url(), "path": request.path }),
    );
    let mut traces = Vec::new();
    for trace in rules.explain(request) {
        match &trace.mismatch {
            Some(why) => out.push(format!("  rule {}: no match: {why}", trace.id)),
            None => out.push(format!("  rule {}: MATCH", trace.id)),
        }
        traces.push(json!({ "id": trace.id, "matches": trace.mismatch.is_none(), "why": trace.mismatch }));
    }
    report.insert("rules".into(), json!(traces));
    let rule = rules.first_match(request);
    let default = format!("{:?}", config.rules.default).to_lowercase();
    if rule.is_none() {
        out.push(format!("  no rule matches: default policy {default}"));
    }
    report.insert("rule".into(), json!(rule.map(|r| r.id.as_str())));
    report.insert("default_policy".into(), json!(default));
    if let Some(token) = &args.token {
        let checks = token_report::check(config, token, times::unix(SystemTime::now())).await;
        out.push("token:".into());
        out.extend(checks.iter().map(token_report::Check::line));
        let json: Vec<serde_json::Value> = checks.iter().map(token_report::Check::json).collect();
        report.insert("token".into(), json!(json));
    }
    let (checked, tried) = explain_credential(config, args, request, rule).await?;
    out.extend(tried);
    let (outcome, reason) = match &checked.outcome {
        Outcome::Valid(_) => ("valid", None),
        Outcome::Invalid { reason, .. } => ("invalid", Some(reason.clone())),
        Outcome::Missing => ("missing", Some("no credential given".to_string())),
        Outcome::Unavailable { reason, .. } => ("unavailable", Some(reason.clone())),
    };
    report.insert("credential".into(), json!({ "outcome": outcome, "reason": reason }));
    report.insert(
        "identity".into(),
        json!(checked.outcome.identity().map(|identity| json!({
            "user": identity.user,
            "email": identity.email,
            "groups": identity.groups,
            "preferred_username": identity.preferred_username,
            "issuer": &*identity.issuer,
        }))),
    );
    out.push(match &checked.outcome {
        Outcome::Valid(identity) => format!(
            "identity: user={} email={} groups=[{}] issuer={}\n  claims: {}",
            identity.user,
            identity.email.as_deref().unwrap_or(""),
            identity.groups.join(", "),
            identity.issuer,
            serde_json::Value::Object(identity.claims.parse())
        ),
        Outcome::Invalid { reason, .. } => format!("identity: none ({reason})"),
        Outcome::Missing => "identity: none (no credential given)".into(),
        Outcome::Unavailable { reason, .. } => format!("identity: cannot be checked ({reason})"),
    });
    if let Some(expression) = rule.and_then(|rule| rule.require.expression.as_ref()) {
        out.push(expression.explain(checked.outcome.identity().map(|i| &**i), request));
    }
    let decision = decision::decide(rule, config.rules.default, checked, config.login.is_some(), request);
    if let (
        Some(rule),
        Decision::Allow {
            identity: Some(identity),
            ..
        },
    ) = (rule, &decision)
    {
        out.extend(crate::authz::remote::explain(
            &config.authorizers,
            rule,
            identity,
            request,
        ));
    }
    out.push(describe_decision(&decision));
    report.insert("decision".into(), decision_json(&decision));
    let mut sent = serde_json::Map::new();
    if let Decision::Allow { identity, upstream, .. } = &decision {
        let names = IdentityHeaders::new(&config.headers);
        let rule_headers = rule.map(|rule| rule.rendered_headers(identity.as_deref()));
        for (name, value) in names
            .values(identity.as_deref(), upstream.access_token.as_deref())
            .iter()
            .chain(rule_headers.iter().flatten())
        {
            out.push(format!("  {name}: {value}"));
            sent.insert(name.to_string(), json!(value));
        }
        out.extend(identity_token::explain(config, rule, identity.as_deref()));
    }
    report.insert("headers".into(), serde_json::Value::Object(sent));
    if args.json {
        return serde_json::to_string_pretty(&report).map_err(|e| e.to_string());
    }
    Ok(out.join("\n"))
}

/// The decision of `explain --json`: `outcome` (the metric's label), `status`, `rule`, `reason`.
fn decision_json(decision: &Decision<'_>) -> serde_json::Value {
    let (status, reason) = match decision {
        Decision::Allow { .. } => (200, None),
        Decision::Forbidden { reason, .. } => (403, Some(reason)),
        Decision::Unauthenticated { reason, .. } => (401, Some(reason)),
        Decision::Unavailable { reason, .. } => (503, Some(reason)),
    };
    let redirect = matches!(decision, Decision::Unauthenticated { redirect: true, .. });
    serde_json::json!({
        "outcome": decision.label(),
        "status": status,
        "rule": decision.rule(),
        "reason": reason,
        "browsers_redirected_to_login": redirect,
    })
}

/// The credential of `--token`, `--cookie`, `--header` or `--cookie-header`, checked as the
/// server checks it (the same [`Authenticator`] and the rule's `credentials:`, refresh of a due
/// session and session checks included), with the lines saying which kinds were tried.
async fn explain_credential(
    config: &Config,
    args: &ExplainArgs,
    request: &OriginalRequest,
    rule: Option<&crate::rules::Rule>,
) -> Result<(Authenticated, Vec<String>), String> {
    let verifier = std::sync::Arc::new(Verifier::new(&config.issuers, jwks::http_client(), Metrics::new()));
    let login = crate::login::Login::new(config, verifier.clone(), jwks::http_client(), Metrics::new())
        .map_err(|e| e.to_string())?
        .map(std::sync::Arc::new);
    let mut headers = axum::http::HeaderMap::new();
    let value = |text: String, flag: &str| {
        axum::http::HeaderValue::from_str(&text).map_err(|_| format!("{flag} holds characters a header cannot"))
    };
    if let Some(cookie) = &args.cookie {
        if login.is_none() {
            return Err("--cookie needs the config's [login] and [session]: sessions come from the login".into());
        }
        let name = &config.session.cookie_name;
        let header = if cookie.starts_with(&format!("{name}=")) || cookie.starts_with(&format!("{name}_")) {
            cookie.to_string()
        } else {
            format!("{name}={cookie}")
        };
        headers.insert(axum::http::header::COOKIE, value(header, "--cookie")?);
    } else if let Some(token) = &args.token {
        headers.insert(
            axum::http::header::AUTHORIZATION,
            value(format!("Bearer {token}"), "--token")?,
        );
    }
    credentials::add_headers(&mut headers, &args.headers, &args.cookie_headers)?;
    if crate::authn::bearer::presented(&headers).is_some() {
        verifier.load_keys().await;
    }
    let checks = crate::authn::SessionChecks::new(
        &config.session_checks,
        jwks::http_client(),
        Metrics::new(),
        config.server.token_cache_memory,
    );
    let authn = Authenticator::new(verifier, login, config.headers.pass_access_token).with_session_checks(checks);
    let kinds = rule
        .and_then(|rule| rule.credentials.as_deref())
        .unwrap_or(authn.kinds());
    let (checked, tried) = authn.authenticate_explained(&headers, request, kinds).await;
    let lines = credentials::describe_tried(kinds, &tried, &checked);
    Ok((checked, lines))
}

fn describe_decision(decision: &Decision<'_>) -> String {
    match decision {
        Decision::Allow { rule, .. } => format!("decision: allow (200) by rule {rule}, headers:"),
        Decision::Forbidden { rule, reason } => format!("decision: forbidden (403) by rule {rule}: {reason}"),
        Decision::Unauthenticated {
            rule,
            redirect: true,
            reason,
            ..
        } => format!(
            "decision: unauthenticated by rule {rule}: {reason}\n  browsers: 302/303 to login on /forward-auth and /ext-authz, 401 with Location on /auth; API clients: 401"
        ),
        Decision::Unauthenticated { rule, reason, .. } => {
            format!("decision: unauthenticated (401) by rule {rule}: {reason}")
        }
        Decision::Unavailable { rule, reason } => format!("decision: unavailable (503) by rule {rule}: {reason}"),
    }
}

/// A fresh random session secret: base64 of 32 bytes.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Mints a JWT of `args` with the one [`Signer`] (RS256 or ES256 by key type); the `kid` is
/// `--kid`, else the key file's name without extension (as the quickstart JWKS names it).
fn mint(args: &TokenArgs) -> Result<String, String> {
    if args.identity_token {
        return identity_token::mint(args);
    }
    let key = args.key.as_ref().ok_or("--key is required")?;
    let pem = std::fs::read(key).map_err(|e| format!("--key {}: {e}", key.display()))?;
    let signer = Signer::from_pem(&pem).map_err(|e| format!("--key {}: {e}", key.display()))?;
    let kid = args.kid.clone().unwrap_or_else(|| {
        key.file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    signer.with_kid(kid).sign(&token_claims(args)?)
}

fn token_claims(args: &TokenArgs) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    use serde_json::{Value, json};
    let now = times::unix(SystemTime::now());
    let mut claims = serde_json::Map::new();
    claims.insert("iss".into(), json!(args.iss));
    claims.insert("sub".into(), json!(args.sub));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(args.exp.unwrap_or(now.saturating_add(args.ttl))));
    if let Some(nbf) = args.nbf {
        claims.insert("nbf".into(), json!(nbf));
    }
    if let Some(aud) = &args.aud {
        claims.insert("aud".into(), json!(aud));
    }
    if let Some(email) = &args.email {
        claims.insert("email".into(), json!(email));
    }
    if !args.groups.is_empty() {
        claims.insert("groups".into(), json!(args.groups));
    }
    for claim in &args.claims {
        let (name, value) = claim
            .split_once('=')
            .ok_or_else(|| format!("--claim `{claim}`: write name=value"))?;
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_string()));
        claims.insert(name.to_string(), value);
    }
    Ok(claims)
}
