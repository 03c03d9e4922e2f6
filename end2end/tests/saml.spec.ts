import { test, expect, env, Journey } from './fixtures';

const idpUrl = env.samlIdpUrl;

// The admin uploads the IdP's metadata in the browser (or pastes it without JavaScript), runs
// Test sign-in against a real SAML IdP on loopback — first signed with a key Lanyard does not
// trust, then correctly — sees the failure evidence and then the attributes, activates, and an
// end user signs in to the vendor's product.
async function journey({ page, request, vendor, openPortal }: Journey, baseURL: string, js: boolean, domain: string) {
  expect(idpUrl, 'E2E_SAML_IDP_URL is set by .ci/e2e').toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  const metadata = await (await request.get(`${idpUrl}/metadata`)).text();
  const { orgId } = await openPortal({ name: `SAML ${domain}`, domain, intents: ['sso'] });
  await page.getByRole('link', { name: 'Single sign-on' }).click();
  const form = page.getByTestId('add-saml');
  await expect(form.getByTestId('saml-steps')).toContainText('Okta Admin Console');
  await form.getByLabel('Identity provider').selectOption('entra');
  if (js) await expect(form.getByTestId('saml-steps')).toContainText('Entra');
  await form.getByLabel('Identity provider').selectOption('okta');
  await form.getByLabel('Name').fill('Okta SAML');
  if (js) {
    await form.getByTestId('metadata-file').setInputFiles({ name: 'okta-metadata.xml', mimeType: 'application/xml', buffer: Buffer.from(metadata) });
    await expect(form.locator('#saml-metadata-xml')).toHaveValue(/EntityDescriptor/);
  } else {
    await form.locator('#saml-metadata-xml').fill(metadata);
  }
  await form.getByRole('button', { name: 'Save SAML connection' }).click();

  const card = page.getByTestId('connection');
  await expect(card).toHaveCount(1);
  await expect(card.getByTestId('connection-kind')).toContainText('SAML 2.0');
  await expect(card.getByTestId('saml-acs-url')).toHaveValue(new RegExp(`^${baseURL}/sso/saml/conn_[0-9A-Z]{26}/acs$`));
  await expect(card.getByTestId('idp-entity-id')).toHaveText(`${idpUrl}/metadata`);
  await expect(card.getByTestId('saml-certificate')).toHaveCount(1);
  await expect(card.getByTestId('certificate-expiry')).toContainText('expires');
  const spMetadata = await request.get(await card.getByTestId('sp-metadata').getAttribute('href') ?? '');
  expect(await spMetadata.text()).toContain('AssertionConsumerService');

  const viaIdp = async () => {
    await card.getByRole('link', { name: 'Test sign-in' }).click();
    // The IdP answers with a form that posts to the ACS: on its own with JavaScript, by a click without.
    if (!js) await page.getByRole('button', { name: 'Continue to the application' }).click();
    await expect(page).toHaveURL(/\/portal\/sso\?connection=conn_/);
  };

  // A response signed with a key Lanyard does not trust: the exact failure, with evidence.
  await request.post(`${idpUrl}/_test/mode`, { data: { key: 'other' } });
  await viaIdp();
  await expect(page.getByTestId('test-result')).toContainText('signature_invalid');
  await expect(page.getByTestId('test-evidence')).toContainText('pinned_certificates');

  await request.post(`${idpUrl}/_test/mode`, { data: {} });
  await request.post(`${idpUrl}/_test/user`, { data: { name_id: `it@${domain}`, email: `it@${domain}`, first_name: 'Ida', last_name: 'Tech', groups: ['IT'] } });
  await viaIdp();
  await expect(page.getByTestId('test-result')).toContainText('Test sign-in succeeded');
  await expect(page.getByTestId('test-email')).toHaveText(`it@${domain}`);
  await expect(page.getByTestId('test-result')).toContainText('firstName');

  await card.getByRole('button', { name: 'Activate' }).click();
  await expect(card.getByTestId('connection-state')).toHaveText('Active');

  await page.context().clearCookies();
  await request.post(`${idpUrl}/_test/user`, { data: { name_id: `dana@${domain}`, email: `dana@${domain}`, first_name: 'Dana' } });
  await page.goto(`/sso/authorize?organization=${orgId}&redirect_uri=${encodeURIComponent(`${baseURL}/e2e/vendor-callback`)}&state=vendor-state`);
  if (!js) await page.getByRole('button', { name: 'Continue to the application' }).click();
  await expect(page).toHaveURL(/\/e2e\/vendor-callback\?code=/);
  const back = new URL(page.url());
  expect(back.searchParams.get('state')).toBe('vendor-state');
  const token = await vendor.exchange(back.searchParams.get('code'));
  expect(token.status()).toBe(200);
  const body = await token.json();
  expect(body.profile.email).toBe(`dana@${domain}`);
  expect(body.profile.first_name).toBe('Dana');
  expect(body.membership.role).toBe('member');
}

test('with JavaScript: upload IdP metadata, Test sign-in shows the failure and then the attributes, an end user signs in', async ({ page, request, baseURL, vendor, openPortal }) => {
  await journey({ page, request, vendor, openPortal }, baseURL!, true, 'saml-js.test');
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });
  test('the same with pasted metadata and plain forms', async ({ page, request, baseURL, vendor, openPortal }) => {
    await journey({ page, request, vendor, openPortal }, baseURL!, false, 'saml-nojs.test');
  });
});
