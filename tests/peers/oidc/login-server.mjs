// A real OpenID provider (panva/oidc-provider 9) for the browser-login tests of Portcullis.
//
//   REDIRECT_BASE=https://auth.example.com BACKCHANNEL_URI=http://127.0.0.1:A/oauth2/backchannel_logout \
//     node login-server.mjs <port>
//
// Issuer `http://127.0.0.1:<port>`. One confidential client `portcullis` (secret
// `portcullis-secret`) for the authorization code flow with PKCE and refresh tokens, whose
// redirect URI is `<REDIRECT_BASE>/oauth2/callback` (the test plays the browser, so it need not
// resolve), post-logout redirect URI `<REDIRECT_BASE>/`, and back-channel logout URI
// `BACKCHANNEL_URI` when set (sid required).
// The dev login form accepts any login and password. Accounts: `sub` = the login, email
// `<login>@example.com`, groups `admins` and `devs`, or 150 long groups for a login starting
// with `big`. Groups reach only userinfo (oidc-provider keeps ID tokens to `sub` and the like).
// Access tokens live 60 s. Prints "ready" on stdout once it listens.

import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node login-server.mjs <port>');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const base = process.env.REDIRECT_BASE || 'https://auth.example.com';
const backchannel = process.env.BACKCHANNEL_URI;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'login-rs256', alg: 'RS256', use: 'sig' };

function groupsOf(login) {
  if (login.startsWith('big')) {
    return Array.from({ length: 150 }, (_, i) => `a-rather-long-group-name-number-${String(i).padStart(4, '0')}`);
  }
  return ['admins', 'devs'];
}

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  clients: [
    {
      client_id: 'portcullis',
      client_secret: 'portcullis-secret',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [`${base}/oauth2/callback`],
      post_logout_redirect_uris: [`${base}/`],
      ...(backchannel ? { backchannel_logout_uri: backchannel, backchannel_logout_session_required: true } : {}),
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
    groups: ['groups'],
  },
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
  },
});

for (const event of ['backchannel.success', 'backchannel.error', 'end_session.success', 'end_session.error', 'server_error']) {
  provider.on(event, (...args) => console.log(event, ...args.slice(1).map((a) => (a && a.message) ? `${a.message} ${a.cause}` : (a && a.clientId) || a)));
}

const server = provider.listen(port, '127.0.0.1', () => {
  console.log('ready');
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
