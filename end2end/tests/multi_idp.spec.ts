import { test, expect, env, oidcClient, Journey } from './fixtures';

// After an acquisition one organization has two IdPs: Okta over SAML (a real samlify IdP) for
// its own domain and Entra over OpenID Connect (npm oidc-provider) for the acquired company's.
// The admin limits the second connection to its domain in the portal; an end user whom the
// application cannot place picks their IdP on the chooser (plain links, with or without
// JavaScript); a login hint goes straight to the right IdP; a person of the acquired domain who
// picks the wrong IdP is refused.
async function journey({ page, request, vendor, openPortal }: Journey, baseURL: string, js: boolean, tag: string) {
  expect(env.samlIdpUrl, 'E2E_SAML_IDP_URL is set by .ci/e2e').toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  expect(env.opUrl, 'E2E_OP_URL is set by .ci/e2e').toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  const [a, b] = [`a-${tag}.test`, `b-${tag}.test`];
  const { orgId } = await openPortal({ name: `Merged ${tag}`, domain: a, intents: ['sso'] });
  await vendor.verifiedDomain(orgId, b);
  const create = async (data: Record<string, unknown>) => {
    const r = await request.post(`/api/v1/organizations/${orgId}/connections`, { headers: vendor.headers, data });
    expect(r.status()).toBe(201);
    const id = (await r.json()).id as string;
    expect((await request.patch(`/api/v1/connections/${id}`, { headers: vendor.headers, data: { state: 'active' } })).status()).toBe(200);
    return id;
  };
  const okta = await create({ type: 'saml', name: 'Okta A', idp: 'okta', saml: { idp_metadata_url: `${env.samlIdpUrl}/metadata` }, domains: [a] });
  const entra = await create({ type: 'oidc', name: 'Entra B', idp: 'entra', oidc: { issuer: env.opUrl, client_id: oidcClient.id, client_secret: oidcClient.secret } });

  // The admin sees which domains each connection serves and limits Entra B to the acquired domain.
  await page.getByRole('main').getByRole('link', { name: 'Single sign-on' }).click();
  const cards = page.getByTestId('connection');
  const oktaCard = cards.filter({ hasText: 'Okta A' });
  const entraCard = cards.filter({ hasText: 'Entra B' });
  await expect(oktaCard.getByTestId('connection-domains')).toHaveText(`Only people of @${a} sign in through this connection; it refuses everyone of your other domains.`);
  await expect(entraCard.getByTestId('connection-domains')).toHaveText('People of every verified domain sign in through this connection.');
  await entraCard.getByText('Change domains').click();
  const form = entraCard.getByTestId('domains-form');
  await form.getByLabel('Only the domains ticked below').check();
  await form.getByLabel(`@${b}`).check();
  await form.getByTestId('save-domains').click();
  await expect(page.getByTestId('connection').filter({ hasText: 'Entra B' }).getByTestId('connection-domains'))
    .toHaveText(`Only people of @${b} sign in through this connection; it refuses everyone of your other domains.`);
  const conn = await request.get(`/api/v1/connections/${entra}`, { headers: vendor.headers });
  expect((await conn.json()).domains).toEqual([b]);

  // An end user the application cannot place: the chooser, then their IdP.
  await page.context().clearCookies();
  const callback = encodeURIComponent(`${baseURL}/e2e/vendor-callback`);
  const authorize = (extra: string) => `/sso/authorize?organization=${orgId}&redirect_uri=${callback}&state=vendor-state${extra}`;
  await page.goto(authorize(''));
  await expect(page).toHaveTitle(/^Choose how to sign in · /);
  const list = page.getByRole('list', { name: `Identity providers of Merged ${tag}` });
  await expect(list.getByRole('link')).toHaveCount(2);
  await expect(list.getByRole('link', { name: /Sign in with Okta A/ })).toContainText('Okta · SAML');
  await request.post(`${env.opUrl}/_test/account`, { data: { sub: `bo-${tag}`, email: `bo@${b}`, given_name: 'Bo' } });
  // Keyboard first: the links are reachable with Tab and followed with Enter.
  await page.keyboard.press('Tab');
  await expect(list.getByRole('link', { name: /Sign in with Entra B/ })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/e2e\/vendor-callback\?code=/);
  let back = new URL(page.url());
  expect(back.searchParams.get('state')).toBe('vendor-state');
  let token = await vendor.exchange(back.searchParams.get('code'));
  expect(token.status()).toBe(200);
  expect((await token.json()).profile.connection_id).toBe(entra);

  // Bo picks the other IdP: Okta A does not serve the acquired domain, and says where to go.
  await page.context().clearCookies();
  await request.post(`${env.samlIdpUrl}/_test/user`, { data: { name_id: `bo@${b}`, email: `bo@${b}`, first_name: 'Bo' } });
  await page.goto(authorize(''));
  await page.getByRole('link', { name: /Sign in with Okta A/ }).click();
  if (!js) await page.getByRole('button', { name: 'Continue to the application' }).click();
  await expect(page).toHaveURL(/\/e2e\/vendor-callback\?error=access_denied/);
  back = new URL(page.url());
  expect(back.searchParams.get('error_description')).toContain('sign in through Entra B instead');

  // A login hint goes straight to the IdP of the person's domain, no chooser.
  await page.context().clearCookies();
  await request.post(`${env.samlIdpUrl}/_test/user`, { data: { name_id: `ana@${a}`, email: `ana@${a}`, first_name: 'Ana' } });
  await page.goto(authorize(`&login_hint=${encodeURIComponent(`ana@${a}`)}`));
  if (!js) await page.getByRole('button', { name: 'Continue to the application' }).click();
  await expect(page).toHaveURL(/\/e2e\/vendor-callback\?code=/);
  back = new URL(page.url());
  token = await vendor.exchange(back.searchParams.get('code'));
  expect((await token.json()).profile.connection_id).toBe(okta);
}

test('with JavaScript: two IdPs on one organization, routed by domain or chosen', async ({ page, request, baseURL, vendor, openPortal }) => {
  await journey({ page, request, vendor, openPortal }, baseURL!, true, 'js');
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });
  test('the same with plain links and forms', async ({ page, request, baseURL, vendor, openPortal }) => {
    await journey({ page, request, vendor, openPortal }, baseURL!, false, 'nojs');
  });
});
