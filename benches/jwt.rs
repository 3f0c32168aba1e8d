//! Bearer JWT verification: a cache hit, uncached RS256 and ES256 verifications (keys from a
//! JWKS file, no network), the memory held by 100,000 cached identities against what the cache
//! weighs them at, and the heap held by 20,000 large (8 KiB) tokens under a memory budget.
//!
//! Run with `cargo bench --bench jwt -- --warm-up-time 1 --measurement-time 2`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group};
use jsonwebtoken::{EncodingKey, Header};
use portcullis::authn::jwks::http_client;
use portcullis::authn::jwt::{Verifier, entry_weight, install_crypto_provider};
use portcullis::config::{Algorithm, IssuerConfig};
use portcullis::metrics::Metrics;
use serde_json::{Value, json};

/// Counts live heap bytes, to measure what the token cache holds.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const ISSUER: &str = "https://idp.bench/";

fn keys_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys")
}

/// A verifier of [`ISSUER`] whose keys (rsa1, ec1, ed1) come from a JWKS file.
fn verifier(runtime: &tokio::runtime::Runtime, dir: &tempfile::TempDir) -> Verifier {
    let keys: Vec<Value> = ["rsa1", "ec1", "ed1"]
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(keys_dir().join(format!("{name}.jwks.json"))).expect("fixture");
            serde_json::from_str::<Value>(&text).expect("JSON")["keys"][0].clone()
        })
        .collect();
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, json!({ "keys": keys }).to_string()).expect("write JWKS");
    let config = IssuerConfig {
        name: "bench".into(),
        issuer: ISSUER.into(),
        jwks_uri: None,
        jwks_file: Some(file),
        audiences: vec!["my-api".into()],
        algorithms: vec![Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA],
        user_claim: "sub".into(),
        email_claim: "email".into(),
        groups_claim: "groups".into(),
        preferred_username_claim: "preferred_username".into(),
        leeway: Duration::from_secs(30),
        introspection: None,
    };
    let verifier = Verifier::new(&[config], http_client(), Metrics::new());
    runtime.block_on(verifier.load_keys());
    assert!(verifier.is_ready());
    verifier
}

/// A realistic access token (about 600 bytes of claims) signed by fixture key `name`.
fn token(alg: jsonwebtoken::Algorithm, name: &str, serial: u64) -> String {
    let pem = std::fs::read(keys_dir().join(format!("{name}.pem"))).expect("fixture key");
    let key = match alg {
        jsonwebtoken::Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
        jsonwebtoken::Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
        _ => EncodingKey::from_ed_pem(&pem),
    }
    .expect("key");
    sign(alg, name, &key, serial)
}

fn sign(alg: jsonwebtoken::Algorithm, kid: &str, key: &EncodingKey, serial: u64) -> String {
    sign_padded(alg, kid, key, serial, 0)
}

/// A token like [`sign`]'s with a `pad` claim of `pad` bytes (large tokens: many roles, a
/// certificate, a big custom claim).
fn sign_padded(alg: jsonwebtoken::Algorithm, kid: &str, key: &EncodingKey, serial: u64, pad: usize) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let mut claims = json!({
        "iss": ISSUER, "aud": ["my-api", "account"], "azp": "web-frontend",
        "sub": format!("5f0c1b6e-8d3a-4c2e-9a1f-{serial:012}"), "sid": "3f2a9c1e-6b7d-4e8f-a0b1-c2d3e4f5a6b7",
        "jti": format!("onrtac:{serial:016x}-1c2d-4e5f-8a9b"), "iat": now, "exp": now + 3600,
        "email": "alice.example@example.com", "email_verified": true, "name": "Alice Example",
        "preferred_username": "alice", "given_name": "Alice", "family_name": "Example",
        "groups": ["admins", "ops", "developers"], "scope": "openid email profile",
        "realm_access": { "roles": ["offline_access", "uma_authorization", "default-roles-bench"] },
    });
    if pad > 0 {
        claims["pad"] = Value::String("p".repeat(pad));
    }
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, &claims, key).expect("signs")
}

fn verification(c: &mut Criterion) {
    install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let verifier = verifier(&runtime, &dir);

    let cached = token(jsonwebtoken::Algorithm::RS256, "rsa1", 0);
    runtime.block_on(verifier.verify(&cached)).expect("valid");
    c.bench_function("verify cached token (hit)", |b| {
        b.iter(|| runtime.block_on(verifier.verify(&cached)).expect("valid"))
    });

    for (alg, name, label) in [
        (jsonwebtoken::Algorithm::RS256, "rsa1", "verify uncached RS256"),
        (jsonwebtoken::Algorithm::ES256, "ec1", "verify uncached ES256"),
        (jsonwebtoken::Algorithm::EdDSA, "ed1", "verify uncached EdDSA"),
    ] {
        let token = token(alg, name, 1);
        c.bench_function(label, |b| {
            b.iter(|| {
                // Every iteration starts with an empty cache, so it is a full verification.
                verifier.clear_cache();
                runtime.block_on(verifier.verify(&token)).expect("valid")
            })
        });
    }
}

/// Prints how much heap 100,000 cached identities hold (tokens themselves excluded).
fn cache_memory() {
    install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    // A budget far above what they take: this measures the identities, not the eviction.
    let verifier = verifier(&runtime, &dir).with_cache_memory(1 << 30);
    let pem = std::fs::read(keys_dir().join("ed1.pem")).expect("fixture key");
    let key = EncodingKey::from_ed_pem(&pem).expect("key");
    let tokens: Vec<String> = (0..100_000)
        .map(|n| sign(jsonwebtoken::Algorithm::EdDSA, "ed1", &key, n))
        .collect();
    let started = Instant::now();
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    for token in &tokens {
        runtime.block_on(verifier.verify(token)).expect("valid");
    }
    let held = LIVE_BYTES.load(Ordering::Relaxed) - before;
    let claims_bytes = tokens[0].split('.').nth(1).map_or(0, |payload| payload.len() * 3 / 4);
    let identity = runtime.block_on(verifier.verify(&tokens[0])).expect("valid");
    let strings = |items: &[String]| items.iter().map(String::capacity).sum::<usize>() + items.len() * 24;
    let identity_bytes = 16
        + std::mem::size_of::<portcullis::authn::Identity>()
        + identity.user.capacity()
        + identity.email.as_ref().map_or(0, String::capacity)
        + identity.preferred_username.as_ref().map_or(0, String::capacity)
        + strings(&identity.groups)
        + strings(&identity.scopes)
        + claims_bytes;
    println!("one cached identity: about {identity_bytes} bytes (Arc, struct, strings, claims text)");
    println!(
        "token cache: 100000 identities hold {:.1} MiB ({} bytes each; claims {claims_bytes} bytes of JSON); filled in {:.1?}",
        held as f64 / (1024.0 * 1024.0),
        held / 100_000,
        started.elapsed(),
    );
    println!(
        "token cache: each entry is weighed at {} bytes (key, identity, cache overhead, allocator headers)",
        entry_weight(&identity)
    );
}

/// Prints the heap held after 20,000 distinct 8 KiB tokens were verified under a 16 MiB budget
/// (without a budget they would hold about 170 MiB).
fn cache_budget() {
    const BUDGET: u64 = 16 * 1024 * 1024;
    const TOKENS: u64 = 20_000;
    install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let verifier = verifier(&runtime, &dir).with_cache_memory(BUDGET);
    let pem = std::fs::read(keys_dir().join("ed1.pem")).expect("fixture key");
    let key = EncodingKey::from_ed_pem(&pem).expect("key");
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let mut token_bytes = 0;
    for serial in 0..TOKENS {
        let token = sign_padded(jsonwebtoken::Algorithm::EdDSA, "ed1", &key, serial, 8 * 1024);
        token_bytes = token.len();
        runtime.block_on(verifier.verify(&token)).expect("valid");
    }
    // One more verification lets the cache apply its pending evictions.
    let last = sign_padded(jsonwebtoken::Algorithm::EdDSA, "ed1", &key, 0, 8 * 1024);
    runtime.block_on(verifier.verify(&last)).expect("valid");
    drop(last);
    let held = LIVE_BYTES.load(Ordering::Relaxed) - before;
    println!(
        "token cache: {TOKENS} tokens of {token_bytes} bytes under a {} MiB budget hold {:.1} MiB of heap",
        BUDGET >> 20,
        held as f64 / (1024.0 * 1024.0),
    );
}

criterion_group!(benches, verification);

fn main() {
    benches();
    if std::env::args().all(|arg| arg != "--list") {
        cache_memory();
        cache_budget();
    }
    Criterion::default().configure_from_args().final_summary();
}
