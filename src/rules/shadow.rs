//! Conservative shadowing warnings: a rule is reported only when an earlier rule surely matches
//! every request it matches (hosts, methods and paths each "any", a superset, or identical).

use super::compile::CompiledRule;
use super::index::RuleIndex;
use super::matcher::{Case, HostMatcher, HostPattern, MethodMatcher, PathMatcher, has_glob_meta};

/// One warning per rule that an earlier rule shadows completely, naming both rules and files.
pub(super) fn shadow_warnings(rules: &[CompiledRule], index: &RuleIndex) -> Vec<String> {
    let mut warnings = Vec::new();
    for (j, later) in rules.iter().enumerate() {
        let earlier = candidates(rules, index, later, j).find(|earlier| covers(earlier, later));
        if let Some(earlier) = earlier {
            warnings.push(format!(
                "rule `{}` ({}) is never reached: earlier rule `{}` ({}) matches every request it matches",
                later.rule.id,
                later.rule.source.display(),
                earlier.rule.id,
                earlier.rule.source.display()
            ));
        }
    }
    warnings
}

/// The earlier rules that could shadow `later`, in global order.
fn candidates<'r>(
    rules: &'r [CompiledRule],
    index: &RuleIndex,
    later: &CompiledRule,
    j: usize,
) -> Box<dyn Iterator<Item = &'r CompiledRule> + 'r> {
    match exact_host(&later.hosts) {
        Some(host) => {
            let mut earlier: Vec<usize> = index.host_candidates(host).filter(|&i| i < j).collect();
            earlier.sort_unstable();
            earlier.dedup();
            Box::new(earlier.into_iter().filter_map(|i| rules.get(i)))
        }
        None => Box::new(rules[..j].iter()),
    }
}

/// The first host of a rule whose hosts are all literal.
fn exact_host(hosts: &HostMatcher) -> Option<&str> {
    let patterns = hosts.patterns.as_ref()?;
    match patterns.first()? {
        HostPattern::Exact(host) => Some(host),
        _ => None,
    }
}

/// Whether `earlier` matches every request that `later` matches.
fn covers(earlier: &CompiledRule, later: &CompiledRule) -> bool {
    hosts_cover(&earlier.hosts, &later.hosts)
        && methods_cover(&earlier.methods, &later.methods)
        && paths_cover(&earlier.paths, &later.paths)
}

fn hosts_cover(earlier: &HostMatcher, later: &HostMatcher) -> bool {
    let Some(patterns) = &earlier.patterns else {
        return true;
    };
    let Some(_) = &later.patterns else {
        return false;
    };
    later.written.iter().all(|host| {
        let host = host.to_ascii_lowercase();
        earlier.written.iter().any(|e| e.eq_ignore_ascii_case(&host))
            || (!host.contains('*') && patterns.iter().any(|p| p.matches(&host)))
    })
}

fn methods_cover(earlier: &MethodMatcher, later: &MethodMatcher) -> bool {
    match (&earlier.0, &later.0) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(_), Some(methods)) => methods.iter().all(|m| earlier.matches(m)),
    }
}

fn paths_cover(earlier: &PathMatcher, later: &PathMatcher) -> bool {
    if matches!(earlier, PathMatcher::Any) || earlier_covers_every_path(earlier) {
        return true;
    }
    // A case-exact rule leaves the other spellings to a later case-folding one.
    if earlier.case() == Case::Exact && later.case() == Case::Folded {
        return false;
    }
    match later {
        PathMatcher::Any => false,
        PathMatcher::Regex(_, regex, _) => matches!(earlier, PathMatcher::Regex(_, e, _) if e == regex),
        PathMatcher::Globs(_, globs, _) => globs.iter().all(|glob| glob_covered(earlier, glob)),
    }
}

fn earlier_covers_every_path(earlier: &PathMatcher) -> bool {
    matches!(earlier, PathMatcher::Globs(_, written, _) if written.iter().any(|g| g == "/**"))
}

fn glob_covered(earlier: &PathMatcher, glob: &str) -> bool {
    if !has_glob_meta(glob) {
        return earlier.matches(glob);
    }
    let PathMatcher::Globs(_, written, _) = earlier else {
        return false;
    };
    written.iter().any(|e| e == glob || subtree_within(e, glob))
}

/// Whether `/a/**` (earlier) covers `/a/b/**` or `/a/**` (later), both with literal bases.
fn subtree_within(earlier: &str, later: &str) -> bool {
    let (Some(outer), Some(inner)) = (earlier.strip_suffix("/**"), later.strip_suffix("/**")) else {
        return false;
    };
    if has_glob_meta(outer) || has_glob_meta(inner) {
        return false;
    }
    inner == outer || inner.strip_prefix(outer).is_some_and(|rest| rest.starts_with('/'))
}
