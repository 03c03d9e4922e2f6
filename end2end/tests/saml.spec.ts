import { test, expect, env, Journey } from './fixtures';

const idpUrl = env.samlIdpUrl;

// The admin sets up SAML through the guided flow: chooses Okta, is shown the ACS URL and SP
// entity ID before anything is asked of them, uploads the IdP's metadata in the browser (or pastes
// it without JavaScript), runs Test sign-in against a real SAML IdP on loopback — first signed with
// a key Lanyard does not trust, then correctly — sees the failure evidence and then the
// attributes, leaves and resumes, activates, turns on signed AuthnRequests (Lanyard's signing
// certificate appears, and in the SP metadata) and required assertion encryption (the IdP then
// verifies requests and encrypts to Lanyard's certificates), and an end user signs in to the
// vendor's product.
async function journey({ page, request, vendor, openPortal }: Journey, baseURL: string, js: boolean, domain: string) {
  expect(idpUrl, 'E2E_SAML_IDP_URL is set by .ci/e2e').toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  const metadata = await (await request.get(`${idpUrl}/metadata`)).text();
  const { orgId } = await openPortal({ name: `SAML ${domain}`, domain, intents: ['sso'] });
  await page.getByRole('main').getByRole('link', { name: 'Single sign-on' }).click();
  await page.getByTestId('new-connection').click();
  await expect(page).toHaveTitle(/^Set up single sign-on · /);

  // The guided setup: choose the IdP (SAML is the default protocol).
  await page.getByTestId('idp-okta').check();
  await page.getByTestId('start-setup').click();
  await expect(page).toHaveURL(/\/portal\/sso\/setup\/conn_[0-9A-Z]{26}$/);
  const setupUrl = page.url();

  // Step 1: Lanyard's values exist before the admin is asked to paste them anywhere, and
  // nothing on the page asks for a value the admin does not have yet.
  await expect(page.getByTestId('setup-step-1')).toBeVisible();
  await expect(page.getByTestId('saml-acs-url')).toHaveValue(new RegExp(`^${baseURL}/sso/saml/conn_[0-9A-Z]{26}/acs$`));
  await expect(page.getByTestId('saml-entity-id')).toHaveValue(/\/sso\/saml\/conn_[0-9A-Z]{26}\/metadata$/);
  await expect(page.getByTestId('idp-steps')).toContainText('Okta Admin Console');
  await expect(page.locator('main input:not([readonly]), main textarea')).toHaveCount(0);
  const spMetadata = await request.get(await page.getByTestId('sp-metadata').getAttribute('href') ?? '');
  expect(await spMetadata.text()).toContain('AssertionConsumerService');
  // The IdP (a real samlify IdP) is set up with exactly what step 1 showed.
  const acs = await page.getByTestId('saml-acs-url').inputValue();
  const entity = await page.getByTestId('saml-entity-id').inputValue();
  expect(acs.replace(/\/acs$/, '')).toBe(entity.replace(/\/metadata$/, ''));
  await page.getByTestId('next-step').click();

  // Step 2: the IdP's metadata, uploaded (or pasted without JavaScript).
  await expect(page.getByTestId('setup-step-2')).toBeVisible();
  await expect(page.getByTestId('idp-steps')).toContainText('Metadata URL');
  const form = page.getByTestId('saml-details-form');
  if (js) {
    await form.getByTestId('metadata-file').setInputFiles({ name: 'okta-metadata.xml', mimeType: 'application/xml', buffer: Buffer.from(metadata) });
    await expect(form.getByTestId('metadata-xml')).toHaveValue(/EntityDescriptor/);
  } else {
    await form.getByTestId('metadata-xml').fill(metadata);
  }
  await form.getByTestId('save-details').click();
  await expect(page.getByTestId('setup-step-3')).toBeVisible();

  const viaIdp = async () => {
    await page.getByTestId('run-test').click();
    // The IdP answers with a form that posts to the ACS: on its own with JavaScript, by a click without.
    if (!js) await page.getByRole('button', { name: 'Continue to the application' }).click();
    await expect(page).toHaveURL(/\/portal\/sso\/setup\/conn_[0-9A-Z]{26}\?step=3$/);
  };

  // A response signed with a key Lanyard does not trust: the exact failure, with evidence.
  await request.post(`${idpUrl}/_test/mode`, { data: { key: 'other' } });
  await viaIdp();
  await expect(page.getByTestId('test-result')).toContainText('signature_invalid');
  await expect(page.getByTestId('test-evidence')).toContainText('pinned_certificates');
  await expect(page.getByTestId('next-step')).toHaveCount(0);

  await request.post(`${idpUrl}/_test/mode`, { data: {} });
  await request.post(`${idpUrl}/_test/user`, { data: { name_id: `it@${domain}`, email: `it@${domain}`, first_name: 'Ida', last_name: 'Tech', groups: ['IT'] } });
  await viaIdp();
  await expect(page.getByTestId('test-result')).toContainText('Test sign-in succeeded');
  await expect(page.getByTestId('test-email')).toHaveText(`it@${domain}`);
  await expect(page.getByTestId('test-result')).toContainText('firstName');

  // Leave and resume: the draft is on the SSO page and its setup opens where it stands.
  await page.goto('/portal/sso');
  await expect(page.getByTestId('connection').getByTestId('connection-state')).toHaveText('Draft');
  await page.getByTestId('continue-setup').click();
  await expect(page).toHaveURL(setupUrl);
  await expect(page.getByTestId('setup-step-4')).toBeVisible();
  await page.getByTestId('activate').click();
  await expect(page.getByTestId('setup-done')).toBeVisible();
  await page.goto('/portal/sso');
  const card = page.getByTestId('connection');
  await expect(card.getByTestId('connection-state')).toHaveText('Active');
  await expect(card.getByTestId('connection-kind')).toContainText('SAML 2.0');
  await expect(card.getByTestId('idp-entity-id')).toHaveText(`${idpUrl}/metadata`);
  await expect(card.getByTestId('saml-certificate')).toHaveCount(1);
  await expect(card.getByTestId('certificate-expiry')).toContainText('expires');

  // The IdP wants signed requests: one tick makes Lanyard's signing certificate, shown to copy.
  await expect(card.getByTestId('sign-requests')).toHaveText('off');
  await expect(card.getByTestId('sp-certificate')).toHaveCount(0);
  await card.getByText('Edit SAML settings and attribute mapping').click();
  await card.getByLabel(/Sign AuthnRequests/).check();
  await card.getByRole('button', { name: 'Save SAML settings' }).click();
  await expect(card.getByTestId('sign-requests')).toContainText('on: Lanyard signs');
  await expect(card.getByTestId('sp-certificate-pem')).toHaveValue(/^-----BEGIN CERTIFICATE-----/);
  const signedMd = await (await request.get(await card.getByTestId('saml-entity-id').inputValue())).text();
  expect(signedMd).toContain('AuthnRequestsSigned="true"');
  expect(signedMd).toContain('<md:KeyDescriptor use="signing">');

  // The customer's IdP encrypts assertions: one more tick makes Lanyard's encryption
  // certificate, shown to copy and published; the admin uploads the SP metadata into the IdP
  // (which then also wants signed requests) and the test sign-in says which key decrypted.
  await expect(card.getByTestId('sp-encryption-certificate')).toHaveCount(0);
  // (With JavaScript the details may still be open from the save before.)
  if (!(await card.getByLabel(/Require encrypted assertions/).isVisible())) {
    await card.getByText('Edit SAML settings and attribute mapping').click();
  }
  await card.getByLabel(/Require encrypted assertions/).check();
  await card.getByRole('button', { name: 'Save SAML settings' }).click();
  await expect(card.getByTestId('require-encryption')).toContainText('required');
  await expect(card.getByTestId('sp-encryption-certificate-pem')).toHaveValue(/^-----BEGIN CERTIFICATE-----/);
  await expect(card.getByTestId('sp-certificate-pem')).toHaveValue(/^-----BEGIN CERTIFICATE-----/);
  const encMd = await (await request.get(await card.getByTestId('saml-entity-id').inputValue())).text();
  expect(encMd).toContain('<md:KeyDescriptor use="encryption">');
  expect((await request.post(`${idpUrl}/_test/sp`, { data: { metadata: encMd } })).status()).toBe(204);
  await request.post(`${idpUrl}/_test/mode`, { data: { encrypt: { data: 'aes256-gcm' } } });
  await card.getByRole('link', { name: 'Test sign-in' }).click();
  if (!js) await page.getByRole('button', { name: 'Continue to the application' }).click();
  await expect(page).toHaveURL(/\/portal\/sso/);
  await expect(page.getByTestId('test-result')).toContainText('Test sign-in succeeded');
  await expect(page.getByTestId('test-encryption')).toContainText("encrypted; decrypted with Lanyard's key spkey_");

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
  expect(body.profile.raw_attributes.encrypted).toBe(true);
  // The IdP is shared by the journeys: back to plain responses and unsigned requests.
  await request.post(`${idpUrl}/_test/sp`, { data: { metadata: null } });
  await request.post(`${idpUrl}/_test/mode`, { data: {} });
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
