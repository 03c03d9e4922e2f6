// A real OpenID Provider (npm oidc-provider, a certified implementation) for Lanyard's tests.
// Usage: node tests/support/oidc_provider.mjs  → prints "READY <port>" once listening.
// Env: OP_REDIRECT_URI (Lanyard's callback), OP_CLIENT_ID, OP_CLIENT_SECRET.
// Test hooks: POST /_test/account {sub, email, ...} sets who signs in next; the interaction
// (login + consent) completes on its own, as a user who clicks through would.
import http from 'node:http';
import Provider from 'oidc-provider';

const redirectUri = process.env.OP_REDIRECT_URI ?? 'http://127.0.0.1:3000/sso/oidc/callback';
const clientId = process.env.OP_CLIENT_ID ?? 'lanyard-test';
const clientSecret = process.env.OP_CLIENT_SECRET ?? 'lanyard-test-secret-0123456789abcdef0123456789';
const accounts = new Map();
let nextAccount = { sub: 'user-1', email: 'dana@acme.test', given_name: 'Dana', family_name: 'Lee', groups: ['Engineering'] };

let provider;
const server = http.createServer(async (req, res) => {
  try {
    if (req.method === 'POST' && req.url === '/_test/account') {
      let body = '';
      for await (const chunk of req) body += chunk;
      nextAccount = JSON.parse(body);
      res.writeHead(204).end();
      return;
    }
    const m = req.url.match(/^\/interaction\/([^/?]+)/);
    if (m && req.method === 'GET') {
      const details = await provider.interactionDetails(req, res);
      const account = nextAccount;
      accounts.set(account.sub, account);
      const grant = new provider.Grant({ accountId: account.sub, clientId: details.params.client_id });
      grant.addOIDCScope('openid email profile');
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { login: { accountId: account.sub }, consent: { grantId } }, { mergeWithLastSubmission: false });
      return;
    }
    provider.callback()(req, res);
  } catch (e) {
    res.writeHead(500).end(String(e));
  }
});

server.listen(Number(process.env.OP_PORT ?? 0), '127.0.0.1', () => {
  const port = server.address().port;
  provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUri.split(','),
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      // RP-initiated logout returns here (Lanyard's /sso/oidc/logout), and nowhere else.
      post_logout_redirect_uris: [redirectUri.split(',')[0].replace(/\/sso\/oidc\/callback$/, '/sso/oidc/logout')],
    }],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['given_name', 'family_name', 'groups'] },
    // Put the requested claims in the ID token itself, as Okta and Entra do for these scopes.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    cookies: { keys: ['lanyard-test-cookie-key'] },
    async findAccount(ctx, id) {
      const a = accounts.get(id);
      if (!a) return undefined;
      return { accountId: id, async claims() { return { email_verified: true, ...a, sub: id }; } };
    },
  });
  provider.on('server_error', (ctx, err) => console.error('op server_error', err));
  console.log(`READY ${port}`);
});
