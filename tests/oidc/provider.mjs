// provider.mjs: a real OpenID provider (npm oidc-provider) on loopback,
// for tests/integration/test_oidc.py. One confidential client may take
// tokens with the client credentials grant; its access tokens are JWTs
// for the audience given, signed with a key made at start (its kid and
// alg given), so that a restart with another kid is a key rotation. Two
// other resources let a test ask for what must be refused: AUDIENCE
// + "/short-lived" (the same audience, tokens valid for one second) and
// https://other.kumo.test (another API's audience).
//
//   node provider.mjs --port P [--kid K] [--alg ES256|RS256|PS256|EdDSA]
//                     [--audience A] [--scopes "a b"] [--ttl SECONDS]
//
// Prints one line, {"issuer": ..., "kid": ...}, once it listens; stops on
// SIGTERM.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const port = Number(args.port);
const kid = args.kid || 'key-1';
const alg = args.alg || 'ES256';
const audience = args.audience || 'https://api.kumo.test';
const scopes = (args.scopes || 'todos:read todos:write').split(' ');
const ttl = Number(args.ttl || 300);

function key() {
  let pair;
  if (alg.startsWith('ES')) pair = generateKeyPairSync('ec', { namedCurve: alg === 'ES384' ? 'P-384' : 'P-256' });
  else if (alg === 'EdDSA') pair = generateKeyPairSync('ed25519');
  else pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...pair.privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: 'kumo-test',
    client_secret: 'kumo-test-secret',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    id_token_signed_response_alg: alg,
  }],
  jwks: { keys: [key()] },
  scopes,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => audience,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => ({
        scope: scopes.join(' '),
        audience: resource === `${audience}/short-lived` ? audience : resource,
        accessTokenTTL: resource === `${audience}/short-lived` ? 1 : ttl,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg } },
      }),
    },
  },
});
provider.proxy = false;
const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ issuer, kid, alg }) + '\n');
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
