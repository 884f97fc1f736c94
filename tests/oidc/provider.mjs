// A real OpenID Connect provider for the sign-in tests: the certified `oidc-provider`, with one static
// client and the test accounts (each with a `groups` claim), on 127.0.0.1:PORT.
//
//   node provider.mjs CONFIG.json
//
// CONFIG: {"port": 0, "client_id": "...", "client_secret": "...", "redirect_uris": ["..."],
//          "accounts": {"casey": {"name": "Casey Counsellor", "email": "...", "groups": ["..."]}}}
// Prints "issuer URL" on its first line once it listens. Sign-in is the package's own development login
// form (any password; the login must be one of the accounts). Consent is granted without a page: the
// campus IdP's consent is not what the tests are about.
import { readFileSync } from "node:fs";
import http from "node:http";
import Provider from "oidc-provider";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const server = http.createServer();
await new Promise((resolve) => server.listen(config.port || 0, "127.0.0.1", resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: config.client_id, client_secret: config.client_secret, redirect_uris: config.redirect_uris,
    grant_types: ["authorization_code"], response_types: ["code"], token_endpoint_auth_method: "client_secret_basic",
  }],
  scopes: ["openid", "profile", "email", "groups"],
  claims: { openid: ["sub"], profile: ["name"], email: ["email"], groups: ["groups"] },
  conformIdTokenClaims: false, // the claims asked for by scope go into the ID token, as campus IdPs do
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  cookies: { keys: ["onestop-test-provider-cookie-key"] },
  async findAccount(_ctx, id) {
    const account = config.accounts[id];
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...account }) };
  },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(ctx.oidc.params.scope);
    await grant.save();
    return grant;
  },
});
server.on("request", provider.callback());
process.stdout.write(`issuer ${issuer}\n`);
