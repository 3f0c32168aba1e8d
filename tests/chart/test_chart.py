"""The Helm chart test: render, lint, schema, Kubernetes schemas, secrets, hardening, and
`portcullis check` on the configuration the chart ships.

Run through tests/chart/run.sh (it makes the venv with helm-python-sdk and kubernetes-validate);
it must run from the repository root. No helm binary and no cluster are needed.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import helm_python as helm
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "portcullis"
FULL_VALUES = ROOT / "tests" / "chart" / "values-full.yaml"
BINARY = ROOT / "target" / "debug" / "portcullis"
KUBE_VERSION = "1.32.0"
RELEASE = "portcullis"
NAMESPACE = "auth"
CONFIG_DIR = "/etc/portcullis"
SECRETS_DIR = "/var/run/secrets/portcullis"

SESSION_SECRET = "Y2hhcnQtdGVzdC1zZXNzaW9uLXNlY3JldC0zMmJ5dGU="
CLIENT_SECRET = "chart-test-client-secret-value"
REDIS_URL = "redis://:chart-test-redis-password@redis-master.redis.svc.cluster.local:6379/0"

CONTRACT_METRICS = [
    "portcullis_decisions_total",
    "portcullis_decision_duration_seconds",
    "portcullis_jwks_fetch_total",
    "portcullis_token_cache_hits_total",
    "portcullis_token_cache_misses_total",
    "portcullis_rules_reload_total",
    "portcullis_rules_loaded",
]


# ---------------------------------------------------------------------------------------------
# helpers


@pytest.fixture(scope="session")
def chart():
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def full_values() -> dict:
    return yaml.safe_load(FULL_VALUES.read_text())


VALUE_SETS = {"default": lambda: {}, "full": full_values}


def render(chart, values: dict | None = None, name: str = RELEASE) -> dict[str, str]:
    """Template path -> rendered text, empty templates dropped."""
    out = chart.render(values or {}, name=name, namespace=NAMESPACE, is_install=True)
    return {path: text for path, text in out.items() if text.strip()}


def manifests(rendered: dict[str, str]) -> list[dict]:
    docs = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                docs.append(doc)
    return docs


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def deployment(chart, values=None) -> dict:
    return one(manifests(render(chart, values)), "Deployment")


def pod_annotations(chart, values) -> dict:
    return deployment(chart, values)["spec"]["template"]["metadata"]["annotations"]


def with_values(base: dict, path: str, value) -> dict:
    """A deep copy of base with the dotted path set."""
    values = copy.deepcopy(base)
    node = values
    keys = path.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    return values


# ---------------------------------------------------------------------------------------------
# rendering and lint


def test_default_render_has_exactly_the_core_objects(chart):
    kinds = sorted(d["kind"] for d in manifests(render(chart)))
    assert kinds == ["ConfigMap", "Deployment", "Service", "ServiceAccount"]


def test_full_render_has_every_optional_object(chart):
    docs = manifests(render(chart, full_values()))
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
    assert kinds == [
        ("ConfigMap", "portcullis"),
        ("ConfigMap", "portcullis-dashboard"),
        ("Deployment", "portcullis"),
        ("HorizontalPodAutoscaler", "portcullis"),
        ("Ingress", "portcullis"),
        ("NetworkPolicy", "portcullis"),
        ("PodDisruptionBudget", "portcullis"),
        ("Secret", "portcullis"),
        ("Service", "portcullis"),
        ("ServiceAccount", "portcullis-sa"),
        ("ServiceMonitor", "portcullis"),
    ]
    # With an HPA the Deployment must not pin replicas (the two would fight).
    assert "replicas" not in one(docs, "Deployment")["spec"]
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    assert one(docs, "PodDisruptionBudget")["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "portcullis", "app.kubernetes.io/instance": RELEASE}},
    }
    monitor = one(docs, "ServiceMonitor")
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_lint_strict_is_clean(value_set):
    report = helm.lint(CHART, VALUE_SETS[value_set](), strict=True, kube_version=f"v{KUBE_VERSION}")
    assert report["errors"] == []
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == [], problems


def test_lint_strict_fails_on_a_broken_value():
    # The lint can fail: a value of the wrong type is reported as an error. (Helm's lint mode
    # turns the templates' `fail` into a log line, so those checks are tested at render below.)
    report = helm.lint(CHART, {"replicaCount": "three"}, strict=True, kube_version=f"v{KUBE_VERSION}")
    text = json.dumps(report)
    assert any(m["severity"] == 3 for m in report["messages"]), text
    assert "/replicaCount" in text


# ---------------------------------------------------------------------------------------------
# values.schema.json


def test_schema_file_is_generated_from_gen_schema():
    sys.path.insert(0, str(ROOT / "tests" / "chart"))
    try:
        import gen_schema
    finally:
        sys.path.pop(0)
    committed = json.loads((CHART / "values.schema.json").read_text())
    assert committed == json.loads(json.dumps(gen_schema.schema)), "run python3 tests/chart/gen_schema.py"


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_schema_accepts_good_values(chart, value_set):
    chart.validate_schema(VALUE_SETS[value_set]())
    chart.validate_schema(chart.merge_values(VALUE_SETS[value_set]()))


BAD_VALUES = {
    "replicas as a string": ("replicaCount", "three", "/replicaCount"),
    "unknown top-level key": ("replicas", 2, "additional properties 'replicas'"),
    "unknown nested key": ("service.nodePort", 30000, "additional properties 'nodePort'"),
    "port out of range": ("service.port", 70000, "/service/port"),
    "unknown config key": ("config.server.listen_addr", "0.0.0.0:1", "additional properties 'listen_addr'"),
    "a session secret in config (would land in a ConfigMap)": ("config.session.secret", SESSION_SECRET, "additional properties 'secret'"),
    "a redis URL in config (may hold a password)": ("config.session.redis_url", REDIS_URL, "additional properties 'redis_url'"),
    "bad default policy": ("config.rules.default", "maybe", "/config/rules/default"),
    "bad algorithm": ("config.issuers", [{"name": "a", "issuer": "https://a/", "algorithms": ["HS256"]}], "/config/issuers/0/algorithms/0"),
    "issuer without name": ("config.issuers", [{"issuer": "https://a/"}], "missing property 'name'"),
    "login with a client secret": (
        "config.login",
        {"issuer": "a", "client_id": "b", "redirect_url": "https://a.example.com/cb", "client_secret": "x"},
        "/config/login",
    ),
    "rule with unknown key": ("rules", [{"id": "a", "policy": "allow", "path": "/x"}], "additional properties 'path'"),
    "rule with bad policy": ("rules", [{"id": "a", "policy": "permit"}], "/rules/0/policy"),
    "bool as string": ("networkPolicy.enabled", "yes", "/networkPolicy/enabled"),
    "bad log format": ("logFormat", "xml", "/logFormat"),
    "bad duration": ("config.session.ttl", "twelve hours", "/config/session/ttl"),
    "no connections allowed": ("config.server.max_connections", 0, "/config/server/max_connections"),
    "bad size": ("config.server.token_cache_memory", "64 megs", "/config/server/token_cache_memory"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_schema_rejects_bad_values(chart, case):
    path, value, message = BAD_VALUES[case]
    values = with_values({}, path, value)
    with pytest.raises(helm.HelmValuesError) as caught:
        chart.validate_schema(values)
    assert message in str(caught.value)
    # Rendering (what `helm install` does) refuses them too.
    with pytest.raises(helm.HelmValuesError):
        chart.render(values, name=RELEASE, namespace=NAMESPACE)


# ---------------------------------------------------------------------------------------------
# kubernetes-validate --strict


def kubernetes_validate(files: list[pathlib.Path]) -> subprocess.CompletedProcess:
    tool = pathlib.Path(sys.executable).parent / "kubernetes-validate"
    return subprocess.run(
        [str(tool), "--strict", "-k", KUBE_VERSION, *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("value_set", sorted(VALUE_SETS))
def test_every_manifest_passes_kubernetes_validate_strict(chart, value_set, tmp_path):
    rendered = render(chart, VALUE_SETS[value_set]())
    files = []
    for path, text in sorted(rendered.items()):
        if path.endswith("NOTES.txt"):
            continue
        file = tmp_path / pathlib.Path(path).name
        file.write_text(text)
        files.append(file)
    result = kubernetes_validate(files)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    passed = re.findall(r"^INFO .* passed for resource (\S+) against version", output, re.M)
    warnings = [line for line in output.splitlines() if line.startswith("WARN")]
    expected = sorted(
        f'{d["kind"].lower()}/{d["metadata"]["name"]}' for d in manifests(rendered) if d["kind"] != "ServiceMonitor"
    )
    assert sorted(passed) == expected, output
    # Only the CRD kind may be unknown to the validator.
    assert all("ServiceMonitor" in line for line in warnings), output
    assert len(warnings) == (1 if value_set == "full" else 0), output


def test_kubernetes_validate_is_strict_about_unknown_fields(chart, tmp_path):
    # Proves the check above can fail: a misspelt field in the rendered Deployment is refused.
    dep = deployment(chart)
    dep["spec"]["template"]["spec"]["enableServiceLink"] = False
    file = tmp_path / "deployment.yaml"
    file.write_text(yaml.safe_dump(dep))
    result = kubernetes_validate([file])
    assert result.returncode != 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# secrets


def secret_values() -> dict:
    return {
        "config": {
            "issuers": [{"name": "main", "issuer": "https://idp.example.com/"}],
            "login": {"issuer": "main", "client_id": "portcullis", "redirect_url": "https://auth.example.com/oauth2/callback"},
        },
        "secrets": {"sessionSecret": SESSION_SECRET, "clientSecret": CLIENT_SECRET},
        "redis": {"enabled": True, "url": REDIS_URL},
    }


@pytest.mark.parametrize("value_set", ["secrets", "full"])
def test_secrets_are_in_a_secret_and_never_in_a_configmap(chart, value_set):
    values = secret_values() if value_set == "secrets" else full_values()
    docs = manifests(render(chart, values))
    secrets = {SESSION_SECRET: "session-secret", CLIENT_SECRET: "client-secret", REDIS_URL: "redis-url"}

    secret = one(docs, "Secret")
    assert secret["type"] == "Opaque"
    decoded = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert decoded == {key: value for value, key in secrets.items()}

    configmaps = [d for d in docs if d["kind"] == "ConfigMap"]
    assert len(configmaps) >= 1
    for configmap in configmaps:
        text = json.dumps(configmap)
        for value in secrets:
            for form in (value, base64.b64encode(value.encode()).decode(), "chart-test-redis-password"):
                assert form not in text, f"{configmap['metadata']['name']} holds a secret"
    # The secrets also stay out of the Deployment (only references to the Secret).
    dep_text = json.dumps(one(docs, "Deployment"))
    for value in secrets:
        assert value not in dep_text


def test_secret_files_are_mounted_and_referenced_by_file_keys(chart):
    docs = manifests(render(chart, secret_values()))
    toml_text = one(docs, "ConfigMap")["data"]["portcullis.toml"]
    assert f'secret_file = "{SECRETS_DIR}/session-secret"' in toml_text
    assert f'client_secret_file = "{SECRETS_DIR}/client-secret"' in toml_text
    assert 'store = "redis"' in toml_text
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["secrets"] == {"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": True}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["secrets"]["secret"]["secretName"] == "portcullis"
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["PORTCULLIS_SESSION__REDIS_URL"] == {
        "name": "PORTCULLIS_SESSION__REDIS_URL",
        "valueFrom": {"secretKeyRef": {"name": "portcullis", "key": "redis-url"}},
    }


def test_existing_secret_and_configmap_are_used_as_given(chart):
    values = secret_values()
    values["secrets"] = {"existingSecret": "my-auth-secrets", "sessionSecretKey": "cookie", "clientSecretKey": "oidc"}
    values["redis"] = {"enabled": True, "existingSecret": "redis-creds", "existingSecretKey": "url"}
    docs = manifests(render(chart, values))
    assert [d for d in docs if d["kind"] == "Secret"] == []
    toml_text = one(docs, "ConfigMap")["data"]["portcullis.toml"]
    assert f'secret_file = "{SECRETS_DIR}/cookie"' in toml_text
    assert f'client_secret_file = "{SECRETS_DIR}/oidc"' in toml_text
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert {v["name"]: v for v in pod["volumes"]}["secrets"]["secret"]["secretName"] == "my-auth-secrets"
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["PORTCULLIS_SESSION__REDIS_URL"]["valueFrom"]["secretKeyRef"] == {"name": "redis-creds", "key": "url"}

    docs = manifests(render(chart, {"existingConfigMap": "my-portcullis-config"}))
    assert [d for d in docs if d["kind"] == "ConfigMap"] == []
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert {v["name"]: v for v in pod["volumes"]}["config"]["configMap"]["name"] == "my-portcullis-config"


@pytest.mark.parametrize(
    "values,message",
    [
        ({"config": {"login": {"issuer": "m", "client_id": "c", "redirect_url": "https://a.example.com/cb"}}}, "secrets.sessionSecret"),
        (
            {
                "config": {"login": {"issuer": "m", "client_id": "c", "redirect_url": "https://a.example.com/cb"}},
                "secrets": {"sessionSecret": SESSION_SECRET},
            },
            "secrets.clientSecret",
        ),
        ({"redis": {"enabled": True}}, "redis.url"),
        ({"grpc": {"enabled": True, "port": 4180}}, "grpc.port must differ from containerPort"),
    ],
)
def test_incomplete_settings_fail_at_render(chart, values, message):
    with pytest.raises(helm.HelmRenderError) as caught:
        chart.render(values, name=RELEASE, namespace=NAMESPACE)
    assert message in str(caught.value)


# ---------------------------------------------------------------------------------------------
# the Deployment


def test_deployment_is_hardened(chart):
    dep = deployment(chart)
    pod = dep["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["enableServiceLinks"] is False
    assert pod["automountServiceAccountToken"] is False
    assert container["resources"]["requests"] == {"cpu": "50m", "memory": "32Mi"}
    assert container["resources"]["limits"] == {"memory": "128Mi"}
    assert dep["spec"]["replicas"] == 2
    assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
    }


def test_probes_point_at_healthz_and_readyz(chart):
    container = deployment(chart)["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"name": "http", "containerPort": 4180, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert "enabled" not in container["livenessProbe"]


def test_grpc_port_is_served_and_exposed_only_when_enabled(chart, tmp_path):
    default = manifests(render(chart, {"networkPolicy": {"enabled": True}}))
    assert "grpc_listen" not in one(default, "ConfigMap")["data"]["portcullis.toml"]
    assert [p["name"] for p in one(default, "Service")["spec"]["ports"]] == ["http"]

    values = {"grpc": {"enabled": True, "port": 9191}, "networkPolicy": {"enabled": True}}
    rendered = render(chart, values)
    docs = manifests(rendered)
    assert 'grpc_listen = "0.0.0.0:9191"' in one(docs, "ConfigMap")["data"]["portcullis.toml"]
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "grpc", "containerPort": 9191, "protocol": "TCP"} in container["ports"]
    ports = {p["name"]: p for p in one(docs, "Service")["spec"]["ports"]}
    assert ports["grpc"] == {"name": "grpc", "port": 9191, "targetPort": "grpc", "protocol": "TCP", "appProtocol": "grpc"}
    policy_ports = one(docs, "NetworkPolicy")["spec"]["ingress"][0]["ports"]
    assert {"port": "grpc", "protocol": "TCP"} in policy_ports
    assert "svc.cluster.local:9191" in rendered["portcullis/templates/NOTES.txt"]
    config, env = extract(rendered, tmp_path)
    result = run_check(config, env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_graceful_termination_covers_the_drain(chart):
    pod = deployment(chart)["spec"]["template"]["spec"]
    sleep = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert sleep == 5
    # preStop sleep + the service's 15 s request timeout must fit in the grace period.
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["terminationGracePeriodSeconds"] >= sleep + 15


def test_config_is_a_folder_mount_so_hot_reload_works(chart):
    pod = deployment(chart)["spec"]["template"]["spec"]
    container = pod["containers"][0]
    config_mount = [m for m in container["volumeMounts"] if m["name"] == "config"]
    assert config_mount == [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}]
    assert all("subPath" not in m and "subPathExpr" not in m for m in container["volumeMounts"])
    assert container["args"] == ["serve", "--config", f"{CONFIG_DIR}/portcullis.toml"]
    assert {v["name"]: v for v in pod["volumes"]}["config"] == {"name": "config", "configMap": {"name": "portcullis"}}


def test_checksum_annotation_follows_config_rules_and_secrets(chart):
    base = pod_annotations(chart, {})["checksum/config"]
    assert re.fullmatch(r"[0-9a-f]{64}", base)
    assert pod_annotations(chart, {})["checksum/config"] == base  # stable
    assert pod_annotations(chart, {"config": {"rules": {"default": "allow"}}})["checksum/config"] != base
    assert pod_annotations(chart, {"rules": [{"id": "all", "policy": "allow"}]})["checksum/config"] != base
    assert "checksum/secret" not in pod_annotations(chart, {})
    first = pod_annotations(chart, secret_values())["checksum/secret"]
    rotated = secret_values()
    rotated["secrets"]["clientSecret"] = "another-client-secret"
    assert pod_annotations(chart, rotated)["checksum/secret"] != first
    # The replica count is not configuration: it does not roll pods.
    assert pod_annotations(chart, {"replicaCount": 5})["checksum/config"] == base


def test_network_policy_allows_only_the_ingress_namespaces(chart):
    docs = manifests(render(chart, {"networkPolicy": {"enabled": True}}))
    policy = one(docs, "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    assert policy["ingress"] == [
        {
            "ports": [{"port": "http", "protocol": "TCP"}],
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
        }
    ]


# ---------------------------------------------------------------------------------------------
# NOTES.txt and the dashboard


def notes(chart, values=None) -> str:
    return render(chart, values)["portcullis/templates/NOTES.txt"]


def test_notes_print_the_ingress_nginx_annotations_and_traefik_middleware(chart):
    text = notes(chart, {**secret_values(), "redis": {"enabled": False}})
    svc = f"http://portcullis.{NAMESPACE}.svc.cluster.local:4180"
    assert f'nginx.ingress.kubernetes.io/auth-url: "{svc}/auth"' in text
    assert (
        'nginx.ingress.kubernetes.io/auth-signin: "https://auth.example.com/oauth2/start?rd=$scheme://$host$escaped_request_uri"'
        in text
    )
    assert (
        'nginx.ingress.kubernetes.io/auth-response-headers: '
        '"X-Auth-Request-User,X-Auth-Request-Email,X-Auth-Request-Groups,X-Auth-Request-Preferred-Username,'
        'X-Auth-Request-Tenant"' in text
    )
    start = text.rindex("\n", 0, text.index("apiVersion: traefik.io/v1alpha1")) + 1
    middleware = text[start:].split("\n\n")[0]
    parsed = yaml.safe_load(textwrap.dedent(middleware))
    assert parsed == {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "Middleware",
        "metadata": {"name": "portcullis"},
        "spec": {
            "forwardAuth": {
                "address": f"{svc}/forward-auth",
                "trustForwardHeader": False,
                "authResponseHeaders": [
                    "X-Auth-Request-User",
                    "X-Auth-Request-Email",
                    "X-Auth-Request-Groups",
                    "X-Auth-Request-Preferred-Username",
                    "X-Auth-Request-Tenant",
                ],
            }
        },
    }
    # Headers of the rules' templates are listed too, once each; the access token when passed.
    custom = notes(
        chart,
        {
            "config": {"headers": {"pass_access_token": True}},
            "rules": [
                {"id": "a", "paths": ["/a/**"], "policy": "authenticated", "headers": {"X-Team": "{claims.team}"}},
                {"id": "b", "paths": ["/b/**"], "policy": "authenticated", "headers": {"X-Team": "{user}"}},
                {"id": "c", "paths": ["/**"], "policy": "allow"},
            ],
        },
    )
    assert (
        'auth-response-headers: "X-Auth-Request-User,X-Auth-Request-Email,X-Auth-Request-Groups,'
        'X-Auth-Request-Preferred-Username,X-Auth-Request-Access-Token,X-Team"' in custom
    )
    # Without login there is nowhere to sign in: no auth-signin line.
    assert "auth-signin" not in notes(chart)
    # The release name shapes the service name.
    assert "http://edge-portcullis.auth.svc.cluster.local:4180/auth" in render(chart, name="edge")[
        "portcullis/templates/NOTES.txt"
    ]


def test_notes_warn_while_the_image_is_the_unchanged_default(chart):
    default = notes(chart)
    assert "WARNING: the image is the chart's default, localhost:5000/portcullis:0.1.0" in default
    assert "docker build -t REGISTRY/portcullis:0.1.0 ." in default
    assert "docker push REGISTRY/portcullis:0.1.0" in default
    assert "--set image.repository=REGISTRY/portcullis" in default
    # The deployment runs exactly the image the warning names.
    assert deployment(chart)["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "localhost:5000/portcullis:0.1.0"
    )
    own = notes(chart, {"image": {"repository": "registry.example.com/portcullis"}})
    assert "WARNING: the image" not in own
    assert "WARNING: the image" not in notes(chart, full_values())


def test_dashboard_configmap_covers_the_contract_metrics(chart):
    docs = manifests(render(chart, {"dashboard": {"enabled": True}}))
    configmap = one(docs, "ConfigMap", "portcullis-dashboard")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(configmap["data"]["portcullis.json"])
    assert dashboard == json.loads((CHART / "dashboards" / "portcullis.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for metric in CONTRACT_METRICS:
        assert metric in exprs, metric
    assert "histogram_quantile(0.99" in exprs
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


# ---------------------------------------------------------------------------------------------
# portcullis check on what the chart ships


def portcullis_binary() -> pathlib.Path:
    if not BINARY.exists():
        subprocess.run(["cargo", "build", "--quiet"], cwd=ROOT, check=True)
    return BINARY


def extract(rendered: dict[str, str], directory: pathlib.Path) -> tuple[pathlib.Path, dict]:
    """Writes the ConfigMap's files (and the Secret's, where the pod would mount them) into
    directory; returns the config path and the environment the pod would get."""
    docs = manifests(rendered)
    configmap = one(docs, "ConfigMap", "portcullis")
    config_dir = directory / "config"
    secrets_dir = directory / "secrets"
    config_dir.mkdir()
    secrets_dir.mkdir()
    for name, content in configmap["data"].items():
        (config_dir / name).write_text(content)
    env = {}
    secrets = [d for d in docs if d["kind"] == "Secret"]
    for secret in secrets:
        for key, value in secret.get("data", {}).items():
            (secrets_dir / key).write_bytes(base64.b64decode(value))
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = (secrets_dir / ref["key"]).read_text()
    toml_path = config_dir / "portcullis.toml"
    toml_path.write_text(toml_path.read_text().replace(SECRETS_DIR, str(secrets_dir)))
    return toml_path, env


def run_check(config: pathlib.Path, env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PORTCULLIS_")}
    result = subprocess.run(
        [str(portcullis_binary()), "check", "--config", str(config)],
        capture_output=True,
        text=True,
        env={**clean, **env},
        check=False,
        timeout=60,
    )
    # A panic (exit 101) is never a verdict on the configuration: fail loudly, whatever the test
    # goes on to assert (a test that expects `check` to refuse must not pass on a crash).
    assert result.returncode != 101, f"portcullis check panicked:\n{result.stderr}"
    return result


@pytest.mark.parametrize("value_set", ["default", "full", "secrets"])
def test_rendered_configuration_passes_portcullis_check(chart, value_set, tmp_path):
    values = {"default": dict, "full": full_values, "secrets": secret_values}[value_set]()
    config, env = extract(render(chart, values), tmp_path)
    result = run_check(config, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"ok: {config}")
    assert "and 6 rules" in result.stdout


def test_portcullis_check_catches_a_broken_rendered_configuration(chart, tmp_path):
    # Proves the check above can fail: the schema allows a duplicate rule id, the service does not.
    values = {"rules": [{"id": "same", "policy": "allow"}, {"id": "same", "policy": "deny"}]}
    config, env = extract(render(chart, values), tmp_path)
    result = run_check(config, env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "same" in result.stderr


# ---------------------------------------------------------------------------------------------
# the Kubernetes examples: valid manifests, values the chart accepts, wiring that matches NOTES

EXAMPLES = ROOT / "examples"
EXAMPLE_VALUES = {
    "ingress-nginx": EXAMPLES / "ingress-nginx" / "portcullis-values.yaml",
    "traefik": EXAMPLES / "traefik" / "kubernetes" / "portcullis-values.yaml",
    "envoy-gateway": EXAMPLES / "envoy-gateway" / "portcullis-values.yaml",
    "istio": EXAMPLES / "istio" / "portcullis-values.yaml",
}
EXAMPLE_MANIFESTS = {
    "ingress-nginx/app.yaml": set(),
    "traefik/kubernetes/app.yaml": {"IngressRoute"},
    "traefik/kubernetes/middleware.yaml": {"Middleware"},
    "envoy-gateway/gateway.yaml": {"GatewayClass", "Gateway", "HTTPRoute", "SecurityPolicy", "ReferenceGrant"},
    "envoy-gateway/security-policy-grpc.yaml": {"SecurityPolicy"},
    "istio/app.yaml": {"Gateway", "VirtualService", "AuthorizationPolicy"},
}
IDENTITY_HEADERS = [
    "X-Auth-Request-User",
    "X-Auth-Request-Email",
    "X-Auth-Request-Groups",
    "X-Auth-Request-Preferred-Username",
]
# What the examples copy upstream: the identity headers and the one templated header of the
# reference rules (rules/ and the chart's default `rules`).
UPSTREAM_HEADERS = IDENTITY_HEADERS + ["X-Auth-Request-Tenant"]


def example_values(name: str) -> dict:
    values = yaml.safe_load(EXAMPLE_VALUES[name].read_text())
    # What the README's `--set secrets...` adds.
    values["secrets"] = {"sessionSecret": SESSION_SECRET, "clientSecret": CLIENT_SECRET}
    return values


@pytest.mark.parametrize("manifest", sorted(EXAMPLE_MANIFESTS))
def test_example_manifests_pass_kubernetes_validate_strict(manifest):
    path = EXAMPLES / manifest
    result = kubernetes_validate([path])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    unknown = set(re.findall(r"Couldn't find schema for kind (\S+) ", output))
    # Only the CRD kinds of the proxy may be unknown; core kinds must pass the strict check.
    assert unknown == EXAMPLE_MANIFESTS[manifest], output
    core = [d for d in yaml.safe_load_all(path.read_text()) if d and d["kind"] not in unknown]
    assert len(re.findall(r"passed for resource", output)) == len(core), output


@pytest.mark.parametrize("name", sorted(EXAMPLE_VALUES))
def test_example_values_render_and_pass_portcullis_check(chart, name, tmp_path):
    values = example_values(name)
    chart.validate_schema(values)
    rendered = render(chart, values)
    files = []
    for path, text in sorted(rendered.items()):
        if not path.endswith("NOTES.txt"):
            files.append(tmp_path / pathlib.Path(path).name)
            files[-1].write_text(text)
    result = kubernetes_validate(files)
    assert result.returncode == 0, result.stdout + result.stderr
    check_dir = tmp_path / "check"
    check_dir.mkdir()
    config, env = extract(rendered, check_dir)
    result = run_check(config, env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ingress_nginx_example_uses_the_annotations_notes_print(chart):
    text = render(chart, example_values("ingress-nginx"))["portcullis/templates/NOTES.txt"]
    printed = dict(re.findall(r"^\s+(nginx\.ingress\.kubernetes\.io/[a-z-]+): \"(.*)\"$", text, re.M))
    ingress = one(list(yaml.safe_load_all((EXAMPLES / "ingress-nginx" / "app.yaml").read_text())), "Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert set(printed) == {
        "nginx.ingress.kubernetes.io/auth-url",
        "nginx.ingress.kubernetes.io/auth-signin",
        "nginx.ingress.kubernetes.io/auth-response-headers",
    }
    for key, value in printed.items():
        assert annotations[key] == value, key


def test_traefik_examples_match_the_middleware_notes_print(chart):
    text = render(chart, example_values("traefik"))["portcullis/templates/NOTES.txt"]
    start = text.rindex("\n", 0, text.index("apiVersion: traefik.io/v1alpha1")) + 1
    printed = yaml.safe_load(textwrap.dedent(text[start:].split("\n\n")[0]))["spec"]["forwardAuth"]
    crd = yaml.safe_load((EXAMPLES / "traefik" / "kubernetes" / "middleware.yaml").read_text())["spec"]["forwardAuth"]
    assert {k: crd[k] for k in printed} == printed
    dynamic = yaml.safe_load((EXAMPLES / "traefik" / "dynamic.yml").read_text())
    file_mw = dynamic["http"]["middlewares"]["portcullis"]["forwardAuth"]
    assert file_mw["address"] == "http://127.0.0.1:4180/forward-auth"
    assert file_mw["trustForwardHeader"] is False
    assert file_mw["authResponseHeaders"] == UPSTREAM_HEADERS
    assert dynamic["http"]["routers"]["app"]["middlewares"] == ["portcullis"]
    static = yaml.safe_load((EXAMPLES / "traefik" / "traefik.yml").read_text())
    assert static["providers"]["file"]["filename"] == "examples/traefik/dynamic.yml"


def test_envoy_examples_call_ext_authz_with_the_needed_headers():
    docs = list(yaml.safe_load_all((EXAMPLES / "envoy-gateway" / "gateway.yaml").read_text()))
    policy = one(docs, "SecurityPolicy")["spec"]["extAuth"]
    assert policy["http"]["path"] == "/ext-authz"
    assert policy["http"]["backendRefs"] == [{"name": "portcullis", "namespace": "auth", "port": 4180}]
    assert policy["http"]["headersToBackend"] == UPSTREAM_HEADERS
    needed = {"authorization", "cookie", "accept", "x-requested-with"}
    assert needed <= set(policy["headersToExtAuth"])
    grant = one(docs, "ReferenceGrant")["spec"]
    assert grant["from"] == [{"group": "gateway.envoyproxy.io", "kind": "SecurityPolicy", "namespace": "demo"}]

    mesh = yaml.safe_load((EXAMPLES / "istio" / "istiod-values.yaml").read_text())["meshConfig"]
    provider = mesh["extensionProviders"][0]
    assert provider["name"] == "portcullis"
    http = provider["envoyExtAuthzHttp"]
    assert (http["service"], http["port"], http["pathPrefix"]) == ("portcullis.auth.svc.cluster.local", 4180, "/ext-authz")
    assert needed <= set(http["includeRequestHeadersInCheck"])
    assert http["headersToUpstreamOnAllow"] == [h.lower() for h in UPSTREAM_HEADERS]
    assert {"location", "set-cookie", "www-authenticate"} <= set(http["headersToDownstreamOnDeny"])
    istio_docs = list(yaml.safe_load_all((EXAMPLES / "istio" / "app.yaml").read_text()))
    policy = one(istio_docs, "AuthorizationPolicy")["spec"]
    assert policy["action"] == "CUSTOM"
    assert policy["provider"] == {"name": "portcullis"}


def test_grpc_examples_call_the_port_the_chart_serves(chart):
    for name in ("envoy-gateway", "istio"):
        values = example_values(name)
        assert values["grpc"]["enabled"] is True, name
        service = one(manifests(render(chart, values)), "Service")
        assert any(p["name"] == "grpc" and p["port"] == 4181 for p in service["spec"]["ports"]), name
    grpc_policy = yaml.safe_load((EXAMPLES / "envoy-gateway" / "security-policy-grpc.yaml").read_text())
    ext_auth = grpc_policy["spec"]["extAuth"]
    assert "http" not in ext_auth
    assert ext_auth["grpc"]["backendRefs"] == [{"name": "portcullis", "namespace": "auth", "port": 4181}]
    assert {"authorization", "cookie", "accept", "x-requested-with"} <= set(ext_auth["headersToExtAuth"])
    assert ext_auth["failOpen"] is False
    http_policy = one(list(yaml.safe_load_all((EXAMPLES / "envoy-gateway" / "gateway.yaml").read_text())), "SecurityPolicy")
    # The gRPC policy replaces the HTTP one: same name, same target.
    assert grpc_policy["metadata"] == http_policy["metadata"]
    assert grpc_policy["spec"]["targetRefs"] == http_policy["spec"]["targetRefs"]

    providers = yaml.safe_load((EXAMPLES / "istio" / "istiod-values.yaml").read_text())["meshConfig"]["extensionProviders"]
    grpc = {p["name"]: p for p in providers}["portcullis-grpc"]["envoyExtAuthzGrpc"]
    assert (grpc["service"], grpc["port"], grpc["failOpen"]) == ("portcullis.auth.svc.cluster.local", 4181, False)


# ---------------------------------------------------------------------------------------------
# the container image the chart runs


def test_dockerfile_matches_what_the_chart_expects(chart):
    text = (ROOT / "Dockerfile").read_text()
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms == ["rust:${RUST_VERSION}-bookworm", "gcr.io/distroless/cc-debian12:nonroot"]
    assert "cargo build --release --locked" in text
    assert re.search(r"^USER 65532:65532$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["/portcullis"\]$', text, re.M)
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))
    # The image's default command reads the file where the chart mounts its ConfigMap, and the
    # chart runs as the image's user.
    assert cmd == deployment(chart)["spec"]["template"]["spec"]["containers"][0]["args"]
    assert deployment(chart)["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 65532
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {"target/", "node_modules/", ".git/"} <= set(ignored)
