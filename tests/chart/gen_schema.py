"""Generates charts/portcullis/values.schema.json (run: python3 tests/chart/gen_schema.py).

The schema is written as Python for comments and reuse; the JSON file is what Helm reads and
is committed. test_chart.py checks the committed file is what this script produces.
"""

import json
import pathlib

OUT = pathlib.Path(__file__).resolve().parents[2] / "charts/portcullis/values.schema.json"


def obj(props, required=(), additional=False, desc=None):
    o = {"type": "object", "additionalProperties": additional, "properties": props}
    if required:
        o["required"] = list(required)
    if desc:
        o["description"] = desc
    return o


def s(desc=None, **kw):
    o = {"type": "string", **kw}
    if desc:
        o["description"] = desc
    return o


def i(minimum=None, maximum=None, desc=None):
    o = {"type": "integer"}
    if minimum is not None:
        o["minimum"] = minimum
    if maximum is not None:
        o["maximum"] = maximum
    if desc:
        o["description"] = desc
    return o


B = {"type": "boolean"}
STRMAP = {"type": "object", "additionalProperties": {"type": "string"}}
ANYOBJ = {"type": "object"}
OBJLIST = {"type": "array", "items": {"type": "object"}}
STRLIST = {"type": "array", "items": {"type": "string"}}
DURATION = s("A duration like 30s, 5m, 12h or 1h 30m", pattern=r"^\s*[0-9]+\s*[a-z]+(\s*[0-9]+\s*[a-z]+)*\s*$")
SIZE = s("A size like 64MiB, 512KB or 1GiB", pattern=r"^\s*[0-9]+\s*([kKmMgG][iI]?[bB]|[bB])?\s*$")
INT_OR_PERCENT = {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^([0-9]+%?)?$"}]}
HEADER = s(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
POLICY = {"enum": ["allow", "deny", "authenticated"]}
ALG = {"enum": ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]}
HTTP_URL = s(pattern=r"^https?://[^\s/]+")
SECRET_KEY = s(pattern=r"^[-._a-zA-Z0-9]+$")
REDIS_URLS = {"type": "array", "items": s(pattern=r"^rediss?://.+$")}

probe = obj(
    {
        "enabled": B,
        "initialDelaySeconds": i(0),
        "periodSeconds": i(1),
        "timeoutSeconds": i(1),
        "failureThreshold": i(1),
        "successThreshold": i(1),
    }
)

issuer = obj(
    {
        "name": s(minLength=1),
        "issuer": s(minLength=1),
        "jwks_uri": HTTP_URL,
        "jwks_file": s(minLength=1, description="A file of extraConfigFiles (relative to the config folder)"),
        "audiences": STRLIST,
        "algorithms": {"type": "array", "minItems": 1, "items": ALG},
        "user_claim": s(minLength=1),
        "email_claim": s(minLength=1),
        "groups_claim": s(minLength=1),
        "preferred_username_claim": s(minLength=1),
        "leeway": DURATION,
    },
    required=["name", "issuer"],
)

# Secrets (client_secret, client_secret_file) are not allowed here: they come from `secrets`.
login = obj(
    {
        "issuer": s(minLength=1),
        "client_id": s(minLength=1),
        "redirect_url": HTTP_URL,
        "scopes": {"type": "array", "items": {"type": "string"}, "contains": {"const": "openid"}},
        "allowed_redirect_domains": STRLIST,
    },
    desc="Empty = no browser login. Secrets come from `secrets`, never from here.",
)
login_schema = {
    "oneOf": [
        {"type": "object", "maxProperties": 0},
        {**login, "required": ["issuer", "client_id", "redirect_url"]},
    ]
}

# Secrets (secret, secrets, secret_file) and redis_url are not allowed here.
session = obj(
    {
        "cookie_name": s(pattern=r"^[A-Za-z0-9_.-]+$"),
        "domain": s(),
        "secure": B,
        "same_site": {"enum": ["lax", "strict", "none"]},
        "ttl": DURATION,
        "refresh": DURATION,
        "store": {"enum": ["cookie", "redis"]},
    },
    desc="Secrets and redis_url come from `secrets` and `redis`, never from here.",
)

headers = obj(
    {
        "user": HEADER,
        "email": HEADER,
        "groups": HEADER,
        "preferred_username": HEADER,
        "pass_access_token": B,
    }
)

config = obj(
    {
        "server": obj(
            {
                "trusted_proxies": STRLIST,
                "header_read_timeout": DURATION,
                "max_connections": i(1, 4294967295),
                "token_cache_memory": SIZE,
            },
            desc="`listen` is set by the chart from containerPort, `grpc_listen` from grpc.",
        ),
        "issuers": {"type": "array", "items": issuer},
        "login": login_schema,
        "session": session,
        "headers": headers,
        "rules": obj({"default": POLICY}, desc="`paths` is set by the chart (rules.yaml)."),
    },
    desc="portcullis.toml as values, key for key.",
)

require = obj(
    {
        "groups_any": STRLIST,
        "groups_all": STRLIST,
        "scopes_all": STRLIST,
        "issuers": STRLIST,
        "claims": ANYOBJ,
    }
)
rule = obj(
    {
        "id": s(minLength=1),
        "hosts": STRLIST,
        "methods": STRLIST,
        "paths": STRLIST,
        "path_regex": s(minLength=1),
        "policy": POLICY,
        "require": require,
        "on_unauthenticated": {"enum": ["redirect", "unauthorized"]},
        "headers": STRMAP,
    },
    required=["id", "policy"],
)

schema = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Portcullis Helm chart values",
    **obj(
        {
            "replicaCount": i(0),
            "image": obj(
                {
                    "repository": s(minLength=1),
                    "tag": s(),
                    "digest": s(pattern=r"^(sha256:[a-f0-9]{64})?$"),
                    "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
                }
            ),
            "imagePullSecrets": OBJLIST,
            "nameOverride": s(),
            "fullnameOverride": s(),
            "serviceAccount": obj(
                {"create": B, "name": s(), "annotations": STRMAP, "automountServiceAccountToken": B}
            ),
            "podAnnotations": STRMAP,
            "podLabels": STRMAP,
            "podSecurityContext": ANYOBJ,
            "securityContext": ANYOBJ,
            "containerPort": i(1, 65535),
            "logFormat": {"enum": ["json", "text"]},
            "logLevel": s(minLength=1),
            "extraEnv": {
                "type": "array",
                "items": {"type": "object", "required": ["name"], "properties": {"name": s(minLength=1)}},
            },
            "resources": ANYOBJ,
            "livenessProbe": probe,
            "readinessProbe": probe,
            "lifecycle": obj({"preStopSleepSeconds": i(0, 300)}),
            "terminationGracePeriodSeconds": i(0),
            "topologySpread": obj(
                {
                    "enabled": B,
                    "maxSkew": i(1),
                    "whenUnsatisfiable": {"enum": ["ScheduleAnyway", "DoNotSchedule"]},
                    "zones": B,
                }
            ),
            "topologySpreadConstraints": OBJLIST,
            "nodeSelector": STRMAP,
            "tolerations": OBJLIST,
            "affinity": ANYOBJ,
            "priorityClassName": s(),
            "service": obj(
                {
                    "type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                    "port": i(1, 65535),
                    "annotations": STRMAP,
                }
            ),
            "grpc": obj({"enabled": B, "port": i(1, 65535)}),
            "ingress": obj(
                {
                    "enabled": B,
                    "className": s(),
                    "annotations": STRMAP,
                    "host": s(minLength=1),
                    "paths": {"type": "array", "minItems": 1, "items": s(pattern="^/")},
                    "tls": OBJLIST,
                }
            ),
            "existingConfigMap": s(),
            "config": config,
            "rules": {"type": "array", "items": rule},
            "extraConfigFiles": {
                "type": "object",
                "propertyNames": {"pattern": r"^[-._a-zA-Z0-9]+$", "not": {"enum": ["portcullis.toml", "rules.yaml"]}},
                "additionalProperties": {"type": "string"},
            },
            "secrets": obj(
                {
                    "sessionSecret": s(),
                    "clientSecret": s(),
                    "existingSecret": s(),
                    "sessionSecretKey": s(pattern=r"^[-._a-zA-Z0-9]+$"),
                    "clientSecretKey": s(pattern=r"^[-._a-zA-Z0-9]+$"),
                }
            ),
            "redis": obj(
                {
                    "enabled": B,
                    "url": s(pattern=r"^(rediss?://.+)?$"),
                    "existingSecret": s(),
                    "existingSecretKey": SECRET_KEY,
                    "cluster": obj({"urls": REDIS_URLS, "existingSecret": s(), "existingSecretKey": SECRET_KEY}),
                    "sentinel": obj(
                        {
                            "urls": REDIS_URLS,
                            "existingSecret": s(),
                            "existingSecretKey": SECRET_KEY,
                            "master": s(pattern=r"^\S*$"),
                        }
                    ),
                    "ca": obj({"existingSecret": s(), "existingSecretKey": SECRET_KEY}),
                },
                desc="Exactly one of url/existingSecret, cluster and sentinel when enabled (checked at render).",
            ),
            "autoscaling": obj(
                {
                    "enabled": B,
                    "minReplicas": i(1),
                    "maxReplicas": i(1),
                    "targetCPUUtilizationPercentage": i(0, 100),
                    "targetMemoryUtilizationPercentage": i(0, 100),
                }
            ),
            "podDisruptionBudget": obj(
                {"enabled": B, "minAvailable": INT_OR_PERCENT, "maxUnavailable": INT_OR_PERCENT}
            ),
            "serviceMonitor": obj(
                {
                    "enabled": B,
                    "namespace": s(),
                    "labels": STRMAP,
                    "interval": s(pattern="^[0-9]+(ms|s|m|h)$"),
                    "scrapeTimeout": s(pattern="^[0-9]+(ms|s|m|h)$"),
                    "relabelings": OBJLIST,
                    "metricRelabelings": OBJLIST,
                }
            ),
            "networkPolicy": obj(
                {
                    "enabled": B,
                    "ingressNamespaces": STRLIST,
                    "ingressPodLabels": STRMAP,
                    "metricsNamespaces": STRLIST,
                    "extraFrom": OBJLIST,
                }
            ),
            "dashboard": obj(
                {"enabled": B, "namespace": s(), "labels": STRMAP, "annotations": STRMAP}
            ),
        },
        required=["image", "config", "rules"],
    ),
}
# Helm passes `global` to every chart: allow it at the top level.
schema["properties"]["global"] = {"type": "object"}

if __name__ == "__main__":
    OUT.write_text(json.dumps(schema, indent=2) + "\n")
    print(f"wrote {OUT}")
