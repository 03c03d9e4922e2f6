import * as OTPAuth from 'otpauth';
import { test, expect, env } from './fixtures';

// The pictures in docs/screenshots/, taken from the real pages: `E2E_SCREENSHOTS=1 bash .ci/e2e
// screenshots` (on a fresh server: it enrols the staff member .ci/e2e created). Skipped otherwise,
// so that the test command never rewrites committed files.
const shots = process.env.E2E_SCREENSHOTS ? 'docs/screenshots' : '';

test('screenshots of the guided SSO setup, the TOTP enrolment and the console tenant page', async ({ page, request, vendor, openPortal, browser }) => {
  test.skip(!shots, 'set E2E_SCREENSHOTS=1 to refresh docs/screenshots');
  await page.setViewportSize({ width: 1100, height: 900 });
  const idpUrl = env.samlIdpUrl;
  const metadata = await (await request.get(`${idpUrl}/metadata`)).text();
  const { orgId } = await openPortal({ name: 'Acme Corp', domain: 'acme-shots.test', intents: ['sso', 'dsync', 'domain_verification', 'invitations', 'audit_logs'] });
  await page.screenshot({ path: `${shots}/portal-overview.png`, fullPage: true });
  await page.goto('/portal/sso/setup');
  await page.screenshot({ path: `${shots}/sso-setup-choose.png`, fullPage: true });
  await page.getByTestId('idp-okta').check();
  await page.getByTestId('start-setup').click();
  await expect(page.getByTestId('setup-step-1')).toBeVisible();
  await page.screenshot({ path: `${shots}/sso-setup-step1-values.png`, fullPage: true });
  await page.getByTestId('next-step').click();
  await page.getByTestId('metadata-xml').fill(metadata);
  await page.screenshot({ path: `${shots}/sso-setup-step2-idp.png`, fullPage: true });
  await page.getByTestId('save-details').click();
  await request.post(`${idpUrl}/_test/mode`, { data: {} });
  await request.post(`${idpUrl}/_test/user`, { data: { name_id: 'it@acme-shots.test', email: 'it@acme-shots.test', first_name: 'Ida', last_name: 'Tech', groups: ['IT'] } });
  await page.getByTestId('run-test').click();
  await expect(page.getByTestId('test-result')).toContainText('succeeded');
  await page.screenshot({ path: `${shots}/sso-setup-step3-test.png`, fullPage: true });
  await page.getByTestId('next-step').click();
  await page.getByTestId('activate').click();
  await expect(page.getByTestId('setup-done')).toBeVisible();
  await page.screenshot({ path: `${shots}/sso-setup-step4-on.png`, fullPage: true });

  // Some activity for the charts: people signing in, a directory pushing.
  for (const who of ['dana', 'lee', 'sam']) {
    const ctx = await browser.newContext();
    const p = await ctx.newPage();
    await request.post(`${idpUrl}/_test/user`, { data: { name_id: `${who}@acme-shots.test`, email: `${who}@acme-shots.test`, first_name: who } });
    await p.goto(`/sso/authorize?organization=${orgId}&redirect_uri=${encodeURIComponent(`${env.baseURL}/e2e/vendor-callback`)}&state=s`);
    await expect(p).toHaveURL(/\/e2e\/vendor-callback\?code=/);
    await ctx.close();
  }
  const dir = await (await request.post(`/api/v1/organizations/${orgId}/directories`, { headers: vendor.headers, data: { type: 'okta', name: 'Okta' } })).json();
  const scim = { Authorization: `Bearer ${dir.bearer_token}`, 'Content-Type': 'application/scim+json' };
  for (const who of ['ana', 'ben', 'cho', 'dev']) {
    await request.post(`/scim/v2/${dir.id}/Users`, { headers: scim, data: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `${who}@acme-shots.test`, emails: [{ value: `${who}@acme-shots.test`, primary: true }], active: true } });
  }
  await request.get(`/scim/v2/${dir.id}/Users?filter=bad`, { headers: scim });
  await page.goto('/portal/directories');
  await page.screenshot({ path: `${shots}/portal-directories.png`, fullPage: true });

  // The staff member's enrolment page (QR code), then the console tenant page with its charts.
  const staff = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const s = await staff.newPage();
  await s.goto(env.staffLink);
  await expect(s.getByTestId('totp-qr')).toBeVisible();
  await s.screenshot({ path: `${shots}/console-totp-enrolment.png`, fullPage: true });
  const uri = await s.getByTestId('totp-uri').inputValue();
  const totp = OTPAuth.URI.parse(uri) as OTPAuth.TOTP;
  await s.getByTestId('password').fill('support-console-passphrase');
  await s.getByTestId('password-confirm').fill('support-console-passphrase');
  await s.getByTestId('code').fill(totp.generate());
  await s.getByTestId('complete-setup').click();
  await expect(s).toHaveURL(/\/console$/);
  await s.goto(`/console/organizations/${orgId}`);
  await expect(s.getByTestId('charts')).toBeVisible();
  await s.screenshot({ path: `${shots}/console-tenant.png`, fullPage: true });
  await staff.close();
});
