import { APIRequestContext } from '@playwright/test';
import * as OTPAuth from 'otpauth';
import jsQR from 'jsqr';
import { PNG } from 'pngjs';
import { test, expect, env, Vendor } from './fixtures';

// The support console: a staff member enrols (password + TOTP, without JavaScript) from the
// setup link `lanyard staff create` printed (.ci/e2e exports it), signs in, finds the
// organization whose directory deactivated someone who is still active here, and sees the drift
// finding and why that person has access. TOTP codes come from npm `otpauth`.
const staffLink = env.staffLink;
const baseURL = env.baseURL;
const password = 'support-console-passphrase';
const email = 'support@vendor.test';

// The scenario, through the vendor API and the directory's SCIM endpoint: Dave was pushed
// deactivated, joined by invitation while the directory was not authoritative, then the
// directory became authoritative.
async function driftScenario(request: APIRequestContext, vendor: Vendor, name: string) {
  const headers = vendor.headers;
  const org = await vendor.createOrg(name);
  const dirResp = await request.post(`/api/v1/organizations/${org}/directories`, {
    headers,
    data: { type: 'okta', name: 'Okta', authoritative: false },
  });
  expect(dirResp.status()).toBe(201);
  const dir = await dirResp.json();
  const scim = { Authorization: `Bearer ${dir.bearer_token}`, 'Content-Type': 'application/scim+json' };
  const dave = `dave@${name.toLowerCase().replace(/[^a-z0-9]/g, '')}.test`;
  const pushed = await request.post(`/scim/v2/${dir.id}/Users`, {
    headers: scim,
    data: {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName: dave,
      emails: [{ value: dave, primary: true }],
      active: false,
    },
  });
  expect(pushed.status()).toBe(201);
  const inv = await request.post('/api/v1/invitations', { headers, data: { organization_id: org, email: dave } });
  expect(inv.status()).toBe(201);
  const accept = await request.post((await inv.json()).accept_url, { headers: { Origin: baseURL }, maxRedirects: 0 });
  expect(accept.status()).toBe(303);
  const patched = await request.patch(`/api/v1/directories/${dir.id}`, { headers, data: { authoritative: true } });
  expect(patched.status()).toBe(200);
  return { org, dave };
}

function totp(secret: string, offsetSeconds = 0) {
  const t = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' });
  return t.generate({ timestamp: Date.now() + offsetSeconds * 1000 });
}

test('a staff member enrols, signs in, finds the drifting organization and sees why', async ({ browser, request, vendor }) => {
  expect(staffLink, 'E2E_STAFF_LINK from .ci/e2e').toContain('/console/setup/');
  const name = `Drifting ${Date.now()}`;
  const { org, dave } = await driftScenario(request, vendor, name);

  // Enrolment works without JavaScript: a QR code (an SVG drawn by the server), and the secret
  // as text and as an otpauth:// URI.
  const nojs = await browser.newContext({ javaScriptEnabled: false });
  const p = await nojs.newPage();
  await p.goto(staffLink);
  const typed = (await p.getByTestId('totp-secret').innerText()).replace(/\s+/g, '');
  const uri = (await p.getByTestId('totp-uri').innerText()) || (await p.getByTestId('totp-uri').inputValue());
  expect(uri).toMatch(/^otpauth:\/\/totp\//);
  expect(new URL(uri).searchParams.get('secret')).toBe(typed);
  // What an authenticator app does: scan the code (npm jsqr reads the rendered pixels) and enrol
  // from what it decodes (npm otpauth parses the URI). The codes below come from that enrolment.
  const qr = p.getByTestId('totp-qr');
  await expect(qr).toHaveAttribute('role', 'img');
  const png = PNG.sync.read(await qr.screenshot());
  const scanned = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  expect(scanned, 'the QR code decodes').not.toBeNull();
  expect(scanned!.data).toBe(uri);
  const enrolled = OTPAuth.URI.parse(scanned!.data);
  expect(enrolled).toBeInstanceOf(OTPAuth.TOTP);
  expect(enrolled.issuer).not.toBe('');
  const secret = enrolled.secret.base32;
  expect(secret).toBe(typed);
  // A wrong code is refused and says which field.
  await p.getByTestId('password').fill(password);
  await p.getByTestId('password-confirm').fill(password);
  await p.getByTestId('code').fill('000000' === totp(secret) ? '111111' : '000000');
  await p.getByTestId('complete-setup').click();
  await expect(p.locator('body')).toContainText(/code/i);
  await p.getByTestId('password').fill(password);
  await p.getByTestId('password-confirm').fill(password);
  await p.getByTestId('code').fill(totp(secret));
  await p.getByTestId('complete-setup').click();
  await expect(p).toHaveURL(/\/console$/);
  await expect(p.getByTestId('staff-email')).toHaveText(email);
  // The setup link is spent.
  const again = await p.goto(staffLink);
  expect(again?.status()).toBe(410);
  await nojs.close();

  // Sign in with JavaScript on, with the next code (the one used at enrolment cannot be replayed).
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto('/console');
  await expect(page.getByTestId('go-sign-in')).toBeVisible();
  await page.goto('/console/signin');
  await page.getByTestId('email').fill(email);
  await page.getByTestId('password').fill(password);
  await page.getByTestId('code').fill(totp(secret, 30));
  await page.getByTestId('sign-in').click();
  await expect(page).toHaveURL(/\/console$/);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');

  // Find the organization and open it: the URL carries its id.
  await page.getByTestId('tenant-search').fill(name);
  await page.getByTestId('tenant-filter-submit').click();
  const row = page.getByTestId('tenant-row').filter({ hasText: name });
  await expect(row).toHaveCount(1);
  await expect(row.getByTestId('tenant-drift')).toHaveText('1');
  await row.getByTestId('tenant-link').click();
  await expect(page).toHaveURL(new RegExp(`/console/organizations/${org}$`));
  await expect(page.getByTestId('tenant-name')).toHaveText(name);
  const finding = page.locator('[data-testid="drift-finding"][data-kind="deactivated_in_directory"]');
  await expect(finding).toHaveCount(1);
  await expect(finding).toContainText(dave);
  await expect(page.getByTestId('signal').filter({ hasText: 'drift' })).toHaveCount(1);
  // The last 14 days at a glance: the directory's one SCIM request today, answered; deliveries.
  await expect(page).toHaveTitle(new RegExp(`^${name} · Lanyard support console$`));
  await expect(page.getByRole('navigation', { name: 'Breadcrumb' })).toContainText('Tenants');
  const scimChart = page.getByTestId('tenant-chart').filter({ hasText: 'SCIM requests from Okta' });
  await expect(scimChart).toHaveAttribute('data-ok', '1');
  await expect(scimChart).toHaveAttribute('data-bad', '0');
  await expect(scimChart.locator('svg[role="img"]')).toHaveAttribute('aria-label', /last 14 days: 1 answered, 0 failed/);
  await expect(page.getByTestId('tenant-chart').filter({ hasText: 'Webhook and log stream deliveries' })).toHaveCount(1);

  // Why does Dave have access? The grant chain says: an invitation.
  await finding.getByTestId('why-link').click();
  await expect(page.getByTestId('member-email')).toHaveText(dave);
  await expect(page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name })).toBeVisible();
  await expect(page.getByTestId('grants')).toContainText('invited by');
  await expect(page.locator('[data-testid="drift-finding"][data-kind="deactivated_in_directory"]')).toHaveCount(1);
  await ctx.close();
});
