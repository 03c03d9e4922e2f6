// Lists events with @workos-inc/node 12.x and 8.x (each deserializes every known event name with
// the resource's own deserializer, so a wrong shape throws). Env: WORKOS_HOST, WORKOS_PORT,
// WORKOS_KEY, EVENTS (comma-joined WorkOS names). Prints one JSON line per SDK: {sdk, events}.
import { WorkOS as WorkOS12 } from '@workos-inc/node';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { WorkOS: WorkOS8 } = require('workos-node-8');
const opts = { apiHostname: process.env.WORKOS_HOST, port: Number(process.env.WORKOS_PORT), https: false };
const events = process.env.EVENTS.split(',');
for (const [sdk, workos] of [['node-12', new WorkOS12(process.env.WORKOS_KEY, opts)], ['node-8', new WorkOS8(process.env.WORKOS_KEY, opts)]]) {
  const page = await workos.events.listEvents({ events, limit: 100 });
  console.log(JSON.stringify({ sdk, events: page.data.map((e) => ({ event: e.event, id: e.data.id, state: e.data.state, type: e.data.type, email: e.data.email, status: e.data.status })) }));
}
