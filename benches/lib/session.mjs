// Mints a session cookie value as Portcullis seals it in cookie mode (src/session/codec.rs: the
// `cookie` crate's private jar, AES-256-GCM under the HKDF-expanded [session] secret, the cookie
// name as associated data), for load tests that need signed-in users without a provider.
//   node benches/lib/session.mjs SECRET_BASE64 COOKIE_NAME ISSUER_NAME SUB [TTL_SECONDS]
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
const [secret, name, issuer, sub, ttl = '3600'] = process.argv.slice(2);
const master = Buffer.from(secret, 'base64');
// HKDF-Expand only (the cookie crate takes the master key as the PRK), 64 bytes: signing, then
// encryption.
const info = Buffer.from('COOKIE;SIGNED:HMAC-SHA256;PRIVATE:AEAD-AES-256-GCM');
const t1 = createHmac('sha256', master).update(Buffer.concat([info, Buffer.from([1])])).digest();
const t2 = createHmac('sha256', master).update(Buffer.concat([t1, info, Buffer.from([2])])).digest();
const key = t2;
const now = Math.floor(Date.now() / 1000);
const exp = now + Number(ttl);
const envelope = {
  exp,
  session: {
    id: randomBytes(32).toString('base64url'), issuer,
    claims: { iss: issuer, sub, email: `${sub}@example.com`, groups: ['admins'] },
    id_token: 'not-a-real-id-token', access_token: null, refresh_token: null,
    created_at: now, refreshed_at: now, expires_at: exp,
  },
};
const nonce = randomBytes(12);
const cipher = createCipheriv('aes-256-gcm', key, nonce);
cipher.setAAD(Buffer.from(name));
const sealed = Buffer.concat([nonce, cipher.update(JSON.stringify(envelope)), cipher.final(), cipher.getAuthTag()]);
console.log(sealed.toString('base64'));
