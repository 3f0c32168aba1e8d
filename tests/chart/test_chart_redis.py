"""The Helm chart's Redis settings: one server, Redis Cluster or Redis Sentinel, each inline (the
chart renders the Secret) or from an existing Secret, the URLs passed to the pod only through a
Secret; exactly one form at a time; a private CA for `rediss://`. Each rendered form is checked
with kubernetes-validate and `portcullis check`.

Run through tests/chart/run.sh (helpers and the `chart` fixture come from test_chart.py).
"""

from __future__ import annotations

import base64
import json
import pathlib
import subprocess

import helm_python as helm
import pytest

from test_chart import (  # noqa: F401 (chart is a fixture)
    NAMESPACE,
    RELEASE,
    REDIS_URL,
    chart,
    extract,
    kubernetes_validate,
    manifests,
    one,
    render,
    run_check,
    secret_values,
)

PASSWORD = "chart-test-redis-password"
CLUSTER_URLS = [
    f"rediss://:{PASSWORD}@redis-cluster-0.redis-cluster-headless.redis.svc.cluster.local:6379",
    f"rediss://:{PASSWORD}@redis-cluster-1.redis-cluster-headless.redis.svc.cluster.local:6379",
]
SENTINEL_URLS = [
    f"redis://:{PASSWORD}@redis-node-0.redis-headless.redis.svc.cluster.local:26379",
    f"redis://:{PASSWORD}@redis-node-1.redis-headless.redis.svc.cluster.local:26379",
]
CA_DIR = "/var/run/secrets/redis-ca"

# form -> (redis values, environment variable, key in the chart's Secret, what the key holds)
FORMS = {
    "url": ({"url": REDIS_URL}, "PORTCULLIS_SESSION__REDIS_URL", "redis-url", REDIS_URL),
    "cluster": (
        {"cluster": {"urls": CLUSTER_URLS}},
        "PORTCULLIS_SESSION__REDIS_CLUSTER_URLS",
        "redis-cluster-urls",
        json.dumps(CLUSTER_URLS, separators=(",", ":")),
    ),
    "sentinel": (
        {"sentinel": {"urls": SENTINEL_URLS, "master": "mymaster"}},
        "PORTCULLIS_SESSION__REDIS_SENTINEL_URLS",
        "redis-sentinel-urls",
        json.dumps(SENTINEL_URLS, separators=(",", ":")),
    ),
}


def with_redis(redis: dict) -> dict:
    values = secret_values()
    values["redis"] = {"enabled": True, **redis}
    return values


def redis_env(docs: list[dict]) -> list[dict]:
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return [e for e in container["env"] if e["name"].startswith("PORTCULLIS_SESSION__REDIS")]


def write_manifests(rendered: dict[str, str], directory: pathlib.Path) -> list[pathlib.Path]:
    files = []
    for path, text in sorted(rendered.items()):
        if not path.endswith("NOTES.txt"):
            files.append(directory / pathlib.Path(path).name)
            files[-1].write_text(text)
    return files


@pytest.mark.parametrize("form", sorted(FORMS))
def test_each_form_passes_its_urls_through_the_secret_and_passes_portcullis_check(chart, form, tmp_path):
    redis, env_name, key, content = FORMS[form]
    rendered = render(chart, with_redis(redis))
    docs = manifests(rendered)

    secret = one(docs, "Secret")
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded[key] == content
    assert not {"redis-url", "redis-cluster-urls", "redis-sentinel-urls"} - {key} & set(decoded)
    assert redis_env(docs) == [
        {"name": env_name, "valueFrom": {"secretKeyRef": {"name": "portcullis", "key": key}}}
    ]
    for doc in docs:
        if doc["kind"] != "Secret":
            assert PASSWORD not in json.dumps(doc), f"{doc['kind']} holds the Redis password"
    toml_text = one(docs, "ConfigMap", "portcullis")["data"]["portcullis.toml"]
    assert 'store = "redis"' in toml_text
    assert ('redis_sentinel_master = "mymaster"' in toml_text) == (form == "sentinel")
    assert "redis_ca_file" not in toml_text

    result = kubernetes_validate(write_manifests(rendered, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    check_dir = tmp_path / "check"
    check_dir.mkdir()
    config, env = extract(rendered, check_dir)
    assert env[env_name] == content
    result = run_check(config, env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_portcullis_check_reads_the_list_the_secret_passes(chart, tmp_path):
    # Proves the check above reads the list from the environment: a bad node in it is named.
    config, env = extract(render(chart, with_redis(FORMS["cluster"][0])), tmp_path)
    env["PORTCULLIS_SESSION__REDIS_CLUSTER_URLS"] = json.dumps([CLUSTER_URLS[0], "http://not-redis:6379"])
    result = run_check(config, env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "session.redis_cluster_urls[1]" in result.stderr
    assert PASSWORD not in result.stderr + result.stdout


@pytest.mark.parametrize("form", sorted(FORMS))
def test_each_form_reads_an_existing_secret(chart, form):
    redis, env_name, _, _ = FORMS[form]
    block = {"existingSecret": "redis-creds", "existingSecretKey": "urls"}
    if form == "url":
        redis = block
    else:
        redis = {form: {**{k: v for k, v in redis[form].items() if k != "urls"}, **block}}
    values = with_redis(redis)
    values["secrets"] = {"existingSecret": "my-auth-secrets"}
    docs = manifests(render(chart, values))
    assert [d for d in docs if d["kind"] == "Secret"] == []
    assert redis_env(docs) == [
        {"name": env_name, "valueFrom": {"secretKeyRef": {"name": "redis-creds", "key": "urls"}}}
    ]


REFUSED = {
    "none": ({}, "redis.enabled: give one of redis.url (or redis.existingSecret), redis.cluster.urls"),
    "url and cluster": (
        {"url": REDIS_URL, "cluster": {"urls": CLUSTER_URLS}},
        "give only one of redis.url, redis.cluster and redis.sentinel (found url, cluster)",
    ),
    "cluster and sentinel from Secrets": (
        {"cluster": {"existingSecret": "a"}, "sentinel": {"existingSecret": "b", "master": "m"}},
        "(found cluster, sentinel)",
    ),
    "all three": (
        {"existingSecret": "a", "cluster": {"urls": CLUSTER_URLS}, "sentinel": {"urls": SENTINEL_URLS, "master": "m"}},
        "(found url, cluster, sentinel)",
    ),
    "sentinel without a master name": ({"sentinel": {"urls": SENTINEL_URLS}}, "give redis.sentinel.master"),
    "a master name without sentinels": (
        {"url": REDIS_URL, "sentinel": {"master": "mymaster"}},
        "redis.sentinel.master is set but redis.sentinel.urls",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_anything_but_exactly_one_form_is_refused_at_render(chart, case):
    redis, message = REFUSED[case]
    with pytest.raises(helm.HelmRenderError) as caught:
        chart.render(with_redis(redis), name=RELEASE, namespace=NAMESPACE)
    assert message in str(caught.value)
    assert PASSWORD not in str(caught.value)


SCHEMA_REFUSED = {
    "a cluster URL that is not Redis": ("cluster", {"urls": ["http://redis:6379"]}, "/redis/cluster/urls/0"),
    "a sentinel list as a string": ("sentinel", {"urls": SENTINEL_URLS[0]}, "/redis/sentinel/urls"),
    "an unknown key": ("sentinel", {"masterName": "m"}, "additional properties 'masterName'"),
}


@pytest.mark.parametrize("case", sorted(SCHEMA_REFUSED))
def test_schema_refuses_bad_redis_values(chart, case):
    form, block, message = SCHEMA_REFUSED[case]
    with pytest.raises(helm.HelmValuesError) as caught:
        chart.validate_schema({"redis": {"enabled": True, form: block}})
    assert message in str(caught.value)


@pytest.mark.parametrize("key", ["redis_cluster_urls", "redis_sentinel_urls"])
def test_urls_in_config_are_refused(chart, key):
    # config is a ConfigMap: URLs (which may hold a password) never go there.
    with pytest.raises(helm.HelmValuesError) as caught:
        chart.validate_schema({"config": {"session": {key: CLUSTER_URLS}}})
    assert f"additional properties '{key}'" in str(caught.value)


def make_ca(directory: pathlib.Path) -> pathlib.Path:
    ca = directory / "ca.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(directory / "ca.key"), "-out", str(ca), "-days", "2", "-subj", "/CN=chart-test-ca"],
        check=True,
        capture_output=True,
    )
    return ca


def test_a_private_ca_is_mounted_for_redis_ca_file(chart, tmp_path):
    redis = {"url": "rediss://:" + PASSWORD + "@redis.redis.svc.cluster.local:6380/0",
             "ca": {"existingSecret": "redis-tls", "existingSecretKey": "ca.crt"}}
    rendered = render(chart, with_redis(redis))
    docs = manifests(rendered)
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["redis-ca"]["secret"] == {
        "secretName": "redis-tls",
        "items": [{"key": "ca.crt", "path": "ca.crt"}],
        "defaultMode": 0o444,
    }
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["redis-ca"] == {"name": "redis-ca", "mountPath": CA_DIR, "readOnly": True}
    toml_text = one(docs, "ConfigMap", "portcullis")["data"]["portcullis.toml"]
    assert f'redis_ca_file = "{CA_DIR}/ca.crt"' in toml_text
    result = kubernetes_validate(write_manifests(rendered, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr

    # `portcullis check` reads the CA where the pod would have it mounted ...
    check_dir = tmp_path / "check"
    check_dir.mkdir()
    config, env = extract(rendered, check_dir)
    ca_dir = tmp_path / "redis-ca"
    ca_dir.mkdir()
    make_ca(ca_dir)
    config.write_text(config.read_text().replace(CA_DIR, str(ca_dir)))
    result = run_check(config, env)
    assert result.returncode == 0, result.stdout + result.stderr
    # ... and refuses a file that holds no certificate, naming the key.
    (ca_dir / "ca.crt").write_text("not a certificate\n")
    result = run_check(config, env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "session.redis_ca_file" in result.stderr

    # Without redis.ca nothing is mounted: rediss:// is checked against the system roots.
    docs = manifests(render(chart, with_redis({"url": redis["url"]})))
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert "redis-ca" not in {v["name"] for v in pod["volumes"]}


def test_notes_say_where_sessions_live(chart):
    def notes(redis):
        return render(chart, with_redis(redis))["portcullis/templates/NOTES.txt"]

    assert "Sessions: in one Redis server, reached through the URLs in Secret portcullis (key redis-url)." in notes(
        FORMS["url"][0]
    )
    assert "Sessions: in a Redis Cluster, reached through the URLs in Secret portcullis (key redis-cluster-urls)" in notes(
        FORMS["cluster"][0]
    )
    sentinel = notes({"sentinel": {"existingSecret": "creds", "existingSecretKey": "s", "master": "mymaster"},
                      "ca": {"existingSecret": "redis-tls"}})
    assert 'the master "mymaster" of Redis Sentinel, reached through the URLs in Secret creds (key s); ' \
           "TLS trusts the CA in Secret redis-tls." in sentinel
    assert "Sessions:" not in render(chart, {})["portcullis/templates/NOTES.txt"]
