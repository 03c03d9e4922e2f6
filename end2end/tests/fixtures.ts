import { test as base, expect, APIRequestContext, APIResponse, Browser, BrowserContext, Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';

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

/**
 * Accessibility: every Lanyard page any journey loads, in any browser context, with JavaScript on
 * or off, is checked by axe-core against WCAG 2 A/AA. The page's DOM is taken when it has loaded
 * (and once more at the end for pages still open, to see states JavaScript brought), then checked
 * in a scratch page on the same address with scripts removed, so that the journey never waits
 * and pages without JavaScript are checked as well (axe itself needs JavaScript). When the
 * journey moved on too fast to take the DOM, the same address is fetched with the context's
 * cookies instead. Pages of the test IdPs and the relying-party app are not Lanyard's: skipped.
 */
class AxeWatch {
  readonly violations: string[] = [];
  readonly missed: string[] = [];
  private readonly pending: Promise<void>[] = [];
  private readonly snapshots = new Map<string, string>();
  private readonly contexts: BrowserContext[] = [];
  private readonly origin = new URL(env.baseURL).origin;
  checked = 0;

  watchContext(context: BrowserContext) {
    this.contexts.push(context);
    for (const p of context.pages()) this.watchPage(p);
    context.on('page', (p) => this.watchPage(p));
  }

  private watchPage(page: Page) {
    // Every navigation of the page: full loads and the router's client-side ones (which fire no
    // load event). The DOM is taken once the page has loaded and its data has arrived.
    page.on('framenavigated', (frame) => {
      if (frame !== page.mainFrame()) return;
      const url = frame.url();
      this.pending.push(
        (async () => {
          try {
            await page.waitForLoadState('load', { timeout: 10_000 });
            // Polled with plain evaluations: no JSHandle is left behind for a page that a journey
            // closes meanwhile (waitForFunction's handle raced a closing context once in CI).
            for (const until = Date.now() + 5_000; Date.now() < until; ) {
              if (page.isClosed()) break;
              const loading = await page.evaluate(() => document.body?.innerText.includes('Loading…') ?? false);
              if (!loading) break;
              await new Promise((r) => setTimeout(r, 100));
            }
          } catch {
            // The journey moved on or closed the page: take what is there.
          }
          if (page.url() === url) await this.snapshot(page, url);
        })(),
      );
    });
  }

  private ours(url: string): boolean {
    const u = new URL(url);
    return u.origin === this.origin && !u.pathname.startsWith('/e2e/') && !u.pathname.startsWith('/api/');
  }

  private async snapshot(page: Page, url: string) {
    if (!this.ours(url)) return;
    try {
      const [type, html] = await page.evaluate(() => [document.contentType, document.documentElement.outerHTML]);
      if (type === 'text/html') this.snapshots.set(`${url}\n${html}`, url);
      return;
    } catch {
      // The journey navigated on before the DOM was read.
    }
    try {
      const r = await page.context().request.get(url);
      if ((r.headers()['content-type'] ?? '').startsWith('text/html')) this.snapshots.set(`${url}\n${await r.text()}`, url);
      return;
    } catch {
      this.missed.push(url);
    }
  }

  /** Checks every page taken, in a scratch context of `browser` with JavaScript on. */
  async finish(newContext: Browser['newContext']) {
    for (const c of this.contexts) for (const p of c.pages()) if (!p.isClosed()) this.pending.push(this.snapshot(p, p.url()));
    await Promise.all(this.pending);
    if (this.snapshots.size === 0) return;
    const scratch = await newContext({ javaScriptEnabled: true });
    const page = await scratch.newPage();
    for (const [key, url] of this.snapshots) {
      const body = key.slice(url.length + 1);
      const html = `<!DOCTYPE html>${body.startsWith('<!') ? body.replace(/^<!DOCTYPE html>/i, '') : body}`
        .replace(/<script\b[\s\S]*?<\/script>/gi, '')
        .replace(/<link\b[^>]*rel="modulepreload"[^>]*>/gi, '');
      const same = (u: URL) => u.href === new URL(url).href;
      await page.route(same, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html }));
      await page.goto(url);
      await page.unroute(same);
      const r = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
      this.checked += 1;
      for (const v of r.violations) {
        const where = v.nodes.slice(0, 3).map((n) => n.html.slice(0, 200)).join(' | ');
        const line = `${new URL(url).pathname}: ${v.id} (${v.impact}) ${v.help} — ${where}`;
        if (!this.violations.includes(line)) this.violations.push(line);
      }
    }
    await scratch.close();
  }
}

type Fixtures = {
  /** The accessibility check of every page (see AxeWatch). */
  axe: AxeWatch;
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
  axe: [
    async ({ context, browser }, use) => {
      const watch = new AxeWatch();
      watch.watchContext(context);
      // Contexts a journey opens itself (a second person, JavaScript off) are watched too.
      const b = browser as Browser & { newContext: Browser['newContext'] };
      const original = b.newContext.bind(b);
      b.newContext = async (options) => {
        const c = await original(options);
        watch.watchContext(c);
        return c;
      };
      await use(watch);
      b.newContext = original;
      await watch.finish(original);
      console.log(`axe-core: ${watch.checked} page states checked${watch.missed.length ? `, not read: ${watch.missed.join(' ')}` : ''}`);
      expect(watch.violations, 'axe-core WCAG 2 A/AA violations').toEqual([]);
    },
    { auto: true },
  ],
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
