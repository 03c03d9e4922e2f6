import { test, expect, APIRequestContext, Page } from '@playwright/test';

const apiKey = process.env.E2E_API_KEY ?? '';
const opUrl = process.env.E2E_OP_URL ?? '';
const clientId = 'lanyard-test';
const clientSecret = 'lanyard-test-secret-0123456789abcdef0123456789';

async function journey(page: Page, request: APIRequestContext, baseURL: string, js: boolean, domain: string) {
  expect(opUrl, 'E2E_OP_URL is set by .ci/e2e').toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  const headers = { Authorization: `Bearer ${apiKey}` };
  const orgId = (await (await request.post('/api/v1/organizations', { headers, data: { name: `SSO ${domain}` } })).json()).id;
  expect((await request.post(`/api/v1/organizations/${orgId}/domains`, { headers, data: { domain, verified: true } })).status()).toBe(201);
  const link = (await (await request.post('/api/v1/portal/links', { headers, data: { organization_id: orgId, intents: ['sso'] } })).json()).link;

  await page.goto(link);
  await page.getByTestId('redeem').click();
  if (js) await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByRole('link', { name: 'Single sign-on' }).click();
  await expect(page.getByRole('heading', { name: 'Single sign-on' })).toBeVisible();
  await expect(page.getByTestId('redirect-uri')).toHaveValue(`${baseURL}/sso/oidc/callback`);
  await expect(page.getByTestId('idp-steps')).toContainText('Okta Admin Console');

  const form = page.getByTestId('add-oidc');
  await form.getByLabel('Name').fill('Okta');
  await form.getByLabel('Issuer URL').fill(opUrl);
  await form.getByLabel('Client ID').fill(clientId);
  await form.getByLabel('Client secret').fill(clientSecret);
  await form.getByRole('button', { name: 'Save connection' }).click();
  const card = page.getByTestId('connection');
  await expect(card).toHaveCount(1);
  await expect(card.getByTestId('connection-state')).toHaveText('Draft');

  // Activation waits for a successful test.
  await card.getByRole('button', { name: 'Activate' }).click();
  await expect(page.getByTestId('form-error')).toContainText('Test sign-in');

  await request.post(`${opUrl}/_test/account`, { data: { sub: `admin-${domain}`, email: `it@${domain}`, given_name: 'Ida', family_name: 'Tech', groups: ['IT'] } });
  await page.getByTestId('connection').getByRole('link', { name: 'Test sign-in' }).click();
  await expect(page).toHaveURL(/\/portal\/sso\?connection=conn_/);
  await expect(page.getByTestId('test-result')).toContainText('Test sign-in succeeded');
  await expect(page.getByTestId('test-email')).toHaveText(`it@${domain}`);

  await page.getByTestId('connection').getByRole('button', { name: 'Activate' }).click();
  await expect(page.getByTestId('connection').getByTestId('connection-state')).toHaveText('Active');

  // An end user signs in to the vendor's product through the new connection (a fresh browser
  // session: otherwise the IdP would still know the admin).
  await page.context().clearCookies();
  await request.post(`${opUrl}/_test/account`, { data: { sub: `user-${domain}`, email: `dana@${domain}`, given_name: 'Dana' } });
  await page.goto(`/sso/authorize?organization=${orgId}&redirect_uri=${encodeURIComponent(`${baseURL}/e2e/vendor-callback`)}&state=vendor-state`);
  await expect(page).toHaveURL(/\/e2e\/vendor-callback\?code=/);
  const back = new URL(page.url());
  expect(back.searchParams.get('state')).toBe('vendor-state');
  const token = await request.post('/api/v1/sso/token', { headers, data: { code: back.searchParams.get('code') } });
  expect(token.status()).toBe(200);
  const profile = (await token.json()).profile;
  expect(profile.email).toBe(`dana@${domain}`);
  expect(profile.organization_id).toBe(orgId);
}

test('with JavaScript: connect an IdP, Test sign-in, activate, an end user signs in', async ({ page, request, baseURL }) => {
  await journey(page, request, baseURL!, true, 'sso-js.test');
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });
  test('the same with plain forms', async ({ page, request, baseURL }) => {
    await journey(page, request, baseURL!, false, 'sso-nojs.test');
  });
});
