//! `explain`'s credentials: the request headers `--header` and `--cookie-header` present, and
//! the lines saying which credential kinds were tried and what each found.

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::authn::{Authenticated, CredentialKind, Outcome};

/// Adds each `--header 'Name: value'` and one `Cookie` header of every `--cookie-header` to
/// `headers`; `Err` names the argument that cannot be a header.
pub(super) fn add_headers(headers: &mut HeaderMap, lines: &[String], cookie_headers: &[String]) -> Result<(), String> {
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("--header `{line}`: write it as 'Name: value'"))?;
        let name =
            HeaderName::try_from(name.trim()).map_err(|_| format!("--header `{}`: not a header name", name.trim()))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("--header {name}: the value holds characters a header cannot"))?;
        headers.append(name, value);
    }
    if !cookie_headers.is_empty() {
        let joined = cookie_headers.iter().map(|c| c.trim()).collect::<Vec<_>>().join("; ");
        let value = HeaderValue::from_str(&joined)
            .map_err(|_| "--cookie-header holds characters a header cannot".to_string())?;
        headers.append(header::COOKIE, value);
    }
    Ok(())
}

/// What `explain` prints about the credentials: the kinds in the order tried, then for each
/// tried one whether it was presented and, for the one that decided, what checking it found.
pub(super) fn describe_tried(
    kinds: &[CredentialKind],
    tried: &[(CredentialKind, bool)],
    checked: &Authenticated,
) -> Vec<String> {
    let names: Vec<&str> = kinds.iter().map(|kind| kind.name()).collect();
    let mut lines = vec![format!("credentials: tried in this order: {}", names.join(", "))];
    for (kind, present) in tried {
        let name = kind.name();
        if !present {
            lines.push(format!("  credential {name}: not presented"));
            continue;
        }
        lines.push(match &checked.outcome {
            Outcome::Valid(identity) => format!("  credential {name}: presented and accepted (user {})", identity.user),
            Outcome::Invalid { reason, .. } => format!("  credential {name}: presented and refused: {reason}"),
            Outcome::Unavailable { reason, .. } => {
                format!("  credential {name}: presented, cannot be checked: {reason}")
            }
            Outcome::Missing => format!("  credential {name}: presented"),
        });
        let rest = kinds.len().saturating_sub(tried.len());
        if rest > 0 {
            lines.push(format!(
                "  ({rest} later credential(s) not tried: the first one presented decides, even when refused)"
            ));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_cookie_headers_become_request_headers() {
        let mut headers = HeaderMap::new();
        let lines = ["X-Session-Token: abc".to_string(), "Authorization: Basic x".to_string()];
        add_headers(&mut headers, &lines, &["a=b; c=d".into(), "e=f".into()]).expect("headers");
        assert_eq!(headers["x-session-token"], "abc");
        assert_eq!(headers["authorization"], "Basic x");
        assert_eq!(headers["cookie"], "a=b; c=d; e=f");
        assert!(add_headers(&mut headers, &["no colon".into()], &[]).is_err());
        assert!(add_headers(&mut headers, &["bad name: x".into()], &[]).is_err());
    }
}
