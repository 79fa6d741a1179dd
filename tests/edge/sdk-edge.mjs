// sdk-edge.mjs - the published e2b SDK, in non-debug mode, against a sandbox
// behind envd-edge: the SDK builds https://PORT-ID.DOMAIN URLs itself.
//
// Usage: EDGE_SDK_DOMAIN=D EDGE_SDK_ID=ID EDGE_SDK_ENVD_VERSION=V
//        [EDGE_SDK_MODE=local] node --test sdk-edge.mjs
//   V: what `envd -version` prints (the SDK's feature gates are keyed on it);
//   local: the service binds 127.0.0.1 (needs envd's port forwarding).
// Prints TAP; NODE_EXTRA_CA_CERTS must name the test CA.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../sdk/package.json'));
const { Sandbox } = await import(require.resolve('e2b'));

const domain = process.env.EDGE_SDK_DOMAIN;
const sandboxId = process.env.EDGE_SDK_ID;
const mode = process.env.EDGE_SDK_MODE;
const envdVersion = process.env.EDGE_SDK_ENVD_VERSION;
assert.ok(envdVersion, 'EDGE_SDK_ENVD_VERSION is set');
const sbx = new Sandbox({ sandboxId, domain, envdVersion, debug: false });
const user = 'root';

async function fetchRetry(url, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const res = await fetch(url);
    if (res.status !== 502 || Date.now() > deadline) return res;
    await new Promise((r) => setTimeout(r, 200));
  }
}

if (mode === 'local') {
  test('server bound to 127.0.0.1 reachable through the edge', async () => {
    const h = await sbx.commands.run('cd / && python3 -m http.server 3001 --bind 127.0.0.1',
      { background: true, user });
    try {
      const res = await fetchRetry(`https://${sbx.getHost(3001)}/`, 10000);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /Directory listing/);
    } finally {
      await h.kill();
    }
  });
} else {
  test('getHost builds PORT-ID.DOMAIN', () => {
    assert.equal(sbx.getHost(3000), `3000-${sandboxId}.${domain}`);
  });

  test('commands.run in the background serves port 3000 through the edge', async () => {
    const h = await sbx.commands.run('cd / && python3 -m http.server 3000', { background: true, user });
    try {
      const res = await fetchRetry(`https://${sbx.getHost(3000)}/`, 10000);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /Directory listing/);
    } finally {
      await h.kill();
    }
  });

  test('commands.run through 49983-ID.DOMAIN', async () => {
    const r = await sbx.commands.run('echo hello-edge', { user });
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, 'hello-edge\n');
  });

  test('files write, read, list through the edge', async () => {
    const dir = `/tmp/edge-sdk-${process.pid}`;
    await sbx.files.makeDir(dir, { user });
    await sbx.files.write(`${dir}/a.txt`, 'edge body', { user });
    assert.equal(await sbx.files.read(`${dir}/a.txt`, { user }), 'edge body');
    const big = 'x'.repeat(3 << 20);
    await sbx.files.write(`${dir}/big.txt`, big, { user });
    assert.equal((await sbx.files.read(`${dir}/big.txt`, { user })).length, big.length);
    const names = (await sbx.files.list(dir, { user })).map((e) => e.name).sort();
    assert.deepEqual(names, ['a.txt', 'big.txt']);
    await sbx.files.remove(dir, { user });
  });

  test('watchDir streams events through the edge', async () => {
    const dir = `/tmp/edge-watch-${process.pid}`;
    await sbx.files.makeDir(dir, { user });
    const seen = [];
    const w = await sbx.files.watchDir(dir, (e) => seen.push(e.name), { user });
    await sbx.files.write(`${dir}/w.txt`, 'w', { user });
    const deadline = Date.now() + 5000;
    while (!seen.includes('w.txt') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await w.stop();
    await sbx.files.remove(dir, { user });
    assert.ok(seen.includes('w.txt'), `events: ${seen}`);
  });

  test('PTY through the edge', async () => {
    let out = '';
    const dec = new TextDecoder();
    const h = await sbx.pty.create({ cols: 80, rows: 24, user, onData: (d) => { out += dec.decode(d); } });
    await sbx.pty.sendInput(h.pid, new TextEncoder().encode('echo pty-$((6*7))\nexit\n'));
    await h.wait().catch(() => {});
    assert.match(out, /pty-42/);
  });
}
