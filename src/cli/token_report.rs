//! `explain --token`: the token's own values against what the configuration expects, claim by
//! claim (`iss`, `alg`, `kid`, `aud`, `exp`, `nbf`), read without trusting the token, so that a
//! refusal can be explained and a pass that only the leeway allowed is said out loud.

use base64::Engine;
use serde_json::{Value, json};

use crate::authn::jwks::KeyStore;
use crate::config::{Config, IssuerConfig};
use crate::metrics::Metrics;

/// One comparison: the token's value, the expected one, and whether it passes.
pub(super) struct Check {
    /// `iss`, `alg`, `kid`, `aud`, `exp`, `nbf` or `format`.
    pub name: &'static str,
    /// What the token says (`null` when absent).
    pub actual: Value,
    /// What the configuration accepts.
    pub expected: Value,
    /// Whether this check passes.
    pub ok: bool,
    /// Words for a person: why it fails, or that only the leeway let it pass.
    pub note: Option<String>,
}

impl Check {
    /// The line `explain` prints.
    pub fn line(&self) -> String {
        let verdict = if self.ok { "ok" } else { "FAILS" };
        let note = self.note.as_ref().map(|n| format!(" ({n})")).unwrap_or_default();
        let expected = match (&self.expected, self.name) {
            (Value::Object(_), "exp") => "later than now less the leeway".to_string(),
            (Value::Object(_), "nbf") => "not later than now plus the leeway".to_string(),
            (expected, _) => compact(expected),
        };
        format!(
            "  {}: {verdict}: token {}, expected {expected}{note}",
            self.name,
            compact(&self.actual)
        )
    }

    /// The JSON form of `explain --json`.
    pub fn json(&self) -> Value {
        json!({
            "claim": self.name,
            "actual": self.actual,
            "expected": self.expected,
            "ok": self.ok,
            "note": self.note,
        })
    }
}

fn compact(value: &Value) -> String {
    match value {
        Value::Null => "none".into(),
        Value::String(text) => format!("`{text}`"),
        other => other.to_string(),
    }
}

/// Every check of `token` against `config` at unix time `now`. The issuer's keys are loaded
/// once, for the `kid` check.
pub(super) async fn check(config: &Config, token: &str, now: i64) -> Vec<Check> {
    let (header, payload) = match decode(token) {
        Ok(parts) => parts,
        Err(reason) => {
            return vec![Check {
                name: "format",
                actual: Value::Null,
                expected: json!("a JWT: three base64url parts, a JSON header and payload"),
                ok: false,
                note: Some(reason),
            }];
        }
    };
    let iss = payload.get("iss").cloned().unwrap_or(Value::Null);
    let issuer = config.issuers.iter().find(|i| iss.as_str() == Some(i.issuer.as_str()));
    let urls: Vec<&str> = config.issuers.iter().map(|i| i.issuer.as_str()).collect();
    let mut checks = vec![Check {
        name: "iss",
        ok: issuer.is_some(),
        note: issuer.map(|i| format!("issuer `{}`", i.name)),
        actual: iss,
        expected: json!(urls),
    }];
    let Some(issuer) = issuer else { return checks };
    checks.push(alg(issuer, &header));
    checks.push(kid(issuer, &header).await);
    checks.push(aud(issuer, &payload));
    checks.push(exp(issuer, &payload, now));
    if payload.get("nbf").is_some() {
        checks.push(nbf(issuer, &payload, now));
    }
    checks
}

fn decode(token: &str) -> Result<(Value, Value), String> {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(format!("{} parts, not 3", parts.len()));
    }
    let part = |text: &str, what: &str| -> Result<Value, String> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|e| format!("the {what} is not base64url: {e}"))?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| format!("the {what} is not JSON: {e}"))?;
        match value {
            Value::Object(_) => Ok(value),
            _ => Err(format!("the {what} is not a JSON object")),
        }
    };
    Ok((part(parts[0], "header")?, part(parts[1], "payload")?))
}

fn alg(issuer: &IssuerConfig, header: &Value) -> Check {
    let actual = header.get("alg").cloned().unwrap_or(Value::Null);
    let allowed: Vec<String> = issuer.algorithms.iter().map(|a| format!("{a:?}")).collect();
    Check {
        name: "alg",
        ok: actual.as_str().is_some_and(|a| allowed.iter().any(|x| x == a)),
        note: Some(format!("the algorithms of issuer `{}`", issuer.name)),
        actual,
        expected: json!(allowed),
    }
}

async fn kid(issuer: &IssuerConfig, header: &Value) -> Check {
    let actual = header.get("kid").cloned().unwrap_or(Value::Null);
    let store = KeyStore::new(issuer, crate::authn::jwks::http_client(), Metrics::new());
    let (kids, note) = match store.load().await {
        Ok(_) => {
            let set = store.keys();
            let mut kids: Vec<String> = set.iter().flat_map(|s| s.kids()).map(str::to_owned).collect();
            kids.sort();
            (kids, None)
        }
        Err(reason) => (
            Vec::new(),
            Some(format!("the issuer's keys cannot be loaded: {reason}")),
        ),
    };
    Check {
        name: "kid",
        ok: actual.as_str().is_some_and(|k| kids.iter().any(|x| x == k)),
        note,
        actual,
        expected: json!(kids),
    }
}

fn aud(issuer: &IssuerConfig, payload: &Value) -> Check {
    let actual = payload.get("aud").cloned().unwrap_or(Value::Null);
    let given: Vec<&str> = match &actual {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let (ok, note) = if issuer.audiences.is_empty() {
        (true, Some("not checked: the issuer lists no audiences".to_string()))
    } else {
        let ok = given.iter().any(|a| issuer.audiences.iter().any(|x| x == a));
        (
            ok,
            (!ok).then(|| "the token's aud must contain one of the expected".to_string()),
        )
    };
    Check {
        name: "aud",
        ok,
        note,
        actual,
        expected: json!(issuer.audiences),
    }
}

/// `exp` passes while `now <= exp + leeway`, as the verifier checks it.
fn exp(issuer: &IssuerConfig, payload: &Value, now: i64) -> Check {
    let leeway = issuer.leeway.as_secs() as i64;
    let actual = payload.get("exp").cloned().unwrap_or(Value::Null);
    let expected = json!({ "after": now, "leeway_seconds": leeway });
    let Some(exp) = actual.as_i64() else {
        return Check {
            name: "exp",
            ok: false,
            note: Some("required, a number of seconds since 1970".into()),
            actual,
            expected,
        };
    };
    let late = now - exp;
    let (ok, note) = match late {
        late if late <= 0 => (true, format!("expires in {}s", -late)),
        late if late <= leeway => (
            true,
            format!("expired {late}s ago: passes only by the leeway of {leeway}s"),
        ),
        late => (false, format!("expired {late}s ago, beyond the leeway of {leeway}s")),
    };
    Check {
        name: "exp",
        ok,
        note: Some(note),
        actual,
        expected,
    }
}

/// `nbf` passes once `now >= nbf - leeway`.
fn nbf(issuer: &IssuerConfig, payload: &Value, now: i64) -> Check {
    let leeway = issuer.leeway.as_secs() as i64;
    let actual = payload.get("nbf").cloned().unwrap_or(Value::Null);
    let expected = json!({ "before": now, "leeway_seconds": leeway });
    let Some(nbf) = actual.as_i64() else {
        return Check {
            name: "nbf",
            ok: false,
            note: Some("must be a number of seconds since 1970".into()),
            actual,
            expected,
        };
    };
    let early = nbf - now;
    let (ok, note) = match early {
        early if early <= 0 => (true, format!("valid since {}s", -early)),
        early if early <= leeway => (
            true,
            format!("valid only in {early}s: passes only by the leeway of {leeway}s"),
        ),
        early => (false, format!("valid only in {early}s, beyond the leeway of {leeway}s")),
    };
    Check {
        name: "nbf",
        ok,
        note: Some(note),
        actual,
        expected,
    }
}
