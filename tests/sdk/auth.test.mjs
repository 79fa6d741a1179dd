// Secure sandboxes as the SDK sees them: a daemon locked with an access
// token through /init, one Sandbox built with envdAccessToken and one
// without. isRunning() uses /health, which the gate never blocks; ListDir
// and List are gated Connect RPCs.
//
// Until the Filesystem and Process services answer, a call that passes the
// gate ends in the router's 404, which connect-es reports as
// `unimplemented` (SandboxError), and the test accepts any outcome but
// AuthenticationError there. A call that is blocked must raise
// AuthenticationError, whatever the services do.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { AuthenticationError } from 'e2b';

import { LOCAL_ONLY, startEnvd } from './lib/harness.mjs';
import { ensureTestUsers } from './lib/setup.mjs';

const TOKEN = `sdk-${randomBytes(24).toString('hex')}`;

// Resolves to the error a promise rejects with, or null when it fulfils.
async function outcome(promise) {
  try {
    await promise;
    return null;
  } catch (err) {
    return err;
  }
}

function describeErr(err) {
  return err ? `${err.constructor?.name}: ${err.message}` : 'success';
}

describe('access token', { skip: LOCAL_ONLY }, () => {
  let envd;
  let withToken;
  let withoutToken;
  let wrongToken;

  before(async () => {
    ensureTestUsers();
    envd = await startEnvd();
    const res = await envd.init({ defaultUser: 'user', accessToken: TOKEN });
    assert.equal(res.status, 204, res.text());
    withToken = envd.sandbox({ token: TOKEN });
    withoutToken = envd.sandbox();
    wrongToken = envd.sandbox({ token: `${TOKEN}x` });
  });

  after(async () => {
    await envd?.kill();
  });

  test('isRunning() is true with and without the token (/health is open)', async () => {
    assert.equal(await withToken.isRunning(), true);
    assert.equal(await withoutToken.isRunning(), true);
  });

  test('a gated RPC without the token raises AuthenticationError', async () => {
    const err = await outcome(withoutToken.files.list('/'));
    assert.ok(err instanceof AuthenticationError, describeErr(err));
    assert.match(err.message, /unauthorized access, please provide a valid access token/);
  });

  test('a gated RPC with a wrong token raises AuthenticationError', async () => {
    const err = await outcome(wrongToken.commands.list());
    assert.ok(err instanceof AuthenticationError, describeErr(err));
  });

  test('a streaming RPC without the token raises AuthenticationError', async () => {
    const err = await outcome(withoutToken.files.watchDir('/tmp', () => {}, { timeoutMs: 5000 }));
    assert.ok(err instanceof AuthenticationError, describeErr(err));
  });

  test('gated RPCs with the token pass the gate', async () => {
    for (const call of [() => withToken.files.list('/'), () => withToken.commands.list()]) {
      const err = await outcome(call());
      assert.ok(!(err instanceof AuthenticationError), describeErr(err));
    }
  });

  test('an unknown user is an AuthenticationError naming the user', async () => {
    const err = await outcome(withToken.files.list('/', { user: 'no-such-user-xyz' }));
    assert.ok(err instanceof AuthenticationError, describeErr(err));
    assert.match(err.message, /invalid username: 'no-such-user-xyz'/);
  });

  test('an unknown user on a streaming RPC is an AuthenticationError too', async () => {
    const handle = await outcome(
      withToken.files.watchDir('/tmp', () => {}, { user: 'no-such-user-xyz', timeoutMs: 5000 }),
    );
    assert.ok(handle instanceof AuthenticationError, describeErr(handle));
    assert.match(handle.message, /invalid username: 'no-such-user-xyz'/);
  });

  test('re-sending the token through /init is fine; another token is refused', async () => {
    let res = await envd.init({ accessToken: TOKEN });
    assert.equal(res.status, 204, res.text());
    res = await envd.init({ accessToken: `${TOKEN}-other` });
    assert.equal(res.status, 401);
    assert.equal(res.text(), 'access token validation failed');
    res = await envd.init({});
    assert.equal(res.status, 401);
    assert.equal(res.text(), 'access token reset not authorized');
  });

  test('the token never appears in the daemon log', async () => {
    await envd.stop();
    assert.ok(!envd.log().includes(TOKEN));
  });
});
