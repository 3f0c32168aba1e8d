//! The Prometheus registry and every metric of the contract, in one explicit registry per
//! process (tests stay isolated).

use rustc_hash::FxHashMap as HashMap;
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

/// The `endpoint` label values of `portcullis_decisions_total`, in slot order.
const ENDPOINTS: [&str; 4] = ["auth", "forward-auth", "ext-authz", "grpc"];
/// The `outcome` label values of `portcullis_decisions_total`, in slot order.
const OUTCOMES: [&str; 5] = ["allow", "unauthenticated", "forbidden", "error", "invalid_request"];
const SLOTS: usize = ENDPOINTS.len() * OUTCOMES.len();

/// `portcullis_decisions_total` handles, resolved once per (endpoint, outcome, rule) instead of
/// by `with_label_values` on every decision (which hashes the labels and takes the vector's
/// lock). Reads are lock-free: a snapshot of a map from rule id to its slots, each filled on
/// first use; a rule id not seen before copies the map once.
pub struct DecisionCounters {
    vec: IntCounterVec,
    by_rule: ArcSwap<HashMap<Box<str>, Arc<Slots>>>,
}

/// One rule's counters, one per (endpoint, outcome), each made on first use.
type Slots = [OnceLock<IntCounter>; SLOTS];

impl DecisionCounters {
    fn new(vec: IntCounterVec) -> DecisionCounters {
        DecisionCounters {
            vec,
            by_rule: ArcSwap::from_pointee(HashMap::default()),
        }
    }

    /// Counts one decision.
    pub fn inc(&self, endpoint: &str, outcome: &str, rule: &str) {
        let (Some(e), Some(o)) = (
            ENDPOINTS.iter().position(|l| *l == endpoint),
            OUTCOMES.iter().position(|l| *l == outcome),
        ) else {
            self.vec.with_label_values(&[endpoint, outcome, rule]).inc();
            return;
        };
        let snapshot = self.by_rule.load();
        let added;
        let slots = match snapshot.get(rule) {
            Some(slots) => slots,
            None => {
                added = self.slots_for(rule);
                &added
            }
        };
        slots[e * OUTCOMES.len() + o]
            .get_or_init(|| self.vec.with_label_values(&[endpoint, outcome, rule]))
            .inc();
    }

    /// The slots of a rule id not in the snapshot: added by copying the map (once per rule id).
    fn slots_for(&self, rule: &str) -> Arc<Slots> {
        let mut added = None;
        self.by_rule.rcu(|map| {
            let mut map = HashMap::clone(map);
            let slots = map
                .entry(rule.into())
                .or_insert_with(|| Arc::new(std::array::from_fn(|_| OnceLock::new())));
            added = Some(slots.clone());
            map
        });
        added.expect("rcu ran at least once")
    }
}

/// All metrics; cheap to clone (the metric handles are reference counted).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `portcullis_decisions_total{endpoint,outcome,rule}`.
    pub decisions_total: IntCounterVec,
    /// The same counters, resolved once each for the decision path.
    pub decisions: Arc<DecisionCounters>,
    /// `portcullis_decision_duration_seconds`.
    pub decision_duration_seconds: Histogram,
    /// `portcullis_jwks_fetch_total{issuer,result}`.
    pub jwks_fetch_total: IntCounterVec,
    /// `portcullis_token_cache_hits_total`.
    pub token_cache_hits_total: IntCounter,
    /// `portcullis_token_cache_misses_total`.
    pub token_cache_misses_total: IntCounter,
    /// `portcullis_rules_reload_total{result}`.
    pub rules_reload_total: IntCounterVec,
    /// `portcullis_rules_loaded`.
    pub rules_loaded: IntGauge,
    /// `portcullis_session_store_errors_total`: Redis session store failures and timeouts.
    pub session_store_errors_total: IntCounter,
    /// `portcullis_introspection_total{issuer,result}` (result: active, inactive, error).
    pub introspection_total: IntCounterVec,
    /// `portcullis_session_check_total{check,result}` (result: valid, invalid, error).
    pub session_check_total: IntCounterVec,
    /// `portcullis_authorizer_total{authorizer,result}` (result: allow, deny, error).
    pub authorizer_total: IntCounterVec,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let decisions_total = IntCounterVec::new(
            Opts::new(
                "portcullis_decisions_total",
                "Decisions by endpoint, outcome and rule id",
            ),
            &["endpoint", "outcome", "rule"],
        )
        .expect("valid metric");
        let buckets = vec![
            0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0,
        ];
        let decision_duration_seconds = Histogram::with_opts(
            HistogramOpts::new("portcullis_decision_duration_seconds", "Time to reach a decision").buckets(buckets),
        )
        .expect("valid metric");
        let jwks_fetch_total = IntCounterVec::new(
            Opts::new("portcullis_jwks_fetch_total", "JWKS fetches by issuer and result"),
            &["issuer", "result"],
        )
        .expect("valid metric");
        let token_cache_hits_total =
            IntCounter::new("portcullis_token_cache_hits_total", "Verified-token cache hits").expect("valid metric");
        let token_cache_misses_total =
            IntCounter::new("portcullis_token_cache_misses_total", "Verified-token cache misses")
                .expect("valid metric");
        let rules_reload_total = IntCounterVec::new(
            Opts::new("portcullis_rules_reload_total", "Rule reloads by result"),
            &["result"],
        )
        .expect("valid metric");
        let rules_loaded = IntGauge::new("portcullis_rules_loaded", "Rules in force").expect("valid metric");
        let session_store_errors_total = IntCounter::new(
            "portcullis_session_store_errors_total",
            "Session store (Redis) failures and timeouts",
        )
        .expect("valid metric");
        let by_result = |name: &str, help: &str, subject: &str| {
            IntCounterVec::new(Opts::new(name, help), &[subject, "result"]).expect("valid metric")
        };
        let introspection_total = by_result(
            "portcullis_introspection_total",
            "Token introspection calls by issuer and result (active, inactive, error)",
            "issuer",
        );
        let session_check_total = by_result(
            "portcullis_session_check_total",
            "Session check calls by check and result (valid, invalid, error)",
            "check",
        );
        let authorizer_total = by_result(
            "portcullis_authorizer_total",
            "Remote authorizer answers by authorizer and result (allow, deny, error)",
            "authorizer",
        );
        for collector in [
            Box::new(decisions_total.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(decision_duration_seconds.clone()),
            Box::new(jwks_fetch_total.clone()),
            Box::new(token_cache_hits_total.clone()),
            Box::new(token_cache_misses_total.clone()),
            Box::new(rules_reload_total.clone()),
            Box::new(rules_loaded.clone()),
            Box::new(session_store_errors_total.clone()),
            Box::new(introspection_total.clone()),
            Box::new(session_check_total.clone()),
            Box::new(authorizer_total.clone()),
        ] {
            registry.register(collector).expect("metric registered once");
        }
        Metrics {
            registry,
            decisions: Arc::new(DecisionCounters::new(decisions_total.clone())),
            decisions_total,
            decision_duration_seconds,
            jwks_fetch_total,
            token_cache_hits_total,
            token_cache_misses_total,
            rules_reload_total,
            rules_loaded,
            session_store_errors_total,
            introspection_total,
            session_check_total,
            authorizer_total,
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding cannot fail");
        String::from_utf8(buffer).expect("exposition is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_decision_counters_count_into_the_contract_series() {
        let metrics = Metrics::new();
        for _ in 0..3 {
            metrics.decisions.inc("auth", "allow", "public");
        }
        metrics.decisions.inc("grpc", "invalid_request", "");
        metrics.decisions.inc("auth", "allow", "admin");
        metrics.decisions.inc("other-endpoint", "allow", "admin");
        let text = metrics.render();
        for line in [
            r#"portcullis_decisions_total{endpoint="auth",outcome="allow",rule="public"} 3"#,
            r#"portcullis_decisions_total{endpoint="grpc",outcome="invalid_request",rule=""} 1"#,
            r#"portcullis_decisions_total{endpoint="auth",outcome="allow",rule="admin"} 1"#,
            r#"portcullis_decisions_total{endpoint="other-endpoint",outcome="allow",rule="admin"} 1"#,
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(
            !text.contains(r#"outcome="forbidden""#),
            "a series was made before its first decision"
        );
    }
}
