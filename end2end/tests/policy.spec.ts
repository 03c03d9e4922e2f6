import { test, expect, APIRequestContext, Page } from '@playwright/test';

// The access policy page: the admin turns on "SSO required" for the organization's domain; the
// simulator then shows that accepting an invitation for an address there goes through SSO, and
// the control points say so in words. The organization has a verified domain and an active OIDC
// connection to the real OpenID Provider .ci/e2e starts; the vendor turned SSO-required off first.
const apiKey = process.env.E2E_API_KEY ?? '';
const opUrl = process.env.E2E_OP_URL ?? '';

async function orgWithSso(request: APIRequestContext, domain: string) {
  const headers = { Authorization: `Bearer ${apiKey}` };
  const org = (await (await request.post('/api/v1/organizations', { headers, data: { name: `Policy ${domain}` } })).json()).id as string;
  expect((await request.post(`/api/v1/organizations/${org}/domains`, { headers, data: { domain, verified: true } })).status()).toBe(201);
  const conn = await request.post(`/api/v1/organizations/${org}/connections`, {
    headers,
    data: { type: 'oidc', name: 'Test IdP', oidc: { issuer: opUrl, client_id: 'lanyard-test', client_secret: 'lanyard-test-secret-0123456789abcdef0123456789' } },
  });
  expect(conn.status()).toBe(201);
  const connId = (await conn.json()).id;
  expect((await request.patch(`/api/v1/connections/${connId}`, { headers, data: { state: 'active' } })).status()).toBe(200);
  const off = await request.patch(`/api/v1/organizations/${org}/policy`, { headers, data: { sso_required_domains: [] } });
  expect(off.status()).toBe(200);
  const link = await request.post('/api/v1/portal/links', { headers, data: { organization_id: org, intents: ['sso', 'invitations'] } });
  return (await link.json()).link as string;
}

async function simulateInvitation(page: Page, email: string) {
  await page.getByTestId('sim-email').fill(email);
  await page.getByTestId('sim-path').selectOption('invitation');
  await page.getByTestId('sim-submit').click();
  await expect(page.getByTestId('sim-result')).toContainText(email);
}

async function journey(page: Page, request: APIRequestContext, js: boolean) {
  const domain = `policy-${js ? 'js' : 'nojs'}-${Date.now()}.test`;
  await page.goto(await orgWithSso(request, domain));
  await page.getByTestId('redeem').click();
  await expect(page).toHaveURL(/\/portal$/);
  if (js) await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByTestId('policy-link').click();
  await expect(page.getByRole('heading', { name: 'Access policy' })).toBeVisible();
  const invitationPoint = page.locator('[data-testid="control-point"][data-key="invitation"]');
  await expect(invitationPoint).toContainText('Invitations need only the emailed link');
  await expect(page.locator('[data-testid="control-point"][data-key="jit_provisioning"]')).toContainText(
    `People with an @${domain} address who sign in through Test IdP OIDC are added as Member`,
  );

  // Before: the emailed link is enough.
  await simulateInvitation(page, `dana@${domain}`);
  await expect(page.locator('[data-testid="sim-reason"][data-rule="sso_required"]')).toHaveAttribute('data-outcome', 'info');

  // A bad domain is refused, naming the field; then a preview, then the change.
  await page.getByTestId('sso-required-domains').fill('not-ours.test');
  await page.getByTestId('policy-save').click();
  await expect(page.getByTestId('form-error')).toContainText('not-ours.test is not one of this organization');
  await page.getByTestId('sso-required-domains').fill(domain);
  await page.getByTestId('policy-dry-run').check();
  await page.getByTestId('policy-save').click();
  await expect(page.getByTestId('policy-impact')).toContainText('Preview');
  await expect(invitationPoint).toContainText('Invitations need only the emailed link');
  await page.getByTestId('sso-required-domains').fill(domain);
  await page.getByTestId('policy-dry-run').uncheck();
  await page.getByTestId('policy-save').click();
  await expect(page.getByTestId('policy-saved')).toBeVisible();

  // After: the control point says so in words, and the simulator shows acceptance through SSO.
  await expect(invitationPoint).toContainText(`Invitations to @${domain} addresses go through single sign-on with Test IdP OIDC`);
  await simulateInvitation(page, `dana@${domain}`);
  const sso = page.locator('[data-testid="sim-reason"][data-rule="sso_required"]');
  await expect(sso).toHaveAttribute('data-outcome', 'allow');
  await expect(sso).toContainText('accepting goes through Test IdP');
  await expect(page.getByTestId('sim-result')).toHaveAttribute('data-decision', 'allow');
}

test('an admin requires SSO for the domain; the simulator and the control points say so (JavaScript on)', async ({ page, request }) => {
  await journey(page, request, true);
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });
  test('the same with plain form posts (JavaScript off)', async ({ page, request }) => {
    await journey(page, request, false);
  });
});
