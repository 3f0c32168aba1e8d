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
    EXP.check(payload, now, issuer.leeway.as_secs() as i64)
}

/// `nbf` passes once `now >= nbf - leeway`.
fn nbf(issuer: &IssuerConfig, payload: &Value, now: i64) -> Check {
    NBF.check(payload, now, issuer.leeway.as_secs() as i64)
}

/// A time claim: a number of seconds since 1970 that `now` may be past, on the wrong side, by
/// at most the leeway.
struct TimeClaim {
    name: &'static str,
    /// The key of `now` in the check's `expected`.
    now_is: &'static str,
    /// The note when the claim is absent or not a number.
    not_a_number: &'static str,
    /// How many seconds `now` is on the wrong side of the claim (0 or less: none).
    wrong_by: fn(claim: i64, now: i64) -> i64,
    /// The note when on time, from how many seconds it is on the right side.
    on_time: fn(i64) -> String,
    /// How the note says that it is on the wrong side by so many seconds.
    off_time: fn(i64) -> String,
}

const EXP: TimeClaim = TimeClaim {
    name: "exp",
    now_is: "after",
    not_a_number: "required, a number of seconds since 1970",
    wrong_by: |exp, now| now - exp,
    on_time: |left| format!("expires in {left}s"),
    off_time: |late| format!("expired {late}s ago"),
};

const NBF: TimeClaim = TimeClaim {
    name: "nbf",
    now_is: "before",
    not_a_number: "must be a number of seconds since 1970",
    wrong_by: |nbf, now| nbf - now,
    on_time: |since| format!("valid since {since}s"),
    off_time: |early| format!("valid only in {early}s"),
};

impl TimeClaim {
    fn check(&self, payload: &Value, now: i64, leeway: i64) -> Check {
        let actual = payload.get(self.name).cloned().unwrap_or(Value::Null);
        let expected = json!({ (self.now_is): now, "leeway_seconds": leeway });
        let Some(claim) = actual.as_i64() else {
            return Check {
                name: self.name,
                ok: false,
                note: Some(self.not_a_number.into()),
                actual,
                expected,
            };
        };
        let (ok, note) = match (self.wrong_by)(claim, now) {
            off if off <= 0 => (true, (self.on_time)(-off)),
            off if off <= leeway => (
                true,
                format!("{}: passes only by the leeway of {leeway}s", (self.off_time)(off)),
            ),
            off => (
                false,
                format!("{}, beyond the leeway of {leeway}s", (self.off_time)(off)),
            ),
        };
        Check {
            name: self.name,
            ok,
            note: Some(note),
            actual,
            expected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks each of `cases` (a payload, whether it passes, the note) against `claim` at
    /// `now` = 1000 with a 30 s leeway, `expected` naming now as `now_is`.
    fn assert_cases(claim: &TimeClaim, now_is: &str, cases: &[(Value, bool, &str)]) {
        let expected = json!({ now_is: 1000, "leeway_seconds": 30 });
        for (payload, ok, note) in cases {
            let check = claim.check(payload, 1000, 30);
            assert_eq!(check.name, claim.name);
            let got = (check.ok, check.note.expect("a note"), check.expected);
            assert_eq!(got, (*ok, note.to_string(), expected.clone()), "{payload}");
        }
    }

    #[test]
    fn exp_passes_until_it_is_more_than_the_leeway_past() {
        let leeway = "passes only by the leeway of 30s";
        assert_cases(
            &EXP,
            "after",
            &[
                (json!({ "exp": 1010 }), true, "expires in 10s"),
                (json!({ "exp": 1000 }), true, "expires in 0s"),
                (json!({ "exp": 980 }), true, &format!("expired 20s ago: {leeway}")),
                (json!({ "exp": 970 }), true, &format!("expired 30s ago: {leeway}")),
                (
                    json!({ "exp": 960 }),
                    false,
                    "expired 40s ago, beyond the leeway of 30s",
                ),
                (
                    json!({ "exp": "soon" }),
                    false,
                    "required, a number of seconds since 1970",
                ),
                (json!({}), false, "required, a number of seconds since 1970"),
            ],
        );
    }

    #[test]
    fn nbf_passes_from_the_leeway_before_it() {
        let leeway = "passes only by the leeway of 30s";
        assert_cases(
            &NBF,
            "before",
            &[
                (json!({ "nbf": 990 }), true, "valid since 10s"),
                (json!({ "nbf": 1000 }), true, "valid since 0s"),
                (json!({ "nbf": 1020 }), true, &format!("valid only in 20s: {leeway}")),
                (json!({ "nbf": 1030 }), true, &format!("valid only in 30s: {leeway}")),
                (
                    json!({ "nbf": 1040 }),
                    false,
                    "valid only in 40s, beyond the leeway of 30s",
                ),
                (json!({ "nbf": null }), false, "must be a number of seconds since 1970"),
            ],
        );
    }
}
