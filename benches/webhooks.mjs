// Drives benches/webhooks.sh: makes N events with the endpoint paused, enables it, and measures
// how fast the backlog reaches the receiver (every delivery verified by standardwebhooks).
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const { base, key, receiver } = args;
const n = Number(args.events ?? 2000);
const headers = { Authorization: `Bearer ${key}`, 'content-type': 'application/json' };
const api = async (method, path, body) => {
  const r = await fetch(base + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.json();
};
const rss = async () => {
  try {
    const s = await (await import('node:fs/promises')).readFile(`/proc/${args.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(s)[1]) / 1024;
  } catch { return NaN; }
};
const ep = await api('POST', '/api/v1/webhook_endpoints', { url: `${receiver}/hook` });
await fetch(`${receiver}/_control`, { method: 'POST', body: JSON.stringify({ secret: ep.secret }) });
await api('PATCH', `/api/v1/webhook_endpoints/${ep.id}`, { enabled: false });
let t0 = Date.now();
const conc = 8;
let made = 0;
await Promise.all(Array.from({ length: conc }, async () => {
  while (made < n) {
    made += 1;
    await api('POST', '/api/v1/organizations', { name: `Org ${made}` });
  }
}));
console.log(`made ${n} events in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
t0 = Date.now();
await api('PATCH', `/api/v1/webhook_endpoints/${ep.id}`, { enabled: true });
let got = 0;
let peak = 0;
while (got < n) {
  await new Promise((r) => setTimeout(r, 200));
  const all = await (await fetch(`${receiver}/_received`)).json();
  got = new Set(all.map((m) => m.id)).size;
  const bad = all.filter((m) => !m.verified).length;
  if (bad) throw new Error(`${bad} deliveries failed verification`);
  peak = Math.max(peak, await rss());
  if (Date.now() - t0 > 600_000) throw new Error(`only ${got} of ${n} delivered in 10 minutes`);
}
const secs = (Date.now() - t0) / 1000;
console.log(`delivered ${n} events in ${secs.toFixed(1)} s: ${(n / secs).toFixed(0)} events/s (all signatures verified); server RSS peak ${peak.toFixed(0)} MiB`);
