// Audited writes, one organization against several at once: SCIM user creates (each one a
// directory user, an audit event on its organization's hash chain and an events-feed row) pushed
// into D directories of D organizations, C clients per directory. Prints creates/s, latency
// percentiles, the server's CPU and, on SQLite, the WAL file's size while it runs.
//
//   node benches/audited_writes.mjs --dirs URL,TOKEN[;URL,TOKEN…] [--users 2000] [--concurrency 8]
//        [--pid SERVER_PID] [--wal PATH] [--label TEXT] [--prefix TEXT]
// Run through benches/audited_writes.sh.
import { readFileSync, statSync } from 'node:fs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const dirs = (args.dirs ?? '').split(';').filter(Boolean).map((d) => {
  const [base, token] = d.split(',');
  return { base, token };
});
const usersPerDir = Number(args.users ?? 2000);
const concurrency = Number(args.concurrency ?? 8);
const pid = args.pid;
const wal = args.wal;
const label = args.label ?? `${dirs.length} organization(s)`;
const prefix = args.prefix ?? 'u';
if (!dirs.length) {
  console.error('usage: node benches/audited_writes.mjs --dirs URL,TOKEN[;URL,TOKEN…] [...]');
  process.exit(2);
}

function cpu() {
  if (!pid) return null;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}
function walMiB() {
  if (!wal) return null;
  try {
    return statSync(wal).size / 1048576;
  } catch {
    return 0;
  }
}
function pct(list, p) {
  const s = [...list].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

const walSizes = [];
const sampler = setInterval(() => {
  const w = walMiB();
  if (w !== null) walSizes.push(w);
}, 100);

const lat = [];
let failures = 0;
let firstFailure = null;
async function directory({ base, token }, d) {
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/scim+json' };
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < usersPerDir) {
        const i = next++;
        const userName = `${prefix}${d}-${i}@acme.test`;
        const t0 = performance.now();
        const r = await fetch(`${base}/Users`, {
          method: 'POST',
          headers,
          body: JSON.stringify({
            schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
            userName,
            name: { givenName: `First${i}`, familyName: `Last${i}` },
            emails: [{ primary: true, value: userName, type: 'work' }],
            displayName: `First${i} Last${i}`,
            externalId: `${prefix}${d}x${i}`,
            active: true,
          }),
        });
        const text = await r.text();
        if (r.status === 201) lat.push(performance.now() - t0);
        else {
          failures += 1;
          firstFailure ??= `${r.status} ${text.slice(0, 200)}`;
        }
      }
    }),
  );
}

const cpu0 = cpu();
const t0 = performance.now();
await Promise.all(dirs.map((d, i) => directory(d, i)));
const seconds = (performance.now() - t0) / 1000;
clearInterval(sampler);
const cpu1 = cpu();
const n = lat.length;
const walText = walSizes.length ? `  WAL max ${Math.max(...walSizes).toFixed(1)} MiB, end ${walMiB().toFixed(1)} MiB` : '';
const cpuText = cpu0 !== null ? `  server CPU ${(((cpu1 - cpu0) / seconds) * 100).toFixed(0)}%` : '';
console.log(
  `${label.padEnd(26)} ${String(dirs.length * concurrency).padStart(3)} clients  n=${String(n).padStart(6)}  ${(n / seconds).toFixed(0).padStart(6)} creates/s  p50 ${pct(lat, 50).toFixed(1).padStart(6)} ms  p99 ${pct(lat, 99).toFixed(1).padStart(6)} ms${cpuText}${walText}`,
);
if (failures) {
  console.log(`  ${failures} failed, first: ${firstFailure}`);
  process.exitCode = 1;
}
console.log(`RATE ${(n / seconds).toFixed(1)}`);
