//! `[session]`'s Redis settings: which of the three forms (`redis_url`, `redis_cluster_urls`,
//! `redis_sentinel_urls` with its master) is given, each URL inline or from its `*_file`, and
//! checked as the Redis client reads it (never printed: URLs may hold passwords).

use std::path::Path;

use super::{SessionSection, SessionStore, StoreKind};
use crate::config::problems::Problems;
use crate::config::values::{Secret, inline_or_file, inline_or_file_as};

impl SessionSection {
    /// The store with its URL(s), `redis_url` read from `redis_url_file` when that is how it is
    /// given. With `store = "redis"` exactly one of `redis_url`, `redis_cluster_urls` and
    /// `redis_sentinel_urls` (with `redis_sentinel_master`), each URL one the Redis client reads.
    pub(super) fn store(&self, problems: &mut Problems) -> SessionStore {
        let file = self.redis_url_file.as_deref();
        let url = inline_or_file(problems, ("session", "redis_url"), self.redis_url.as_ref(), file);
        if self.store == StoreKind::Cookie {
            return SessionStore::Cookie;
        }
        let cluster_urls = urls_inline_or_file(
            problems,
            "redis_cluster_urls",
            &self.redis_cluster_urls,
            self.redis_cluster_urls_file.as_deref(),
        );
        let sentinel_urls = urls_inline_or_file(
            problems,
            "redis_sentinel_urls",
            &self.redis_sentinel_urls,
            self.redis_sentinel_urls_file.as_deref(),
        );
        let single_given = self.redis_url.is_some() || file.is_some();
        let given: Vec<&str> = [
            (single_given, "redis_url"),
            (!cluster_urls.is_empty(), "redis_cluster_urls"),
            (!sentinel_urls.is_empty(), "redis_sentinel_urls"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect();
        let master = self.redis_sentinel_master.as_deref().map(str::trim);
        if master.is_some() && sentinel_urls.is_empty() {
            let reason = "is set but redis_sentinel_urls is not: give the sentinels too";
            problems.add("session.redis_sentinel_master", reason);
        }
        match given.as_slice() {
            [] => {
                let reason = "required when store = \"redis\": set redis_url (one server), \
                              redis_cluster_urls (Redis Cluster) or redis_sentinel_urls with \
                              redis_sentinel_master (Redis Sentinel)";
                problems.add("session.redis_url", reason);
                SessionStore::Cookie
            }
            ["redis_url"] => match url {
                Some(url) if check_redis_urls(problems, "redis_url", std::slice::from_ref(&url)) => {
                    SessionStore::Redis { url }
                }
                _ => SessionStore::Cookie,
            },
            ["redis_cluster_urls"] => {
                let urls = cluster_urls;
                if !check_redis_urls(problems, "redis_cluster_urls", &urls) {
                    return SessionStore::Cookie;
                }
                let texts = urls.iter().map(|url| url.0.as_str());
                if let Err(e) = redis::cluster::ClusterClient::new(texts) {
                    problems.add("session.redis_cluster_urls", redis_reason(&e));
                    return SessionStore::Cookie;
                }
                SessionStore::RedisCluster { urls }
            }
            ["redis_sentinel_urls"] => {
                let urls = sentinel_urls;
                let urls_valid = check_redis_urls(problems, "redis_sentinel_urls", &urls);
                match master {
                    Some(master) if !master.is_empty() && urls_valid => SessionStore::RedisSentinel {
                        urls,
                        master: master.to_string(),
                    },
                    Some(master) if !master.is_empty() => SessionStore::Cookie,
                    _ => {
                        let reason = "required with redis_sentinel_urls: the master name the \
                                      sentinels monitor (`mymaster` in sentinel.conf)";
                        problems.add("session.redis_sentinel_master", reason);
                        SessionStore::Cookie
                    }
                }
            }
            several => {
                let reason = format!(
                    "set only one of redis_url, redis_cluster_urls and redis_sentinel_urls (found {})",
                    several.join(", ")
                );
                problems.add(&format!("session.{}", several[1]), reason);
                SessionStore::Cookie
            }
        }
    }
}

/// Whether every one of `urls` (the value of `session.<key>`) is a URL the Redis client reads;
/// records each one that is not, by its index, without printing it (it may hold a password).
fn check_redis_urls(problems: &mut Problems, key: &str, urls: &[Secret]) -> bool {
    let mut valid = true;
    for (index, url) in urls.iter().enumerate() {
        if let Err(e) = redis::IntoConnectionInfo::into_connection_info(url.0.as_str()) {
            let name = match urls.len() {
                1 if key == "redis_url" => format!("session.{key}"),
                _ => format!("session.{key}[{index}]"),
            };
            problems.add(
                &name,
                format!("is not a Redis URL like redis://host:6379/0 ({})", redis_reason(&e)),
            );
            valid = false;
        }
    }
    valid
}

/// What the Redis client says is wrong with a URL; it never repeats the URL (which may hold a
/// password).
fn redis_reason(error: &redis::RedisError) -> String {
    error.to_string()
}

/// The URLs of `session.<key>`, or of `session.<key>_file` (one per line, blank lines skipped);
/// both set is a problem.
fn urls_inline_or_file(problems: &mut Problems, key: &str, inline: &[Secret], file: Option<&Path>) -> Vec<Secret> {
    let inline = (!inline.is_empty()).then(|| inline.to_vec());
    let from_file = |text: Secret| {
        text.0
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(|line| Secret(line.to_string()))
            .collect()
    };
    inline_or_file_as(problems, ("session", key), inline, file, from_file).unwrap_or_default()
}
