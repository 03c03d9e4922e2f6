// A webhook receiver for the tests: verifies every delivery with the independent Standard Webhooks
// implementation from npm (`standardwebhooks`) and answers as the test asks.
//
//   POST /hook                  a delivery (verified with the secret set through /_control)
//   POST /_control {secret?, mode?, failFirst?, delayMs?}
//        mode: "ok" (204) | "fail" (500) | "gone" (410) | "redirect" (302) | "down" (connection reset)
//              | "hang" (reads the delivery, never answers: the sender's timeout must end it)
//        failFirst: answer 500 to the next N deliveries, then follow mode
//   GET  /_received             [{id, timestamp, verified, error?, status, body}] in arrival order
//   GET  /_stats                {maxInFlightPerId, maxInFlight}
//   GET  /_count                {received, unique, unverified, hanging}: cheap to poll (benches)
//
// Prints `READY <port>` once listening (RECEIVER_PORT=0 picks a free port).
import http from 'node:http';
import { Webhook } from 'standardwebhooks';

let secret = null;
let mode = 'ok';
let failFirst = 0;
let delayMs = 0;
const received = [];
const inFlightById = new Map();
let inFlight = 0;
let maxInFlight = 0;
let maxInFlightPerId = 0;
const uniqueIds = new Set();
let unverified = 0;
let hanging = 0;

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

const server = http.createServer(async (req, res) => {
  const body = await readBody(req);
  if (req.url === '/_control' && req.method === 'POST') {
    const c = JSON.parse(body || '{}');
    if (c.secret !== undefined) secret = c.secret;
    if (c.mode !== undefined) mode = c.mode;
    if (c.failFirst !== undefined) failFirst = c.failFirst;
    if (c.delayMs !== undefined) delayMs = c.delayMs;
    res.writeHead(204).end();
    return;
  }
  if (req.url === '/_received') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(received));
    return;
  }
  if (req.url === '/_count') {
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ received: received.length, unique: uniqueIds.size, unverified, hanging }));
    return;
  }
  if (req.url === '/_stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ maxInFlight, maxInFlightPerId }));
    return;
  }
  if (req.url !== '/hook' || req.method !== 'POST') {
    res.writeHead(404).end();
    return;
  }
  if (mode === 'down') {
    req.socket.destroy();
    return;
  }
  if (mode === 'hang') {
    // Never answered; the request ends when the sender gives up and closes the connection.
    hanging += 1;
    return;
  }
  const id = req.headers['webhook-id'];
  inFlight += 1;
  maxInFlight = Math.max(maxInFlight, inFlight);
  const n = (inFlightById.get(id) ?? 0) + 1;
  inFlightById.set(id, n);
  maxInFlightPerId = Math.max(maxInFlightPerId, n);
  let verified = false;
  let error;
  try {
    new Webhook(secret).verify(body, {
      'webhook-id': req.headers['webhook-id'],
      'webhook-timestamp': req.headers['webhook-timestamp'],
      'webhook-signature': req.headers['webhook-signature'],
    });
    verified = true;
  } catch (e) {
    error = String(e && e.message ? e.message : e);
  }
  if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
  let status = 204;
  if (failFirst > 0) {
    failFirst -= 1;
    status = 500;
  } else if (mode === 'fail') status = 500;
  else if (mode === 'gone') status = 410;
  else if (mode === 'redirect') status = 302;
  uniqueIds.add(id);
  if (!verified) unverified += 1;
  received.push({ id, timestamp: req.headers['webhook-timestamp'], signature: req.headers['webhook-signature'], authorization: req.headers['authorization'], ddApiKey: req.headers['dd-api-key'], verified, error, status, body: JSON.parse(body) });
  inFlight -= 1;
  inFlightById.set(id, inFlightById.get(id) - 1);
  const headers = status === 302 ? { location: 'http://127.0.0.1:1/' } : {};
  res.writeHead(status, headers).end(status === 500 ? 'receiver says no' : '');
});

server.listen(Number(process.env.RECEIVER_PORT ?? 0), '127.0.0.1', () => {
  console.log(`READY ${server.address().port}`);
});
