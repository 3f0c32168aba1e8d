//! The times `portcullis token` takes: signed durations for `--ttl` (`-1h` mints a token that
//! expired an hour ago) and absolute times for `--exp`/`--nbf` (unix seconds or RFC 3339 UTC).

use std::time::{SystemTime, UNIX_EPOCH};

/// Parses `1h`, `15m`, `-1h`, `-90s` into signed seconds.
pub fn signed_duration(text: &str) -> Result<i64, String> {
    let (sign, unsigned) = match text.trim().strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.trim().strip_prefix('+').unwrap_or(text.trim())),
    };
    let duration = humantime::parse_duration(unsigned)
        .map_err(|e| format!("`{text}` is not a duration like 1h, 15m or -1h: {e}"))?;
    let seconds = i64::try_from(duration.as_secs()).map_err(|_| format!("`{text}` is too long"))?;
    Ok(sign * seconds)
}

/// Parses unix seconds (`1767225600`) or an RFC 3339 time in UTC (`2026-01-01T00:00:00Z`).
pub fn absolute_time(text: &str) -> Result<i64, String> {
    if let Ok(seconds) = text.trim().parse::<i64>() {
        return Ok(seconds);
    }
    let time = humantime::parse_rfc3339_weak(text.trim()).map_err(|e| {
        format!("`{text}` is neither unix seconds nor an RFC 3339 UTC time like 2026-01-01T00:00:00Z: {e}")
    })?;
    Ok(unix(time))
}

/// Seconds since 1970 of `time` (negative before).
pub fn unix(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs() as i64,
        Err(before) => -(before.duration().as_secs() as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_may_be_negative() {
        assert_eq!(signed_duration("1h"), Ok(3600));
        assert_eq!(signed_duration("-1h"), Ok(-3600));
        assert_eq!(signed_duration("-1m 30s"), Ok(-90));
        assert!(signed_duration("soon").is_err());
    }

    #[test]
    fn absolute_times_are_unix_seconds_or_rfc3339() {
        assert_eq!(absolute_time("1767225600"), Ok(1_767_225_600));
        assert_eq!(absolute_time("2026-01-01T00:00:00Z"), Ok(1_767_225_600));
        assert!(absolute_time("tomorrow").unwrap_err().contains("RFC 3339"));
    }
}
