# The configurations benches/compare.sh runs, written into a folder: one Portcullis config and
# rule file for every case, Apache with mod_oauth2, and nginx with `auth_request`.
# Sourced by compare.sh; each function takes the folder and the ports it needs.

# Portcullis: one issuer (RS256 keys from the peers server's /jwks.json) with introspection, a
# Kratos-shaped session check, an `http` authorizer and an identity token key; a rule per case.
#   write_portcullis_config DIR LISTEN GRPC_LISTEN PEERS_URL ISSUER AUDIENCE
write_portcullis_config() {
    local dir=$1 listen=$2 grpc=$3 peers=$4 issuer=$5 audience=$6
    mkdir -p "$dir/rules"
    cat >"$dir/portcullis.toml" <<TOML
[server]
listen = "$listen"
grpc_listen = "$grpc"

[[issuers]]
name = "bench"
issuer = "$issuer"
jwks_uri = "$peers/jwks.json"
audiences = ["$audience"]
algorithms = ["RS256"]

[issuers.introspection]
url = "$peers/introspect"
client_id = "portcullis"
client_secret = "bench-secret"
cache_ttl = "1h"

[[session_checks]]
name = "kratos"
url = "$peers/sessions/whoami"
cookies = ["ory_kratos_session"]
cache_ttl = "1h"

[[authorizers]]
name = "policy"
kind = "http"
url = "$peers/authorize"
cache_ttl = "1h"

[identity_token]
key_file = "$PWD/tests/fixtures/keys/rsa2.pem"
issuer = "https://auth.bench.example/"
ttl = "10m"

[rules]
paths = ["$dir/rules/"]
default = "deny"
TOML
    cat >"$dir/rules/bench.yaml" <<'YAML'
- id: public
  paths: ["/public/**"]
  policy: allow

# As the quickstart's admin rule, which the issue's first figures used.
- id: jwt
  paths: ["/jwt/**"]
  policy: authenticated
  credentials: [bearer]
  require:
    groups_any: [admins, ops]
  headers:
    X-Auth-Request-Tenant: "{claims.tenant}"

- id: opaque
  paths: ["/opaque/**"]
  policy: authenticated
  credentials: [bearer]
  require:
    groups_any: [admins]

- id: session-check
  paths: ["/session/**"]
  policy: authenticated
  credentials: [kratos]
  require:
    groups_any: [admins]

- id: expression
  paths: ["/expression/**"]
  policy: authenticated
  credentials: [bearer]
  require:
    expression: "'dev' in groups && claims.email_verified"

- id: authorizer
  paths: ["/authorizer/**"]
  policy: authenticated
  credentials: [bearer]
  require:
    authorizer: policy

- id: identity-token
  paths: ["/identity-token/**"]
  policy: authenticated
  credentials: [bearer]
  identity_token:
    audience: bench-upstream
YAML
}

# Apache 2.4 with the event MPM (its fastest here), mod_oauth2 validating bearer JWTs against
# the same JWKS URL on /jwt/, a static file behind it, no access log, unlimited keep-alive.
# Children run as www-data, so DIR must be readable by it.
#   write_apache_config DIR PORT JWKS_URL
write_apache_config() {
    local dir=$1 port=$2 jwks=$3 modules=/usr/lib/apache2/modules
    mkdir -p "$dir/www/jwt" "$dir/run"
    echo ok >"$dir/www/jwt/ok.txt"
    chown -R www-data:www-data "$dir/run" 2>/dev/null || true
    cat >"$dir/httpd.conf" <<CONF
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$dir/run/httpd.pid"
DefaultRuntimeDir "$dir/run"
ErrorLog /dev/stderr
LogLevel warn
User www-data
Group www-data

LoadModule mpm_event_module $modules/mod_mpm_event.so
LoadModule authn_core_module $modules/mod_authn_core.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule authz_user_module $modules/mod_authz_user.so
LoadModule oauth2_module $modules/mod_oauth2.so

StartServers 2
ServerLimit 2
ThreadsPerChild 64
MinSpareThreads 64
MaxSpareThreads 128
MaxRequestWorkers 128
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30

DocumentRoot "$dir/www"
<Directory "$dir/www">
    Require all granted
</Directory>

# iat is not checked: the token is minted before the run, which may outlast mod_oauth2's
# default iat slack; validation results are cached by token hash (the default shm cache).
<Location /jwt/>
    AuthType oauth2
    OAuth2TokenVerify jwks_uri $jwks verify.iat=skip
    Require valid-user
</Location>
CONF
}

# nginx with one worker (as the tests run it), no access log: on AUTH_PORT every request is
# authorised by an `auth_request` to Portcullis's /auth (as examples/nginx/nginx.conf does), on
# STATIC_PORT by an `auth_request` to a location that returns 200, on STUB_PORT by one proxied
# (like Portcullis's) to an nginx server that returns 200 with no body on STUB_AUTH_PORT; all
# then proxy to a static 200 on APP_PORT. Upstream connections are kept alive (64 idle ones, more
# than the bench's connections) where nginx can: it closes an auth connection whose answer
# has a body, as it does not read it.
#   write_nginx_config DIR AUTH_PORT STATIC_PORT STUB_PORT STUB_AUTH_PORT APP_PORT PORTCULLIS_LISTEN
write_nginx_config() {
    local dir=$1 auth=$2 static=$3 stub=$4 stub_auth=$5 app=$6 portcullis=$7
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;

events {
    worker_connections 1024;
}

http {
    access_log off;

    upstream portcullis {
        server $portcullis;
        keepalive 64;
    }

    upstream stub_auth {
        server 127.0.0.1:$stub_auth;
        keepalive 64;
    }

    upstream app {
        server 127.0.0.1:$app;
        keepalive 64;
    }

    server {
        listen 127.0.0.1:$app;
        location / {
            return 200 "ok\n";
        }
    }

    server {
        listen 127.0.0.1:$stub_auth;
        location / {
            return 200;
        }
    }

    server {
        listen 127.0.0.1:$stub;

        location = /_stub_auth {
            internal;
            proxy_pass http://stub_auth/auth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URL \$scheme://\$http_host\$request_uri;
            proxy_set_header X-Original-Method \$request_method;
        }

        location / {
            auth_request /_stub_auth;
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }

    server {
        listen 127.0.0.1:$auth;

        location = /_portcullis {
            internal;
            proxy_pass http://portcullis/auth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URL \$scheme://\$http_host\$request_uri;
            proxy_set_header X-Original-Method \$request_method;
        }

        location / {
            auth_request /_portcullis;
            auth_request_set \$portcullis_user \$upstream_http_x_auth_request_user;
            auth_request_set \$portcullis_groups \$upstream_http_x_auth_request_groups;
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Auth-Request-User \$portcullis_user;
            proxy_set_header X-Auth-Request-Groups \$portcullis_groups;
        }
    }

    server {
        listen 127.0.0.1:$static;

        location = /_static_auth {
            internal;
            return 200;
        }

        location / {
            auth_request /_static_auth;
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF
}
