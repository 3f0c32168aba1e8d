// Sends one /auth request per token of FILE, CONCURRENCY at a time on keep-alive connections;
// prints "<requests> <seconds> <non-200 count>".
//   node benches/lib/send.mjs BASE_URL FILE CONCURRENCY
import { createReadStream } from 'node:fs';
import http from 'node:http';
import { createInterface } from 'node:readline';
const [base, file, concurrency] = process.argv.slice(2);
// Line by line: the whole file may be longer than a string can be.
const tokens = [];
for await (const line of createInterface({ input: createReadStream(file) })) {
  if (line) tokens.push(line);
}
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(concurrency) });
const ask = (token) => new Promise((resolve, reject) => {
  const request = http.get(`${base}/auth`, {
    agent,
    headers: { 'X-Original-URL': 'https://app.example.com/admin/', 'X-Original-Method': 'GET', Authorization: `Bearer ${token}` },
  }, (response) => { response.resume(); response.on('end', () => resolve(response.statusCode)); });
  request.on('error', reject);
});
let next = 0;
let failures = 0;
const start = process.hrtime.bigint();
await Promise.all(Array.from({ length: Number(concurrency) }, async () => {
  while (next < tokens.length) {
    if ((await ask(tokens[next++])) !== 200) failures++;
  }
}));
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
console.log(tokens.length, seconds.toFixed(2), failures);
agent.destroy();
