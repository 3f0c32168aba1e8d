//! The rule index that keeps `first_match` independent of the number of rules: rules are
//! bucketed by host (exact, `*.<suffix>`, other wildcards by their literal suffix, any host) and
//! within each host bucket by the first literal path segment. A request gathers a few candidate
//! lists, each sorted by global rule order, and merges them in ascending order until a rule
//! matches.

use rustc_hash::FxHashMap as HashMap;
use std::borrow::Cow;

use super::compile::CompiledRule;
use super::matcher::{Case, HostPattern, PathMatcher, PathPattern, has_glob_meta, parent_domain};

/// How many candidate lists a request gathers at most before falling back to a linear scan
/// (only hosts with many labels under several other-wildcard suffixes come near it).
const MAX_LISTS: usize = 16;

/// Rules of one host bucket, by the first path segment.
#[derive(Debug, Default)]
struct PathBuckets {
    /// Case-exact rules all of whose paths start with a literal first segment, by that segment.
    by_segment: HashMap<Box<str>, Vec<u32>>,
    /// The same for case-folding rules, by the lower-cased segment.
    by_folded_segment: HashMap<Box<str>, Vec<u32>>,
    /// Rules with any path, a path_regex, or a path whose first segment is a glob.
    any: Vec<u32>,
}

impl PathBuckets {
    fn insert(&mut self, index: u32, paths: &PathMatcher) {
        let PathMatcher::Globs(patterns, _, case) = paths else {
            return push_once(&mut self.any, index);
        };
        for pattern in patterns {
            match (first_segment_of(pattern), case) {
                (Some(segment), Case::Exact) => push_once(self.by_segment.entry(segment.into()).or_default(), index),
                (Some(segment), Case::Folded) => push_once(
                    self.by_folded_segment
                        .entry(segment.to_ascii_lowercase().into())
                        .or_default(),
                    index,
                ),
                (None, _) => push_once(&mut self.any, index),
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.by_segment.is_empty() && self.by_folded_segment.is_empty() && self.any.is_empty()
    }

    fn gather<'a>(&'a self, segment: &Segment<'_>, lists: &mut Lists<'a>) {
        if let Some(list) = self.by_segment.get(segment.exact) {
            lists.push(list);
        }
        if let Some(list) = self.by_folded_segment.get(&*segment.folded) {
            lists.push(list);
        }
        lists.push(&self.any);
    }
}

/// A request's first path segment as written and lower-cased (borrowed when already lower).
struct Segment<'p> {
    exact: &'p str,
    folded: Cow<'p, str>,
}

impl<'p> Segment<'p> {
    fn of(path: &'p str) -> Segment<'p> {
        let exact = first_segment(path);
        let folded = if exact.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(exact.to_ascii_lowercase())
        } else {
            Cow::Borrowed(exact)
        };
        Segment { exact, folded }
    }
}

/// The literal first segment a pattern requires, or `None` when it can be anything.
fn first_segment_of(pattern: &PathPattern) -> Option<&str> {
    let text: &str = match pattern {
        PathPattern::Exact(text) | PathPattern::Subtree(text) => text,
        PathPattern::Glob(_, segment) => return segment.as_deref(),
    };
    let segment = first_segment(text);
    // `/**` has the empty base: it matches every first segment.
    let is_everything = matches!(pattern, PathPattern::Subtree(base) if base.is_empty());
    (!is_everything && !has_glob_meta(segment)).then_some(segment)
}

/// `/a/b` -> `a`; `/` -> ``.
pub(super) fn first_segment(path: &str) -> &str {
    let rest = path.strip_prefix('/').unwrap_or(path);
    // By byte: on every request, and a short search for a char costs more than the loop.
    let end = rest.bytes().position(|b| b == b'/').unwrap_or(rest.len());
    &rest[..end]
}

fn push_once(list: &mut Vec<u32>, index: u32) {
    if list.last() != Some(&index) {
        list.push(index);
    }
}

/// The candidate lists of one request.
struct Lists<'a> {
    lists: [&'a [u32]; MAX_LISTS],
    len: usize,
    overflow: bool,
}

impl<'a> Lists<'a> {
    fn push(&mut self, list: &'a [u32]) {
        if list.is_empty() {
            return;
        }
        if self.len == MAX_LISTS {
            self.overflow = true;
            return;
        }
        self.lists[self.len] = list;
        self.len += 1;
    }
}

/// The index over all rules of a set.
#[derive(Debug, Default)]
pub(super) struct RuleIndex {
    exact: HashMap<Box<str>, PathBuckets>,
    wildcard: HashMap<Box<str>, PathBuckets>,
    other_hosts: HashMap<Box<str>, PathBuckets>,
    any_host: PathBuckets,
}

impl RuleIndex {
    /// Builds the index; rule indexes are inserted in ascending order so every list is sorted.
    pub(super) fn build(rules: &[CompiledRule]) -> RuleIndex {
        let mut index = RuleIndex::default();
        for (n, rule) in rules.iter().enumerate() {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            let Some(patterns) = &rule.hosts.patterns else {
                index.any_host.insert(n, &rule.paths);
                continue;
            };
            for pattern in patterns {
                let buckets = match pattern {
                    HostPattern::Exact(host) => index.exact.entry(host.clone()).or_default(),
                    HostPattern::AnyLabelUnder(suffix) => index.wildcard.entry(suffix.clone()).or_default(),
                    HostPattern::Pattern(_, suffix) => index.other_hosts.entry(suffix.clone()).or_default(),
                };
                buckets.insert(n, &rule.paths);
            }
        }
        index
    }

    /// The first rule (by global order) for which `matches` holds, among the candidates for the
    /// lower-case request `host` and normalised `path`.
    pub(super) fn first_match<'r>(
        &self,
        rules: &'r [CompiledRule],
        host: &str,
        path: &str,
        matches: impl Fn(&CompiledRule) -> bool,
    ) -> Option<&'r CompiledRule> {
        let mut lists = Lists {
            lists: [&[]; MAX_LISTS],
            len: 0,
            overflow: false,
        };
        let segment = Segment::of(path);
        self.gather(host, &segment, &mut lists);
        if lists.overflow {
            return rules.iter().find(|rule| matches(rule));
        }
        let mut heads = [0usize; MAX_LISTS];
        loop {
            let next = (0..lists.len)
                .filter_map(|l| lists.lists[l].get(heads[l]).copied())
                .min()?;
            for (l, head) in heads.iter_mut().enumerate().take(lists.len) {
                if lists.lists[l].get(*head) == Some(&next) {
                    *head += 1;
                }
            }
            let rule = rules.get(next as usize)?;
            if matches(rule) {
                return Some(rule);
            }
        }
    }

    /// Every rule that could match `host`, whatever the path (unsorted, may repeat).
    pub(super) fn host_candidates<'a>(&'a self, host: &str) -> impl Iterator<Item = usize> + 'a {
        let exact = self.exact.get(host);
        let wildcard = parent_domain(host).and_then(|parent| self.wildcard.get(parent));
        let others = self.other_hosts.values().filter(|buckets| !buckets.is_empty());
        [exact, wildcard, Some(&self.any_host)]
            .into_iter()
            .flatten()
            .chain(others)
            .flat_map(|buckets| {
                let by_segment = buckets.by_segment.values().chain(buckets.by_folded_segment.values());
                by_segment.chain([&buckets.any])
            })
            .flat_map(|list| list.iter().map(|&i| i as usize))
    }

    fn gather<'a>(&'a self, host: &str, segment: &Segment<'_>, lists: &mut Lists<'a>) {
        if let Some(buckets) = self.exact.get(host) {
            buckets.gather(segment, lists);
        }
        if let Some(buckets) = parent_domain(host).and_then(|parent| self.wildcard.get(parent)) {
            buckets.gather(segment, lists);
        }
        if !self.other_hosts.is_empty() {
            for suffix in suffixes(host) {
                if let Some(buckets) = self.other_hosts.get(suffix) {
                    buckets.gather(segment, lists);
                }
            }
        }
        self.any_host.gather(segment, lists);
    }
}

/// `a.b.c` -> `b.c`, `c`, ``: the literal suffixes an other-wildcard pattern can be filed under.
fn suffixes(host: &str) -> impl Iterator<Item = &str> {
    let parents = host.match_indices('.').map(move |(dot, _)| &host[dot + 1..]);
    parents.chain(std::iter::once(""))
}
