import { test as base, expect, APIRequestContext, APIResponse, Page } from '@playwright/test';

// Shared steps of the journeys, as Playwright fixtures: the vendor's backend (the REST API with
// the key .ci/e2e created) and "the customer's admin opens the portal from a setup link".
// A journey asks for them by name: `test('…', async ({ page, vendor, openPortal }) => …)`.

export { expect };

/** What .ci/e2e exports for the journeys. */
export const env = {
  apiKey: process.env.E2E_API_KEY ?? '',
  baseURL: process.env.E2E_URL ?? 'http://127.0.0.1:3100',
  opUrl: process.env.E2E_OP_URL ?? '',
  samlIdpUrl: process.env.E2E_SAML_IDP_URL ?? '',
  smtpHttp: process.env.E2E_SMTP_HTTP ?? '',
  staffLink: process.env.E2E_STAFF_LINK ?? '',
};

/** The test OpenID Provider's client (tests/support/oidc_provider.mjs). */
export const oidcClient = { id: 'lanyard-test', secret: 'lanyard-test-secret-0123456789abcdef0123456789' };

/** The vendor's backend calling Lanyard's REST API. */
export class Vendor {
  readonly headers: { Authorization: string };

  constructor(private readonly request: APIRequestContext) {
    expect(env.apiKey, 'E2E_API_KEY is set by .ci/e2e').toMatch(/^lanyard_sk_/);
    this.headers = { Authorization: `Bearer ${env.apiKey}` };
  }

  /** Creates an organization; answers its id. */
  async createOrg(name: string): Promise<string> {
    const org = await this.request.post('/api/v1/organizations', { headers: this.headers, data: { name } });
    expect(org.status()).toBe(201);
    const id = (await org.json()).id as string;
    expect(id).toMatch(/^org_/);
    return id;
  }

  /** Adds a domain the vendor vouches for (verified without a DNS record). */
  async verifiedDomain(org: string, domain: string) {
    const r = await this.request.post(`/api/v1/organizations/${org}/domains`, { headers: this.headers, data: { domain, verified: true } });
    expect(r.status()).toBe(201);
  }

  /** Connects the test OpenID Provider and activates the connection; answers its id. */
  async activeOidcConnection(org: string): Promise<string> {
    const conn = await this.request.post(`/api/v1/organizations/${org}/connections`, {
      headers: this.headers,
      data: { type: 'oidc', name: 'Test IdP', oidc: { issuer: env.opUrl, client_id: oidcClient.id, client_secret: oidcClient.secret } },
    });
    expect(conn.status()).toBe(201);
    const id = (await conn.json()).id as string;
    expect((await this.request.patch(`/api/v1/connections/${id}`, { headers: this.headers, data: { state: 'active' } })).status()).toBe(200);
    return id;
  }

  /** A setup link for these intents (and any other field of the request); answers its URL. */
  async setupLink(org: string, intents: string[], extra: Record<string, unknown> = {}): Promise<string> {
    const link = await this.request.post('/api/v1/portal/links', {
      headers: this.headers,
      data: { organization_id: org, intents, ...extra },
    });
    expect(link.status()).toBe(201);
    const url = (await link.json()).link as string;
    expect(url).toContain('/portal/link/lanyard_setup_');
    return url;
  }

  /** Exchanges a sign-in code for the profile. */
  async exchange(code: string | null): Promise<APIResponse> {
    return this.request.post('/api/v1/sso/token', { headers: this.headers, data: { code } });
  }
}

export type PortalOptions = {
  /** The organization's name (a new organization is created). */
  name: string;
  intents: string[];
  /** A domain the vendor has verified for the organization. */
  domain?: string;
  /** Other fields of the setup link request (`admin_email`, …). */
  link?: Record<string, unknown>;
};

/** A new organization, a setup link for it, redeemed in the page. */
export type OpenPortal = (o: PortalOptions) => Promise<{ orgId: string; link: string }>;

/** What a portal journey works with. */
export type Journey = { page: Page; request: APIRequestContext; vendor: Vendor; openPortal: OpenPortal };

type Fixtures = {
  vendor: Vendor;
  /**
   * Redeems a setup link in the page: opens it, clicks the button, lands on /portal (hydrated
   * when JavaScript is on).
   */
  redeem: (link: string) => Promise<void>;
  /** A new organization, a setup link for it, redeemed in the page; answers the organization id and the link. */
  openPortal: OpenPortal;
};

export const test = base.extend<Fixtures>({
  vendor: async ({ request }, use) => {
    await use(new Vendor(request));
  },
  redeem: async ({ page, javaScriptEnabled }, use) => {
    await use(async (link) => {
      await page.goto(link);
      await page.getByTestId('redeem').click();
      await expect(page).toHaveURL(/\/portal$/);
      if (javaScriptEnabled !== false) await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
    });
  },
  openPortal: async ({ vendor, redeem }, use) => {
    await use(async ({ name, intents, domain, link: extra }) => {
      const orgId = await vendor.createOrg(name);
      if (domain) await vendor.verifiedDomain(orgId, domain);
      const link = await vendor.setupLink(orgId, intents, extra);
      await redeem(link);
      return { orgId, link };
    });
  },
});
