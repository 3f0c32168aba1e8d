// The real OpenID provider of the Portcullis integration tests (panva/oidc-provider 9), one
// script for every test that needs one (launched by tests/it/common/oidc.rs).
//
//   node provider.mjs --port P
//        [--redirect-uri URL]... [--post-logout-redirect-uri URL]... [--backchannel-uri URL]
//        [--claims-in-id-token] [--service-client] [--introspection]
//
// Issuer `http://127.0.0.1:<P>` (no trailing slash: how its discovery document spells it). The
// signing key (RS256, kid `test-rs256`) is generated at start-up.
//
// With --redirect-uri: one confidential client `portcullis` (secret `portcullis-secret`,
// client_secret_basic) for the authorization code flow with PKCE required and refresh tokens
// (scope `offline_access`), RP-initiated logout back to a --post-logout-redirect-uri, and
// back-channel logout to --backchannel-uri when given (sid required). The sign-in page is
// oidc-provider's own dev page (devInteractions): any login and password sign in, and the login
// becomes the subject. Every account has
//   email               <login>@example.com (verified)
//   preferred_username  <login>
//   groups              ["admins", "devs"], or 150 long groups for a login starting with `big`
// By default the ID token of the code flow carries only the protocol claims (oidc-provider's
// `conformIdTokenClaims`), so the relying party asks userinfo for the rest;
// --claims-in-id-token puts the requested claims into the ID token too. Access tokens live 60 s.
//
// With --service-client: a confidential client `svc` (secret `svc-secret`) may use the
// client_credentials grant for the resource `urn:portcullis:api`, whose access tokens are
// RFC 9068 JWTs (`typ: at+jwt`, RS256) carrying at most the scope `api:read`.
//
// With --introspection (not with --service-client): token introspection (RFC 7662) and
// revocation (RFC 7009) on, a confidential client `introspector` (secret `introspector-secret`,
// no grants) that may introspect any token, and a confidential client `opaque-svc` (secret
// `opaque-svc-secret`) for the client_credentials grant with scope `api:read`. Access tokens are
// opaque (no resource indicators), for the code flow too; those of a signed-in account carry its
// `email` and `groups` as extra claims, which the introspection answer shows.
//
// Prints "ready" on stdout once it listens; SIGTERM stops it.

import { generateKeyPairSync } from 'node:crypto';
import { parseArgs } from 'node:util';
import Provider, { errors } from 'oidc-provider';

export const RESOURCE = 'urn:portcullis:api';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    'post-logout-redirect-uri': { type: 'string', multiple: true },
    'backchannel-uri': { type: 'string' },
    'claims-in-id-token': { type: 'boolean', default: false },
    'service-client': { type: 'boolean', default: false },
    introspection: { type: 'boolean', default: false },
  },
});
const port = Number(values.port);
const anyClient = values['redirect-uri'] || values['service-client'] || values.introspection;
if (!Number.isInteger(port) || port <= 0 || !anyClient || (values['service-client'] && values.introspection)) {
  console.error(
    'usage: node provider.mjs --port P [--redirect-uri URL]... [--post-logout-redirect-uri URL]... ' +
      '[--backchannel-uri URL] [--claims-in-id-token] [--service-client | --introspection]',
  );
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const backchannel = values['backchannel-uri'];

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', alg: 'RS256', use: 'sig' };

function groupsOf(login) {
  if (login.startsWith('big')) {
    return Array.from({ length: 150 }, (_, i) => `a-rather-long-group-name-number-${String(i).padStart(4, '0')}`);
  }
  return ['admins', 'devs'];
}

const clients = [];
if (values['redirect-uri']) {
  clients.push({
    client_id: 'portcullis',
    client_secret: 'portcullis-secret',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: values['redirect-uri'],
    post_logout_redirect_uris: values['post-logout-redirect-uri'] ?? [],
    ...(backchannel ? { backchannel_logout_uri: backchannel, backchannel_logout_session_required: true } : {}),
    token_endpoint_auth_method: 'client_secret_basic',
  });
}
if (values['service-client']) {
  clients.push({
    client_id: 'svc',
    client_secret: 'svc-secret',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'api:read',
  });
}

if (values.introspection) {
  clients.push(
    {
      client_id: 'introspector',
      client_secret: 'introspector-secret',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: 'opaque-svc',
      client_secret: 'opaque-svc-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'api:read',
    },
  );
}

const introspection = values.introspection
  ? {
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
    }
  : {};

// Resource indicators only for the service client: with them on, code-flow access tokens would
// be for the resource too, and userinfo refuses those.
const service = values['service-client']
  ? {
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resourceIndicator) => {
          if (resourceIndicator !== RESOURCE) {
            throw new errors.InvalidTarget();
          }
          return {
            scope: 'api:read api:write',
            audience: RESOURCE,
            accessTokenTTL: 600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    }
  : {};

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  clients,
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups', 'api:read', 'api:write'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
    groups: ['groups'],
  },
  conformIdTokenClaims: !values['claims-in-id-token'],
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({
      sub,
      email: `${sub}@example.com`,
      email_verified: true,
      preferred_username: sub,
      name: sub,
      groups: groupsOf(sub),
    }),
  }),
  ...(values.introspection
    ? {
        extraTokenClaims: async (ctx, token) =>
          token.accountId ? { email: `${token.accountId}@example.com`, groups: groupsOf(token.accountId) } : undefined,
      }
    : {}),
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  ttl: { AccessToken: 60, IdToken: 3600, RefreshToken: 86400, Session: 86400, Grant: 86400 },
  pkce: { required: () => true },
  // Test only: the back-channel logout goes to Portcullis on 127.0.0.1, which the provider's
  // SSRF guard (a dispatcher refusing special-use addresses) would refuse.
  fetch: (url, options) => {
    delete options.dispatcher;
    return globalThis.fetch(url, options);
  },
  features: {
    devInteractions: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    ...service,
    ...introspection,
  },
  // A login over plain http on loopback: the interaction cookies must not demand https.
  cookies: { long: { secure: false }, short: { secure: false } },
});

for (const event of [
  'backchannel.success',
  'backchannel.error',
  'end_session.success',
  'end_session.error',
  'authorization.error',
  'grant.error',
  'server_error',
]) {
  provider.on(event, (...args) =>
    console.log(event, ...args.slice(1).map((a) => (a && a.message ? `${a.message} ${a.error_description ?? ''} ${a.cause ?? ''}` : (a && a.clientId) || a))),
  );
}

const server = provider.listen(port, '127.0.0.1', () => {
  console.log('ready');
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.closeAllConnections?.();
    server.close(() => process.exit(0));
  });
}
