// The end of a WorkOS SSO sign-in as a vendor's Node code writes it: the code from the redirect
// for the profile and an access token (`sso.getProfileAndToken`), then the profile again with the
// access token (`sso.getProfile`). Runs @workos-inc/node 12.x and 8.x on one code each.
// Env: WORKOS_HOST, WORKOS_PORT, WORKOS_KEY, CODES (two codes, comma-joined), CLIENT_ID.
// Prints one JSON line per SDK: {sdk, profile, again, accessToken}.
import { WorkOS as WorkOS12 } from '@workos-inc/node';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { WorkOS: WorkOS8 } = require('workos-node-8');
const opts = { apiHostname: process.env.WORKOS_HOST, port: Number(process.env.WORKOS_PORT), https: false };
const [code12, code8] = process.env.CODES.split(',');
const clientId = process.env.CLIENT_ID;
for (const [sdk, workos, code] of [['node-12', new WorkOS12(process.env.WORKOS_KEY, opts), code12], ['node-8', new WorkOS8(process.env.WORKOS_KEY, opts), code8]]) {
  const { accessToken, profile } = await workos.sso.getProfileAndToken({ code, clientId });
  const again = await workos.sso.getProfile({ accessToken });
  let reused = null;
  try {
    await workos.sso.getProfileAndToken({ code, clientId });
  } catch (e) {
    reused = e.constructor.name;
  }
  let badToken = null;
  try {
    await workos.sso.getProfile({ accessToken: 'lanyard_sat_nope' });
  } catch (e) {
    badToken = e.constructor.name;
  }
  console.log(JSON.stringify({ sdk, profile, again, accessToken, reused, badToken }));
}
