// Liveness as the SDK sees it: Sandbox.isRunning() is `GET /health` on the
// sandbox URL (2xx => true, 502 => false, any other status => error). A
// refused connection is not mapped by the SDK at all: the fetch rejects with
// TypeError('fetch failed') whose cause has code ECONNREFUSED.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { EDGE, LOCAL_ONLY, startEnvd } from './lib/harness.mjs';
import { ensureTestUsers } from './lib/setup.mjs';

describe('health', () => {
  let envd;
  let sbx;

  before(async () => {
    ensureTestUsers();
    envd = await startEnvd();
    sbx = envd.sandbox();
  });

  after(async () => {
    await envd?.kill();
  });

  test('GET /health answers 204 with an empty body', async () => {
    const res = await envd.health();
    assert.equal(res.status, 204);
    assert.equal(res.body.length, 0);
  });

  test('GET /health is not cacheable', async () => {
    const res = await envd.health();
    assert.equal(res.headers['cache-control'], 'no-store');
  });

  test('POST /init {"defaultUser":"user"} answers 204', async () => {
    const res = await envd.init({ defaultUser: 'user' });
    assert.equal(res.status, 204, res.text());
  });

  test('sandbox.isRunning() is true while the daemon runs', async () => {
    assert.equal(sbx.envdApiUrl, envd.url);
    assert.equal(await sbx.isRunning(), true);
  });

  test('SIGTERM stops the daemon with exit code 0 within 2 s', { skip: LOCAL_ONLY }, async () => {
    const exit = await envd.stop();
    assert.deepEqual(exit, { code: 0, signal: null });
  });

  // Behind the edge the connection is the edge's, which answers 502 for a
  // port nothing listens on.
  test('sandbox.isRunning() is false once the daemon behind the edge is gone', { skip: !EDGE && 'no edge (ENVD_EDGE)' }, async () => {
    assert.equal(envd.running, false);
    assert.equal(await sbx.isRunning(), false);
  });

  test('sandbox.isRunning() fails with a refused connection once the daemon is gone', { skip: LOCAL_ONLY || (EDGE && 'the edge answers instead') }, async () => {
    assert.equal(envd.running, false);
    await assert.rejects(sbx.isRunning(), (err) => {
      assert.ok(err instanceof TypeError, `expected TypeError, got ${err?.constructor?.name}: ${err?.message}`);
      assert.equal(err.message, 'fetch failed');
      assert.equal(err.cause?.code, 'ECONNREFUSED');
      return true;
    });
  });
});
