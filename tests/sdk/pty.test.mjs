// sandbox.pty through the published SDK: create (bash -i -l on a PTY with
// TERM/LANG/LC_ALL from the SDK), sendInput, resize checked with tput,
// reconnect through pty.connect, kill, and exit (process.md §4.2, §8).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { CommandExitError } from 'e2b';

import { LOCAL_ONLY, startEnvd } from './lib/harness.mjs';
import { ensureTestUsers } from './lib/setup.mjs';

const enc = new TextEncoder();

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected a rejection');
}

// Terminal output collected from onData, searchable as text.
class Screen {
  constructor() {
    this.text = '';
    this.dec = new TextDecoder();
    this.onData = (d) => {
      this.text += this.dec.decode(d, { stream: true });
    };
  }

  // Waits until re matches the output after offset `from`; returns the match.
  async waitFor(re, from = 0, timeoutMs = 15000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.text.slice(from).replace(/\r/g, '').match(re);
      if (m) return m;
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${re}; terminal so far:\n${JSON.stringify(this.text.slice(-2000))}`);
      }
      await sleep(20);
    }
  }
}

describe('pty (SDK)', () => {
  let envd;
  let sbx;

  before(async () => {
    ensureTestUsers();
    envd = await startEnvd();
    const res = await envd.init({ defaultUser: 'user' });
    assert.equal(res.status, 204, res.text());
    sbx = envd.sandbox();
  });

  after(async () => {
    await envd?.kill();
  });

  test('create: a login shell as the default user, TERM from the SDK', async () => {
    const s = new Screen();
    const h = await sbx.pty.create({ cols: 80, rows: 24, onData: s.onData });
    assert.ok(h.pid > 0);
    await sbx.pty.sendInput(h.pid, enc.encode('echo "who=$(whoami) term=$TERM pwd=$PWD tty=$(tty)"\n'));
    const m = await s.waitFor(/who=(\w+) term=([\w-]+) pwd=(\/\S*) tty=(\/\S+)/);
    assert.equal(m[1], 'user');
    assert.equal(m[2], 'xterm-256color');
    assert.equal(m[3], '/home/user');
    assert.match(m[4], /^\/dev\/pts\/\d+$/);
    assert.match(s.text, /\r\n/, 'output newlines are CR LF');
    await sbx.pty.sendInput(h.pid, enc.encode('exit\n'));
    const r = await h.wait();
    assert.equal(r.exitCode, 0);
  });

  test('resize: tput cols and stty size follow the size', async () => {
    const s = new Screen();
    const h = await sbx.pty.create({ cols: 100, rows: 30, onData: s.onData });
    await sbx.pty.sendInput(h.pid, enc.encode('echo "cols=$(tput cols) size=$(stty size)"\n'));
    let m = await s.waitFor(/cols=(\d+) size=(\d+ \d+)/);
    assert.equal(m[1], '100');
    assert.equal(m[2], '30 100');
    const from = s.text.length;
    await sbx.pty.resize(h.pid, { cols: 132, rows: 40 });
    await sbx.pty.sendInput(h.pid, enc.encode('echo "cols=$(tput cols) size=$(stty size)"\n'));
    m = await s.waitFor(/cols=(\d+) size=(\d+ \d+)/, from);
    assert.equal(m[1], '132');
    assert.equal(m[2], '40 132');
    assert.equal(await sbx.pty.kill(h.pid), true);
    await rejection(h.wait());
  });

  test('sendInput: input is echoed and runs', async () => {
    const s = new Screen();
    const h = await sbx.pty.create({ cols: 80, rows: 24, onData: s.onData });
    await sbx.pty.sendInput(h.pid, enc.encode('printf "res=%s\\n" "$((6 * 7))"\n'));
    await s.waitFor(/res=42\n/);
    assert.match(s.text, /printf/, 'the terminal echoes the input');
    await sbx.pty.sendInput(h.pid, enc.encode('exit 0\n'));
    assert.equal((await h.wait()).exitCode, 0);
  });

  test('connect: a second handle sees new output; exit ends both with exit code 0', async () => {
    const s1 = new Screen();
    const h = await sbx.pty.create({ cols: 80, rows: 24, onData: s1.onData });
    await sbx.pty.sendInput(h.pid, enc.encode('echo first-$((1 + 1))\n'));
    await s1.waitFor(/first-2/);
    const s2 = new Screen();
    const c = await sbx.pty.connect(h.pid, { onData: s2.onData });
    assert.equal(c.pid, h.pid);
    await sbx.pty.sendInput(h.pid, enc.encode('echo again-$((2 + 2))\n'));
    await s2.waitFor(/again-4/);
    assert.doesNotMatch(s2.text, /first-2/, 'no replay of earlier output');
    await sbx.pty.sendInput(h.pid, enc.encode('exit\n'));
    const [r1, r2] = await Promise.all([h.wait(), c.wait()]);
    assert.equal(r1.exitCode, 0);
    assert.equal(r2.exitCode, 0);
  });

  test('connect after a disconnect picks the session up again', async () => {
    const s1 = new Screen();
    const h = await sbx.pty.create({ cols: 80, rows: 24, onData: s1.onData });
    await h.disconnect();
    const s2 = new Screen();
    const c = await sbx.pty.connect(h.pid, { onData: s2.onData });
    await sbx.pty.sendInput(h.pid, enc.encode('echo back-$((3 * 3))\n'));
    await s2.waitFor(/back-9/);
    await sbx.pty.sendInput(h.pid, enc.encode('exit\n'));
    assert.equal((await c.wait()).exitCode, 0);
  });

  test('kill: true, the shell is gone, a second kill gives false', { skip: LOCAL_ONLY }, async () => {
    const h = await sbx.pty.create({ cols: 80, rows: 24, onData: () => {} });
    assert.equal(await sbx.pty.kill(h.pid), true);
    assert.equal(isAlive(h.pid), false);
    const err = await rejection(h.wait());
    assert.ok(err instanceof CommandExitError, `${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.exitCode, -1);
    assert.equal(await sbx.pty.kill(h.pid), false);
  });

  test('create as root with envs and cwd', async () => {
    const s = new Screen();
    const h = await sbx.pty.create({
      cols: 80,
      rows: 24,
      user: 'root',
      cwd: '/tmp',
      envs: { PTY_TEST: 'yes' },
      onData: s.onData,
    });
    await sbx.pty.sendInput(h.pid, enc.encode('echo "u=$(whoami) d=$(pwd) e=$PTY_TEST"\n'));
    const m = await s.waitFor(/u=(\w+) d=(\/\S*) e=(\w+)/);
    assert.deepEqual([m[1], m[2], m[3]], ['root', '/tmp', 'yes']);
    await sbx.pty.sendInput(h.pid, enc.encode('exit\n'));
    assert.equal((await h.wait()).exitCode, 0);
  });

  test('Ctrl+D ends the shell; commands.list no longer shows it', async () => {
    const s = new Screen();
    const h = await sbx.pty.create({ cols: 80, rows: 24, onData: s.onData });
    // Ctrl+D means EOF only once the shell reads its line editor input.
    await sbx.pty.sendInput(h.pid, enc.encode('echo ready-$((5 + 5))\n'));
    await s.waitFor(/ready-10\n.*\$ $/s);
    const listed = await sbx.commands.list();
    assert.ok(listed.some((p) => p.pid === h.pid && p.cmd === '/bin/bash'));
    await sbx.pty.sendInput(h.pid, new Uint8Array([4]));
    assert.equal((await h.wait()).exitCode, 0);
    const after = await sbx.commands.list();
    assert.equal(after.some((p) => p.pid === h.pid), false);
  });
});
