// The OpenID provider of the browser-login end-to-end tests (panva/oidc-provider 9).
//
//   node idp.mjs --port P --redirect-uri URL --post-logout-redirect-uri URL [--claims-in-id-token]
//
// Issuer `http://127.0.0.1:<P>` (no trailing slash: how its discovery document spells it).
// One confidential client `portcullis` (secret `portcullis-secret`, client_secret_basic or
// client_secret_post) for the authorization code flow with PKCE required, refresh tokens, and
// RP-initiated logout back to the given post-logout URL.
//
// The sign-in page is oidc-provider's own dev page (devInteractions): any login and password
// sign in, and the login becomes the subject. Every account has
//   email               <login>@example.com (verified)
//   preferred_username  <login>
//   groups              ["admins", "dev"]   (scope `groups`)
//
// By default the ID token of the code flow carries only the protocol claims (oidc-provider's
// default, `conformIdTokenClaims`), so the relying party has to ask userinfo for the rest;
// `--claims-in-id-token` puts the requested claims into the ID token too.
//
// Prints "ready" on stdout once it listens; SIGTERM stops it.

import { generateKeyPairSync } from 'node:crypto';
import { parseArgs } from 'node:util';
import Provider from 'oidc-provider';

export const GROUPS = ['admins', 'dev'];

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    'post-logout-redirect-uri': { type: 'string', multiple: true },
    'claims-in-id-token': { type: 'boolean', default: false },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port <= 0 || !values['redirect-uri']) {
  console.error('usage: node idp.mjs --port P --redirect-uri URL [--post-logout-redirect-uri URL] [--claims-in-id-token]');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'e2e-rs256', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  clients: [
    {
      client_id: 'portcullis',
      client_secret: 'portcullis-secret',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: values['redirect-uri'],
      post_logout_redirect_uris: values['post-logout-redirect-uri'] ?? [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
    groups: ['groups'],
  },
  conformIdTokenClaims: !values['claims-in-id-token'],
  pkce: { required: () => true },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@example.com`,
          email_verified: true,
          preferred_username: id,
          name: id,
          groups: GROUPS,
        };
      },
    };
  },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  // A login over plain http on loopback: the interaction cookies must not demand https.
  cookies: { long: { secure: false }, short: { secure: false } },
});

provider.on('server_error', (ctx, error) => console.error('server_error', error));
provider.on('authorization.error', (ctx, error) => console.error('authorization.error', error.message, error.error_description));
provider.on('grant.error', (ctx, error) => console.error('grant.error', error.message, error.error_description));
provider.on('end_session.error', (ctx, error) => console.error('end_session.error', error.message, error.error_description));

const server = provider.listen(port, '127.0.0.1', () => {
  console.log('ready');
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.closeAllConnections?.();
    server.close(() => process.exit(0));
  });
}
