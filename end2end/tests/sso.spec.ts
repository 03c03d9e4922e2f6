import { test, expect, env, oidcClient, Journey } from './fixtures';

const opUrl = env.opUrl;
const clientId = oidcClient.id;
const clientSecret = oidcClient.secret;

async function journey({ page, request, vendor, openPortal }: Journey, baseURL: string, domain: string) {
  expect(opUrl, 'E2E_OP_URL is set by .ci/e2e').toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  const { orgId } = await openPortal({ name: `SSO ${domain}`, domain, intents: ['sso'] });
  await page.getByRole('main').getByRole('link', { name: 'Single sign-on' }).click();
  await expect(page.getByRole('heading', { name: 'Single sign-on', exact: true })).toBeVisible();
  await expect(page).toHaveTitle(/^Single sign-on · SSO /);
  await page.getByTestId('new-connection').click();

  // The guided setup: the IdP and the protocol first.
  await page.getByTestId('idp-okta').check();
  await page.getByTestId('protocol-oidc').check();
  await page.getByTestId('start-setup').click();
  await expect(page).toHaveURL(/\/portal\/sso\/setup\/conn_[0-9A-Z]{26}$/);
  await expect(page.getByTestId('setup-step-1')).toBeVisible();
  // Step 1 shows Lanyard's value before asking for anything.
  await expect(page.getByTestId('redirect-uri')).toHaveValue(`${baseURL}/sso/oidc/callback`);
  await expect(page.getByTestId('idp-steps')).toContainText('Okta Admin Console');
  await page.getByTestId('next-step').click();

  await expect(page.getByTestId('setup-step-2')).toBeVisible();
  const form = page.getByTestId('oidc-details-form');
  await form.getByLabel('Issuer URL').fill(opUrl);
  await form.getByLabel('Client ID').fill(clientId);
  await form.getByLabel('Client secret').fill(clientSecret);
  await form.getByTestId('save-details').click();

  // Step 3: the test sign-in; activation waits for it.
  await expect(page.getByTestId('setup-step-3')).toBeVisible();
  await expect(page.getByTestId('progress-step').nth(1)).toHaveAttribute('data-state', 'done');
  await page.goto(page.url().replace(/\?step=\d$/, '') + '?step=4');
  await expect(page.getByTestId('needs-test')).toBeVisible();
  await page.getByRole('link', { name: 'Go to the test' }).click();

  await request.post(`${opUrl}/_test/account`, { data: { sub: `admin-${domain}`, email: `it@${domain}`, given_name: 'Ida', family_name: 'Tech', groups: ['IT'] } });
  await page.getByTestId('run-test').click();
  await expect(page).toHaveURL(/\/portal\/sso\/setup\/conn_[0-9A-Z]{26}\?step=3$/);
  await expect(page.getByTestId('test-result')).toContainText('Test sign-in succeeded');
  await expect(page.getByTestId('test-email')).toHaveText(`it@${domain}`);

  await page.getByTestId('next-step').click();
  await page.getByTestId('activate').click();
  await expect(page.getByTestId('setup-done')).toContainText('Single sign-on is on');
  await page.getByRole('navigation', { name: 'Setup sections' }).getByRole('link', { name: 'Single sign-on' }).click();
  await expect(page.getByTestId('connection').getByTestId('connection-state')).toHaveText('Active');

  // An end user signs in to the vendor's product through the new connection (a fresh browser
  // session: otherwise the IdP would still know the admin).
  await page.context().clearCookies();
  await request.post(`${opUrl}/_test/account`, { data: { sub: `user-${domain}`, email: `dana@${domain}`, given_name: 'Dana' } });
  await page.goto(`/sso/authorize?organization=${orgId}&redirect_uri=${encodeURIComponent(`${baseURL}/e2e/vendor-callback`)}&state=vendor-state`);
  await expect(page).toHaveURL(/\/e2e\/vendor-callback\?code=/);
  const back = new URL(page.url());
  expect(back.searchParams.get('state')).toBe('vendor-state');
  const token = await vendor.exchange(back.searchParams.get('code'));
  expect(token.status()).toBe(200);
  const profile = (await token.json()).profile;
  expect(profile.email).toBe(`dana@${domain}`);
  expect(profile.organization_id).toBe(orgId);
}

test('with JavaScript: connect an IdP, Test sign-in, activate, an end user signs in', async ({ page, request, baseURL, vendor, openPortal }) => {
  await journey({ page, request, vendor, openPortal }, baseURL!, 'sso-js.test');
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });
  test('the same with plain forms', async ({ page, request, baseURL, vendor, openPortal }) => {
    await journey({ page, request, vendor, openPortal }, baseURL!, 'sso-nojs.test');
  });
});
