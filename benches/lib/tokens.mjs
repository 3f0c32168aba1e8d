// Mints COUNT distinct RS256 tokens for the quickstart issuer to stdout, one a line, each with a
// `jti` and (when PAD is given) a `pad` claim of PAD bytes.
//   node benches/lib/tokens.mjs KEY.pem COUNT [PAD]
import { createPrivateKey, sign } from 'node:crypto';
import { openSync, readFileSync, writeSync } from 'node:fs';
const [keyFile, count, pad] = process.argv.slice(2);
const key = createPrivateKey(readFileSync(keyFile));
const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
const header = b64({ typ: 'JWT', alg: 'RS256', kid: 'demo-key' });
const now = Math.floor(Date.now() / 1000);
const padding = 'p'.repeat(Number(pad ?? 0));
const out = openSync('/dev/stdout', 'w');
for (let i = 0; i < Number(count); i++) {
  const claims = b64({ iss: 'portcullis-demo', aud: 'demo', sub: `user${i}`, groups: ['admins'], iat: now, exp: now + 3600, jti: String(i), ...(padding ? { pad: padding } : {}) });
  const input = `${header}.${claims}`;
  writeSync(out, `${input}.${sign('sha256', Buffer.from(input), key).toString('base64url')}\n`);
}
