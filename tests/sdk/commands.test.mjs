// sandbox.commands through the published SDK (Start, Connect, List,
// SendInput, CloseStdin and SendSignal as the SDK calls them, process.md
// §10 and sdk-usage.md §2), then every Process RPC through raw connect-node
// clients in JSON and binary protobuf, including the error codes of §8.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { Code, ConnectError } from '@connectrpc/connect';
import { CommandExitError, NotFoundError, TimeoutError } from 'e2b';

import { LOCAL_ONLY, startEnvd } from './lib/harness.mjs';
import { ensureTestUsers } from './lib/setup.mjs';

// Polls fn until it returns a truthy value; throws after timeoutMs.
async function until(fn, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// Resolves to the error a promise rejects with; fails when it fulfils.
async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected a rejection');
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('commands (SDK)', () => {
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

  test('run: stdout is exactly "Hello, World!\\n"', async () => {
    const r = await sbx.commands.run('echo "Hello, World!"');
    assert.equal(r.stdout, 'Hello, World!\n');
    assert.equal(r.stderr, '');
    assert.equal(r.exitCode, 0);
    assert.equal(r.error, undefined);
  });

  test('run: stderr is kept apart from stdout', async () => {
    const r = await sbx.commands.run('echo out; echo err >&2');
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
  });

  test('run: onStdout and onStderr see the output as it comes', async () => {
    const out = [];
    const err = [];
    await sbx.commands.run('echo a; echo b >&2; echo c', {
      onStdout: (d) => out.push(d),
      onStderr: (d) => err.push(d),
    });
    assert.equal(out.join(''), 'a\nc\n');
    assert.equal(err.join(''), 'b\n');
  });

  test('run: a non-zero exit raises CommandExitError with the output so far', async () => {
    const err = await rejection(sbx.commands.run('echo partial; echo oops >&2; exit 3'));
    assert.ok(err instanceof CommandExitError, `${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.exitCode, 3);
    assert.equal(err.error, 'exit status 3');
    assert.equal(err.stdout, 'partial\n');
    assert.equal(err.stderr, 'oops\n');
  });

  test('run: a missing command exits 127', async () => {
    const err = await rejection(sbx.commands.run('no-such-command-envd'));
    assert.ok(err instanceof CommandExitError);
    assert.equal(err.exitCode, 127);
    assert.match(err.stderr, /no-such-command-envd: command not found/);
  });

  test('run: timeoutMs 1000 stops `sleep 10` with TimeoutError', async () => {
    const t0 = Date.now();
    const err = await rejection(sbx.commands.run('sleep 10', { timeoutMs: 1000 }));
    assert.ok(err instanceof TimeoutError, `${err?.constructor?.name}: ${err?.message}`);
    assert.ok(Date.now() - t0 < 8000, 'failed well before the command would have ended');
  });

  test('run: background with timeoutMs 2000, wait() fails with TimeoutError and the process is killed', { skip: LOCAL_ONLY }, async () => {
    const h = await sbx.commands.run('sleep 10', { background: true, timeoutMs: 2000 });
    assert.ok(h.pid > 0);
    const err = await rejection(h.wait());
    assert.ok(err instanceof TimeoutError, `${err?.constructor?.name}: ${err?.message}`);
    await until(() => !isAlive(h.pid), 'the process to be killed at its deadline');
  });

  test('run: timeoutMs 0 sends no deadline', async () => {
    const r = await sbx.commands.run('sleep 1.2; echo done', { timeoutMs: 0 });
    assert.equal(r.stdout, 'done\n');
  });

  test('background + kill: true, wait() reports signal: killed, kill -0 fails at once', { skip: LOCAL_ONLY }, async () => {
    const h = await sbx.commands.run('sleep 30', { background: true });
    assert.ok(isAlive(h.pid));
    assert.equal(await h.kill(), true);
    const err = await rejection(h.wait());
    assert.ok(err instanceof CommandExitError, `${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.exitCode, -1);
    assert.equal(err.error, 'signal: killed');
    const probe = await rejection(sbx.commands.run(`kill -0 ${h.pid}`));
    assert.ok(probe instanceof CommandExitError);
    assert.equal(probe.exitCode, 1);
  });

  test('kill: by pid through commands.kill, then kill -0 fails; a missing pid gives false', { skip: LOCAL_ONLY }, async () => {
    const h = await sbx.commands.run('sleep 30', { background: true });
    assert.equal(await sbx.commands.kill(h.pid), true);
    assert.equal(isAlive(h.pid), false, 'reaped by the time kill() returns');
    const probe = await rejection(sbx.commands.run(`kill -0 ${h.pid}`, { user: 'root' }));
    assert.equal(probe.exitCode, 1);
    assert.equal(await sbx.commands.kill(h.pid), false);
    assert.equal(await sbx.commands.kill(4194999), false);
  });

  test('envs: per command, never leaking into the next one', async () => {
    const r = await sbx.commands.run('echo $FOO', { envs: { FOO: 'bar' } });
    assert.equal(r.stdout, 'bar\n');
    const r2 = await sbx.commands.run('echo "[$FOO]"');
    assert.equal(r2.stdout, '[]\n');
  });

  test('envs: the environment holds only what process.md §3 lists', { skip: LOCAL_ONLY }, async () => {
    // The environment bash was started with, before any profile ran.
    const r = await sbx.commands.run("tr '\\0' '\\n' </proc/$$/environ", { envs: { REQ: 'r' } });
    const keys = r.stdout
      .trim()
      .split('\n')
      .map((l) => l.split('=')[0])
      .sort();
    assert.deepEqual(keys, ['E2B_SANDBOX', 'HOME', 'LOGNAME', 'PATH', 'REQ', 'USER']);
    assert.match(r.stdout, /^HOME=\/home\/user$/m);
    assert.match(r.stdout, /^E2B_SANDBOX=false$/m);
  });

  test('cwd: given, and the home by default', async () => {
    assert.equal((await sbx.commands.run('pwd', { cwd: '/tmp' })).stdout, '/tmp\n');
    assert.equal((await sbx.commands.run('pwd')).stdout, '/home/user\n');
    const err = await rejection(sbx.commands.run('pwd', { cwd: '/nonexistent-envd' }));
    assert.match(err.message, /cwd '\/nonexistent-envd' does not exist/);
  });

  test('user: the default user, and root on request', async () => {
    assert.equal((await sbx.commands.run('whoami; echo $HOME')).stdout, 'user\n/home/user\n');
    assert.equal((await sbx.commands.run('whoami; echo $HOME', { user: 'root' })).stdout, 'root\n/root\n');
  });

  test('connect: a second handle sees later output and the exit', async () => {
    const h = await sbx.commands.run('sleep 1; echo done', { background: true });
    const out = [];
    const c = await sbx.commands.connect(h.pid, { onStdout: (d) => out.push(d) });
    assert.equal(c.pid, h.pid);
    const r = await c.wait();
    assert.equal(r.exitCode, 0);
    assert.equal(out.join(''), 'done\n');
    assert.equal((await h.wait()).stdout, 'done\n');
  });

  test('connect: a missing pid throws', async () => {
    const err = await rejection(sbx.commands.connect(4194999));
    assert.ok(err instanceof NotFoundError || /not found/.test(err.message), `${err?.constructor?.name}: ${err?.message}`);
  });

  test('disconnect: the command goes on, connect picks it up', async () => {
    const h = await sbx.commands.run('sleep 0.8; echo later', { background: true });
    await h.disconnect();
    const c = await sbx.commands.connect(h.pid);
    assert.equal((await c.wait()).stdout, 'later\n');
  });

  test('list: running commands with pid, cmd, args, envs, cwd', async () => {
    const a = await sbx.commands.run('sleep 30', { background: true, envs: { K: 'v' }, cwd: '/tmp' });
    const b = await sbx.commands.run('sleep 31', { background: true });
    const list = await sbx.commands.list();
    const la = list.find((p) => p.pid === a.pid);
    const lb = list.find((p) => p.pid === b.pid);
    assert.deepEqual(la, { pid: a.pid, args: ['-l', '-c', 'sleep 30'], envs: { K: 'v' }, cmd: '/bin/bash', cwd: '/tmp' });
    assert.deepEqual(lb, { pid: b.pid, args: ['-l', '-c', 'sleep 31'], envs: {}, cmd: '/bin/bash' });
    await a.kill();
    await b.kill();
    const after = await sbx.commands.list();
    assert.equal(after.filter((p) => p.pid === a.pid || p.pid === b.pid).length, 0);
  });

  test('stdin: sendStdin to cat echoes, empty input is fine, closeStdin makes it exit 0', async () => {
    const out = [];
    const h = await sbx.commands.run('cat', { background: true, stdin: true, onStdout: (d) => out.push(d) });
    await sbx.commands.sendStdin(h.pid, 'hello\n');
    await until(() => out.join('') === 'hello\n', 'the echo');
    await sbx.commands.sendStdin(h.pid, '');
    await h.sendStdin(new TextEncoder().encode('bytes\n'));
    await until(() => out.join('') === 'hello\nbytes\n', 'the second echo');
    await sbx.commands.closeStdin(h.pid);
    const r = await h.wait();
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, 'hello\nbytes\n');
  });

  test('stdin: without stdin: true, cat reads /dev/null and ends', async () => {
    const r = await sbx.commands.run('cat; readlink /proc/self/fd/0');
    assert.equal(r.stdout, '/dev/null\n');
  });

  test('stdin: sendStdin to a command without stdin fails', async () => {
    const h = await sbx.commands.run('sleep 30', { background: true });
    const err = await rejection(sbx.commands.sendStdin(h.pid, 'x'));
    assert.match(err.message, /stdin not enabled or closed/);
    await h.kill();
  });
});

for (const binary of [false, true]) {
  describe(`process.Process over connect-node (${binary ? 'binary' : 'JSON'})`, () => {
    let envd;
    let proc;
    let procRoot;

    before(async () => {
      ensureTestUsers();
      envd = await startEnvd();
      const res = await envd.init({ defaultUser: 'user' });
      assert.equal(res.status, 204, res.text());
      ({ proc } = envd.rpc({ binary }));
      ({ proc: procRoot } = envd.rpc({ binary, user: 'root' }));
    });

    after(async () => {
      await envd?.kill();
    });

    const byPid = (pid) => ({ selector: { case: 'pid', value: pid } });

    // Collects a stream: events (cases), pid, stdout, stderr, pty, end.
    async function collect(stream, onStart) {
      const res = { cases: [], stdout: '', stderr: '', pty: '', end: undefined, pid: undefined };
      const dec = new TextDecoder();
      for await (const m of stream) {
        const ev = m.event.event;
        res.cases.push(ev.case);
        if (ev.case === 'start') {
          res.pid = ev.value.pid;
          if (onStart) await onStart(res.pid);
        } else if (ev.case === 'data') {
          res[ev.value.output.case] += dec.decode(ev.value.output.value);
        } else if (ev.case === 'end') {
          res.end = ev.value;
        }
      }
      return res;
    }

    // A stream running in the background: { pid: Promise, done: Promise }.
    function launch(stream) {
      let resolvePid;
      let rejectPid;
      const pid = new Promise((resolve, reject) => {
        resolvePid = resolve;
        rejectPid = reject;
      });
      const done = collect(stream, (p) => resolvePid(p));
      done.catch(rejectPid);
      return { pid, done };
    }

    async function connectError(promise) {
      const err = await rejection(promise);
      assert.ok(err instanceof ConnectError, `${err?.constructor?.name}: ${err?.message}`);
      return err;
    }

    test('Start: start, data, end', async () => {
      const r = await collect(proc.start({ process: { cmd: '/bin/echo', args: ['hi'] } }));
      assert.deepEqual(r.cases, ['start', 'data', 'end']);
      assert.ok(r.pid > 0);
      assert.equal(r.stdout, 'hi\n');
      assert.equal(r.end.exitCode, 0);
      assert.equal(r.end.exited, true);
      assert.equal(r.end.status, 'exit status 0');
      assert.equal(r.end.error, undefined);
    });

    test('Start: end event of a failure and of a signal', async () => {
      let r = await collect(proc.start({ process: { cmd: 'sh', args: ['-c', 'exit 5'] } }));
      assert.equal(r.end.exitCode, 5);
      assert.equal(r.end.error, 'exit status 5');
      r = await collect(proc.start({ process: { cmd: 'sh', args: ['-c', 'kill -9 $$'] } }));
      assert.equal(r.end.exitCode, -1);
      assert.equal(r.end.exited, false);
      assert.equal(r.end.status, 'signal: killed');
      assert.equal(r.end.error, 'signal: killed');
    });

    test('Start: unknown user is unauthenticated, missing cwd invalid_argument', async () => {
      const { proc: nobody } = envd.rpc({ binary, user: 'nobody-envd' });
      let err = await connectError(collect(nobody.start({ process: { cmd: 'true' } })));
      assert.equal(err.code, Code.Unauthenticated);
      assert.equal(err.rawMessage, "invalid username: 'nobody-envd'");
      err = await connectError(collect(proc.start({ process: { cmd: 'true', cwd: '/nonexistent-envd' } })));
      assert.equal(err.code, Code.InvalidArgument);
      assert.equal(err.rawMessage, "cwd '/nonexistent-envd' does not exist");
      err = await connectError(collect(proc.start({ process: { cmd: 'true', cwd: '~bob' } })));
      assert.equal(err.code, Code.InvalidArgument);
    });

    test('Start: deadline_exceeded at Connect-Timeout-Ms', { skip: LOCAL_ONLY }, async () => {
      let pid;
      const err = await connectError(
        collect(proc.start({ process: { cmd: 'sleep', args: ['30'] }, stdin: false }, { timeoutMs: 800 }), (p) => {
          pid = p;
        }),
      );
      assert.equal(err.code, Code.DeadlineExceeded);
      await until(() => !isAlive(pid), 'the process to be killed');
    });

    test('Start as root through the Basic header', async () => {
      const r = await collect(procRoot.start({ process: { cmd: 'id', args: ['-un'] } }));
      assert.equal(r.stdout, 'root\n');
    });

    test('Connect, List, SendInput, CloseStdin on a running process', async () => {
      const run = launch(proc.start({ process: { cmd: 'cat' }, tag: 'raw-cat', stdin: true }));
      const main = run.done;
      const p = await run.pid;
      const list = await proc.list({});
      const info = list.processes.find((x) => x.pid === p);
      assert.equal(info.tag, 'raw-cat');
      assert.equal(info.config.cmd, 'cat');
      const second = collect(proc.connect({ process: { selector: { case: 'tag', value: 'raw-cat' } } }));
      // The Connect stream must be subscribed before the input goes in.
      await sleep(300);
      await proc.sendInput({ process: byPid(p), input: { input: { case: 'stdin', value: new TextEncoder().encode('abc\n') } } });
      await proc.sendInput({ process: byPid(p), input: { input: { case: 'stdin', value: new Uint8Array() } } });
      await proc.closeStdin({ process: byPid(p) });
      const [a, b] = await Promise.all([main, second]);
      assert.equal(a.stdout, 'abc\n');
      assert.equal(b.stdout, 'abc\n');
      assert.deepEqual(b.cases, ['start', 'data', 'end']);
      assert.equal(b.pid, p);
      assert.equal(a.end.exitCode, 0);
      // Retained for late Connect calls.
      const late = await collect(proc.connect({ process: byPid(p) }));
      assert.deepEqual(late.cases, ['start', 'end']);
      assert.equal(late.end.status, 'exit status 0');
    });

    test('StreamInput: start, data, keepalive', async () => {
      const run = launch(proc.start({ process: { cmd: 'cat' }, stdin: true }));
      const main = run.done;
      const p = await run.pid;
      const enc = new TextEncoder();
      async function* input() {
        yield { event: { case: 'start', value: { process: byPid(p) } } };
        yield { event: { case: 'data', value: { input: { input: { case: 'stdin', value: enc.encode('one\n') } } } } };
        yield { event: { case: 'keepalive', value: {} } };
        yield { event: { case: 'data', value: { input: { input: { case: 'stdin', value: enc.encode('two\n') } } } } };
      }
      await proc.streamInput(input());
      await proc.closeStdin({ process: byPid(p) });
      assert.equal((await main).stdout, 'one\ntwo\n');
      async function* early() {
        yield { event: { case: 'data', value: { input: { input: { case: 'stdin', value: enc.encode('x') } } } } };
      }
      const err = await connectError(proc.streamInput(early()));
      assert.equal(err.code, Code.FailedPrecondition);
    });

    test('Update resizes a PTY; errors for a pipe process', async () => {
      const run = launch(
        proc.start({ process: { cmd: 'sh', args: ['-c', 'read x; stty size'] }, pty: { size: { cols: 80, rows: 24 } } }),
      );
      const main = run.done;
      const p = await run.pid;
      await proc.update({ process: byPid(p), pty: { size: { cols: 132, rows: 43 } } });
      await proc.update({ process: byPid(p) });
      await proc.sendInput({ process: byPid(p), input: { input: { case: 'pty', value: new TextEncoder().encode('\n') } } });
      const r = await main;
      assert.match(r.pty, /43 132/);
      let err = await connectError(proc.closeStdin({ process: byPid(4194999) }));
      assert.equal(err.code, Code.NotFound);
      const run2 = launch(proc.start({ process: { cmd: 'sleep', args: ['30'] }, stdin: false }));
      const pipe = run2.done;
      const q = await run2.pid;
      err = await connectError(proc.update({ process: byPid(q), pty: { size: { cols: 1, rows: 1 } } }));
      assert.equal(err.code, Code.Internal);
      assert.equal(err.rawMessage, 'error resizing tty: tty not assigned to process');
      await proc.sendSignal({ process: byPid(q), signal: 9 });
      assert.equal((await pipe).end.status, 'signal: killed');
    });

    test('SendSignal: SIGTERM, SIGKILL, and the errors', async () => {
      const run = launch(proc.start({ process: { cmd: 'sleep', args: ['30'] }, stdin: false }));
      const main = run.done;
      const p = await run.pid;
      let err = await connectError(proc.sendSignal({ process: byPid(p), signal: 0 }));
      assert.equal(err.code, Code.Unimplemented);
      assert.equal(err.rawMessage, 'invalid signal: SIGNAL_UNSPECIFIED');
      err = await connectError(proc.sendSignal({ process: {}, signal: 9 }));
      assert.equal(err.code, Code.Unimplemented);
      assert.equal(err.rawMessage, 'invalid input type <nil>');
      await proc.sendSignal({ process: byPid(p), signal: 15 });
      const r = await main;
      assert.equal(r.end.status, 'signal: terminated');
      err = await connectError(proc.sendSignal({ process: byPid(p), signal: 9 }));
      assert.equal(err.code, Code.NotFound);
      assert.equal(err.rawMessage, `process with pid ${p} not found`);
      err = await connectError(proc.sendSignal({ process: { selector: { case: 'tag', value: 'nope' } }, signal: 9 }));
      assert.equal(err.rawMessage, 'process with tag nope not found');
    });

    test('SendInput errors', async () => {
      const run = launch(proc.start({ process: { cmd: 'sleep', args: ['30'] }, stdin: false }));
      const main = run.done;
      const p = await run.pid;
      let err = await connectError(proc.sendInput({ process: byPid(p), input: {} }));
      assert.equal(err.code, Code.Unimplemented);
      assert.equal(err.rawMessage, 'invalid input type <nil>');
      err = await connectError(
        proc.sendInput({ process: byPid(p), input: { input: { case: 'stdin', value: new Uint8Array([1]) } } }),
      );
      assert.equal(err.code, Code.Internal);
      assert.equal(err.rawMessage, 'error writing to stdin: stdin not enabled or closed');
      err = await connectError(
        proc.sendInput({ process: byPid(p), input: { input: { case: 'pty', value: new Uint8Array([1]) } } }),
      );
      assert.equal(err.code, Code.Internal);
      assert.match(err.rawMessage, /^error writing to tty: tty not assigned to process/);
      err = await connectError(proc.sendInput({ process: byPid(4194999), input: { input: { case: 'stdin', value: new Uint8Array() } } }));
      assert.equal(err.code, Code.NotFound);
      err = await connectError(collect(proc.connect({ process: byPid(4194999) })));
      assert.equal(err.code, Code.NotFound);
      await proc.sendSignal({ process: byPid(p), signal: 9 });
      await main;
    });
  });
}
