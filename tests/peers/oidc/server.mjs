// A real OpenID provider (panva/oidc-provider 9) for the Portcullis integration tests.
//
//   node server.mjs <port>
//
// Listens on 127.0.0.1:<port> with issuer `http://127.0.0.1:<port>` (no trailing slash: that is
// how its discovery document spells it). One confidential client `svc` (secret `svc-secret`)
// may use the client_credentials grant for the resource `urn:portcullis:api`, whose access
// tokens are RFC 9068 JWTs (`typ: at+jwt`, RS256) carrying at most the scope `api:read`.
// The signing key is generated at start-up. Prints "ready" on stdout once it listens.

import { generateKeyPairSync } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

export const RESOURCE = 'urn:portcullis:api';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node server.mjs <port>');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  clients: [
    {
      client_id: 'svc',
      client_secret: 'svc-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'api:read',
    },
  ],
  scopes: ['openid', 'offline_access', 'api:read', 'api:write'],
  features: {
    devInteractions: { enabled: false },
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
  },
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log('ready');
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
