// The filesystem.Filesystem service as clients see it: the published e2b
// SDK (`sandbox.files.*`) against the daemon with `user` as default user,
// and direct connect-node clients in JSON and binary mode calling every
// RPC, including the error cases (ConnectError.code).
//
// Files are prepared with node:fs (the tests run as root on the daemon's
// machine) so these tests depend on the Filesystem service only.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';

import { Code, ConnectError } from '@connectrpc/connect';
import { FileNotFoundError, FileType, FilesystemEventType, InvalidArgumentError, NotFoundError } from 'e2b';

import { LOCAL_ONLY, startEnvd } from './lib/harness.mjs';
import { enumSchema } from './lib/rpc.mjs';
import { ensureTestUsers, lookupUser } from './lib/setup.mjs';

const WAIT_MS = 10000;

// Polls fn until it returns a truthy value; throws after ms.
async function waitFor(fn, what, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
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
  assert.fail('expected the call to fail');
}

// A fresh directory under the user's home, owned by the user.
function makeBase(user, tag) {
  const dir = path.join(user.home, `sdk-fs-${tag}-${randomBytes(4).toString('hex')}`);
  fs.mkdirSync(dir, { mode: 0o755 });
  fs.chownSync(dir, user.uid, user.gid);
  return dir;
}

function writeAs(user, file, data) {
  fs.writeFileSync(file, data, { mode: 0o644 });
  fs.chmodSync(file, 0o644);
  fs.chownSync(file, user.uid, user.gid);
}

// The spec's ListDir example tree under dir.
function makeTree(dir) {
  for (const d of ['subdir1/subdir1_1', 'subdir1/subdir1_2', 'subdir2/subdir2_1', 'subdir2/subdir2_2']) {
    fs.mkdirSync(path.join(dir, d), { recursive: true });
  }
  fs.writeFileSync(path.join(dir, 'file1.txt'), 'x');
}

const DEPTH2 = [
  'file1.txt',
  'subdir1',
  'subdir1/subdir1_1',
  'subdir1/subdir1_2',
  'subdir2',
  'subdir2/subdir2_1',
  'subdir2/subdir2_2',
];

describe('sandbox.files (e2b SDK)', { skip: LOCAL_ONLY }, () => {
  let envd;
  let sbx;
  let user;
  let base;
  let rel;

  before(async () => {
    [user] = ensureTestUsers();
    envd = await startEnvd();
    const res = await envd.init({ defaultUser: 'user' });
    assert.equal(res.status, 204, res.text());
    sbx = envd.sandbox();
    base = makeBase(user, 'sdk');
    rel = path.basename(base);
  });

  after(async () => {
    if (base) fs.rmSync(base, { recursive: true, force: true });
    await envd?.stop();
  });

  test('exists(): true for a file and a directory, false when missing', async () => {
    writeAs(user, path.join(base, 'e.txt'), 'e');
    assert.equal(await sbx.files.exists(path.join(base, 'e.txt')), true);
    assert.equal(await sbx.files.exists(base), true);
    assert.equal(await sbx.files.exists(`${rel}/e.txt`), true, 'relative to the home');
    assert.equal(await sbx.files.exists(path.join(base, 'nope')), false);
  });

  test('exists() below a file throws instead of answering false (upstream quirk)', async () => {
    const err = await rejection(sbx.files.exists(path.join(base, 'e.txt', 'x')));
    assert.ok(!(err instanceof NotFoundError), `${err.constructor.name}: ${err.message}`);
    assert.match(err.message, /not a directory/);
  });

  test('getInfo() of a file', async () => {
    writeAs(user, path.join(base, 'info.txt'), 'hello');
    const before = Date.now();
    const info = await sbx.files.getInfo(`${rel}/info.txt`);
    assert.equal(info.name, 'info.txt');
    assert.equal(info.type, FileType.FILE);
    assert.equal(info.path, path.join(base, 'info.txt'));
    assert.equal(info.size, 5);
    assert.equal(info.mode, 0o644);
    assert.equal(info.permissions, '-rw-r--r--');
    assert.equal(info.owner, 'user');
    assert.equal(info.group, 'user');
    assert.ok(info.modifiedTime instanceof Date);
    assert.ok(Math.abs(info.modifiedTime.getTime() - before) < 60000);
    assert.equal(info.symlinkTarget, undefined);
  });

  test('getInfo() of a directory', async () => {
    const info = await sbx.files.getInfo(base);
    assert.equal(info.type, FileType.DIR);
    assert.equal(info.permissions, 'drwxr-xr-x');
    assert.equal(info.mode, 0o755);
    assert.equal(info.name, rel);
  });

  test('getInfo() of a symlink: the target type and an absolute symlinkTarget', async () => {
    writeAs(user, path.join(base, 'target.txt'), 'abc');
    fs.symlinkSync('target.txt', path.join(base, 'link'));
    const info = await sbx.files.getInfo(path.join(base, 'link'));
    assert.equal(info.type, FileType.FILE);
    assert.equal(info.name, 'link');
    assert.equal(info.path, path.join(base, 'link'));
    assert.equal(info.permissions, 'Lrwxrwxrwx');
    assert.equal(info.mode, 0o644);
    assert.equal(info.symlinkTarget, path.join(base, 'target.txt'));
  });

  test('getInfo() of a missing path: FileNotFoundError', async () => {
    const err = await rejection(sbx.files.getInfo(path.join(base, 'nope')));
    assert.ok(err instanceof FileNotFoundError, `${err.constructor.name}: ${err.message}`);
  });

  test('list(): depth-first pre-order by name, depth 1, 2 and 3', async () => {
    const dir = path.join(base, 'tree');
    makeTree(dir);
    const rels = (entries) => entries.map((e) => path.relative(dir, e.path));
    assert.deepEqual(rels(await sbx.files.list(dir)), ['file1.txt', 'subdir1', 'subdir2']);
    assert.deepEqual(rels(await sbx.files.list(dir, { depth: 1 })), ['file1.txt', 'subdir1', 'subdir2']);
    assert.deepEqual(rels(await sbx.files.list(dir, { depth: 2 })), DEPTH2);
    assert.deepEqual(rels(await sbx.files.list(dir, { depth: 3 })), DEPTH2);
    const top = await sbx.files.list(`${rel}/tree`);
    assert.deepEqual(
      top.map((e) => [e.name, e.type]),
      [
        ['file1.txt', FileType.FILE],
        ['subdir1', FileType.DIR],
        ['subdir2', FileType.DIR],
      ],
    );
  });

  test('list() through a symlink to a directory reports paths under the link', async () => {
    fs.symlinkSync('tree', path.join(base, 'tree-link'));
    const entries = await sbx.files.list(path.join(base, 'tree-link'), { depth: 2 });
    assert.deepEqual(
      entries.map((e) => e.path),
      DEPTH2.map((p) => path.join(base, 'tree-link', p)),
    );
  });

  test('list() drops entries of unspecified type (a fifo)', async () => {
    const dir = path.join(base, 'special');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'a.txt'), '');
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [path.join(dir, 'pipe')]);
    const entries = await sbx.files.list(dir);
    assert.deepEqual(entries.map((e) => e.name), ['a.txt']);
  });

  test('list() of a missing directory: FileNotFoundError', async () => {
    const err = await rejection(sbx.files.list(path.join(base, 'nope')));
    assert.ok(err instanceof FileNotFoundError, `${err.constructor.name}: ${err.message}`);
  });

  test('makeDir(): true when created (owned by user), false when it exists', async () => {
    const dir = path.join(base, 'made', 'deep');
    assert.equal(await sbx.files.makeDir(dir), true);
    const st = fs.statSync(dir);
    assert.ok(st.isDirectory());
    assert.equal(st.uid, user.uid);
    assert.equal(fs.statSync(path.join(base, 'made')).uid, user.uid);
    assert.equal(await sbx.files.makeDir(dir), false);
    assert.equal(await sbx.files.makeDir(`${rel}/made/deep`), false, 'relative path, same dir');
  });

  test('makeDir() over a file: InvalidArgumentError', async () => {
    writeAs(user, path.join(base, 'plain'), 'x');
    const err = await rejection(sbx.files.makeDir(path.join(base, 'plain')));
    assert.ok(err instanceof InvalidArgumentError, `${err.constructor.name}: ${err.message}`);
  });

  test('remove(): a file, a tree, a missing path', async () => {
    writeAs(user, path.join(base, 'rm.txt'), 'x');
    await sbx.files.remove(path.join(base, 'rm.txt'));
    assert.equal(fs.existsSync(path.join(base, 'rm.txt')), false);
    fs.mkdirSync(path.join(base, 'rmtree/a/b'), { recursive: true });
    fs.writeFileSync(path.join(base, 'rmtree/a/b/f'), 'x');
    await sbx.files.remove(`${rel}/rmtree`);
    assert.equal(fs.existsSync(path.join(base, 'rmtree')), false);
    await sbx.files.remove(path.join(base, 'never-existed'));
    assert.equal(await sbx.files.exists(path.join(base, 'rmtree')), false);
  });

  test('rename(): returns the new entry; the old path is gone', async () => {
    writeAs(user, path.join(base, 'old.txt'), 'data');
    const info = await sbx.files.rename(path.join(base, 'old.txt'), path.join(base, 'moved', 'new.txt'));
    assert.equal(info.name, 'new.txt');
    assert.equal(info.path, path.join(base, 'moved', 'new.txt'));
    assert.equal(info.type, FileType.FILE);
    assert.equal(info.size, 4);
    assert.equal(fs.existsSync(path.join(base, 'old.txt')), false);
    assert.equal(fs.readFileSync(path.join(base, 'moved', 'new.txt'), 'utf8'), 'data');
  });

  test('rename() of a missing source: FileNotFoundError', async () => {
    const err = await rejection(sbx.files.rename(path.join(base, 'ghost'), path.join(base, 'ghost2')));
    assert.ok(err instanceof FileNotFoundError, `${err.constructor.name}: ${err.message}`);
    assert.ok(err instanceof NotFoundError);
    assert.match(err.message, /source file not found/);
  });

  test('watchDir(): WRITE on an overwrite, CREATE for a new file', async () => {
    const dir = path.join(base, 'watch1');
    fs.mkdirSync(dir);
    writeAs(user, path.join(dir, 'existing.txt'), 'a');
    const events = [];
    const handle = await sbx.files.watchDir(dir, (e) => events.push(e));
    try {
      fs.writeFileSync(path.join(dir, 'existing.txt'), 'b');
      await waitFor(
        () => events.some((e) => e.name === 'existing.txt' && e.type === FilesystemEventType.WRITE),
        'WRITE existing.txt',
      );
      fs.writeFileSync(path.join(dir, 'fresh.txt'), 'c');
      await waitFor(
        () => events.some((e) => e.name === 'fresh.txt' && e.type === FilesystemEventType.CREATE),
        'CREATE fresh.txt',
      );
      assert.ok(events.every((e) => e.entry === undefined), 'no entries unless asked');
    } finally {
      await handle.stop();
    }
  });

  test('watchDir() recursive: a directory made after the start, then a file in it', async () => {
    const dir = path.join(base, 'watch2');
    fs.mkdirSync(dir);
    const events = [];
    const handle = await sbx.files.watchDir(dir, (e) => events.push(e), { recursive: true });
    try {
      assert.equal(await sbx.files.makeDir(path.join(dir, 'n')), true);
      await waitFor(() => events.some((e) => e.name === 'n' && e.type === FilesystemEventType.CREATE), 'CREATE n');
      fs.writeFileSync(path.join(dir, 'n', 'f.txt'), 'hello');
      await waitFor(
        () => events.some((e) => e.name === 'n/f.txt' && e.type === FilesystemEventType.WRITE),
        'WRITE n/f.txt',
      );
      const iCreate = events.findIndex((e) => e.name === 'n' && e.type === FilesystemEventType.CREATE);
      const iWrite = events.findIndex((e) => e.name === 'n/f.txt' && e.type === FilesystemEventType.WRITE);
      assert.ok(iCreate < iWrite, 'CREATE n before WRITE n/f.txt');
    } finally {
      await handle.stop();
    }
  });

  test('watchDir() with includeEntry: entries carry absolute paths', async () => {
    const dir = path.join(base, 'watch3');
    fs.mkdirSync(dir);
    const events = [];
    const handle = await sbx.files.watchDir(dir, (e) => events.push(e), { includeEntry: true, recursive: true });
    try {
      fs.mkdirSync(path.join(dir, 'd'));
      await waitFor(() => events.some((e) => e.name === 'd'), 'CREATE d');
      fs.writeFileSync(path.join(dir, 'd', 'e.txt'), 'entry');
      const ev = await waitFor(
        () => events.find((e) => e.name === 'd/e.txt' && e.type === FilesystemEventType.WRITE),
        'WRITE d/e.txt',
      );
      assert.ok(ev.entry, 'WRITE carries an entry');
      assert.equal(ev.entry.path, path.join(dir, 'd', 'e.txt'));
      assert.equal(ev.entry.name, 'e.txt');
      assert.equal(ev.entry.type, FileType.FILE);
      const evd = events.find((e) => e.name === 'd' && e.type === FilesystemEventType.CREATE);
      assert.equal(evd.entry.path, path.join(dir, 'd'));
      assert.equal(evd.entry.type, FileType.DIR);
      fs.rmSync(path.join(dir, 'd', 'e.txt'));
      const rm = await waitFor(
        () => events.find((e) => e.name === 'd/e.txt' && e.type === FilesystemEventType.REMOVE),
        'REMOVE d/e.txt',
      );
      assert.equal(rm.entry, undefined, 'REMOVE carries no entry');
    } finally {
      await handle.stop();
    }
  });

  test('watchDir() of a missing directory: FileNotFoundError', async () => {
    const err = await rejection(sbx.files.watchDir(path.join(base, 'nope'), () => {}));
    assert.ok(err instanceof FileNotFoundError, `${err.constructor.name}: ${err.message}`);
  });

  test('watchDir() of a file: an error (invalid argument)', async () => {
    writeAs(user, path.join(base, 'notadir'), 'x');
    const err = await rejection(sbx.files.watchDir(path.join(base, 'notadir'), () => {}));
    assert.ok(err instanceof InvalidArgumentError, `${err.constructor.name}: ${err.message}`);
  });

  test('watchDir() ends with onExit(err) at its timeout', async () => {
    const dir = path.join(base, 'watch4');
    fs.mkdirSync(dir);
    let exitErr = null;
    let exited = false;
    const handle = await sbx.files.watchDir(dir, () => {}, {
      timeoutMs: 500,
      onExit: (err) => {
        exited = true;
        exitErr = err;
      },
    });
    try {
      await waitFor(() => exited, 'onExit');
      assert.ok(exitErr, 'the deadline is reported as an error');
    } finally {
      await handle.stop();
    }
  });
});

for (const binary of [false, true]) {
  describe(`filesystem.Filesystem over connect-node (${binary ? 'binary' : 'JSON'})`, { skip: LOCAL_ONLY }, () => {
    let envd;
    let client;
    let user;
    let base;
    const FT = {};
    const ET = {};

    before(async () => {
      [user] = ensureTestUsers();
      envd = await startEnvd();
      const res = await envd.init({ defaultUser: 'user' });
      assert.equal(res.status, 204, res.text());
      client = envd.rpc({ binary }).fs;
      base = makeBase(user, binary ? 'bin' : 'json');
      for (const v of enumSchema('filesystem.FileType').values) FT[v.name] = v.number;
      for (const v of enumSchema('filesystem.EventType').values) ET[v.name] = v.number;
    });

    after(async () => {
      if (base) fs.rmSync(base, { recursive: true, force: true });
      await envd?.stop();
    });

    async function code(promise) {
      const err = await rejection(promise);
      assert.ok(err instanceof ConnectError, `expected ConnectError, got ${err?.constructor?.name}: ${err?.message}`);
      return err.code;
    }

    test('Stat: entry fields, then not_found and internal', async () => {
      writeAs(user, path.join(base, 'a.txt'), 'hello');
      fs.utimesSync(path.join(base, 'a.txt'), 1767323045, 1767323045);
      const { entry } = await client.stat({ path: path.join(base, 'a.txt') });
      assert.equal(entry.name, 'a.txt');
      assert.equal(entry.type, FT.FILE_TYPE_FILE);
      assert.equal(entry.path, path.join(base, 'a.txt'));
      assert.equal(entry.size, 5n);
      assert.equal(entry.mode, 0o644);
      assert.equal(entry.permissions, '-rw-r--r--');
      assert.equal(entry.owner, 'user');
      assert.equal(entry.group, 'user');
      assert.equal(entry.modifiedTime.seconds, 1767323045n);
      assert.equal(entry.symlinkTarget, undefined);
      const home = await client.stat({ path: '' });
      assert.equal(home.entry.path, lookupUser('user').home);
      assert.equal(await code(client.stat({ path: path.join(base, 'nope') })), Code.NotFound);
      assert.equal(await code(client.stat({ path: path.join(base, 'a.txt', 'x') })), Code.Internal);
      assert.equal(await code(client.stat({ path: '~bob/x' })), Code.InvalidArgument);
    });

    test('MakeDir: created, then already_exists, then invalid_argument over a file', async () => {
      const { entry } = await client.makeDir({ path: path.join(base, 'm', 'n') });
      assert.equal(entry.type, FT.FILE_TYPE_DIRECTORY);
      assert.equal(entry.owner, 'user');
      assert.equal(await code(client.makeDir({ path: path.join(base, 'm', 'n') })), Code.AlreadyExists);
      assert.equal(await code(client.makeDir({ path: path.join(base, 'a.txt') })), Code.InvalidArgument);
    });

    test('Move: entry of the destination, not_found for a missing source', async () => {
      writeAs(user, path.join(base, 'src.txt'), 'move');
      const { entry } = await client.move({
        source: path.join(base, 'src.txt'),
        destination: path.join(base, 'dst', 'moved.txt'),
      });
      assert.equal(entry.path, path.join(base, 'dst', 'moved.txt'));
      assert.equal(entry.size, 4n);
      const err = await rejection(client.move({ source: path.join(base, 'gone'), destination: path.join(base, 'g2') }));
      assert.equal(err.code, Code.NotFound);
      assert.match(err.rawMessage, /^source file not found: rename /);
    });

    test('ListDir: order, depth, loop, not a directory, missing', async () => {
      const dir = path.join(base, 'tree');
      makeTree(dir);
      const r1 = await client.listDir({ path: dir, depth: 1 });
      assert.deepEqual(r1.entries.map((e) => e.name), ['file1.txt', 'subdir1', 'subdir2']);
      const r2 = await client.listDir({ path: dir, depth: 2 });
      assert.deepEqual(
        r2.entries.map((e) => path.relative(dir, e.path)),
        DEPTH2,
      );
      const r0 = await client.listDir({ path: dir });
      assert.equal(r0.entries.length, 3, 'depth 0 means 1');
      fs.symlinkSync('loop-b', path.join(base, 'loop-a'));
      fs.symlinkSync('loop-a', path.join(base, 'loop-b'));
      assert.equal(await code(client.listDir({ path: path.join(base, 'loop-a') })), Code.FailedPrecondition);
      assert.equal(await code(client.listDir({ path: path.join(base, 'a.txt') })), Code.InvalidArgument);
      assert.equal(await code(client.listDir({ path: path.join(base, 'nope') })), Code.NotFound);
      const empty = path.join(base, 'empty');
      fs.mkdirSync(empty);
      assert.deepEqual((await client.listDir({ path: empty })).entries, []);
    });

    test('Remove: tree, missing path, empty path rejected', async () => {
      fs.mkdirSync(path.join(base, 'rm/x/y'), { recursive: true });
      await client.remove({ path: path.join(base, 'rm') });
      assert.equal(fs.existsSync(path.join(base, 'rm')), false);
      await client.remove({ path: path.join(base, 'rm') });
      assert.equal(await code(client.remove({ path: '' })), Code.InvalidArgument);
      assert.ok(fs.existsSync(lookupUser('user').home), 'home survives');
    });

    test('WatchDir: start first, then events; not_found for a missing directory', async () => {
      const dir = path.join(base, 'w');
      fs.mkdirSync(dir);
      const ac = new AbortController();
      const got = [];
      const stream = client.watchDir({ path: dir, includeEntry: true }, { signal: ac.signal, timeoutMs: 20000 });
      const it = stream[Symbol.asyncIterator]();
      const first = await it.next();
      assert.equal(first.value.event.case, 'start');
      const reader = (async () => {
        try {
          for (;;) {
            const r = await it.next();
            if (r.done) break;
            got.push(r.value.event);
          }
        } catch (err) {
          if (!ac.signal.aborted) throw err;
        }
      })();
      fs.writeFileSync(path.join(dir, 'ev.txt'), 'x');
      await waitFor(
        () => got.some((e) => e.case === 'filesystem' && e.value.name === 'ev.txt' && e.value.type === ET.EVENT_TYPE_WRITE),
        'WRITE ev.txt',
      );
      const ev = got.find((e) => e.case === 'filesystem' && e.value.name === 'ev.txt');
      assert.equal(ev.value.type, ET.EVENT_TYPE_CREATE, 'CREATE comes first');
      assert.equal(ev.value.entry.path, path.join(dir, 'ev.txt'));
      ac.abort();
      await reader;

      const missing = client.watchDir({ path: path.join(base, 'nope') }, { timeoutMs: 5000 });
      const err = await rejection(
        (async () => {
          for await (const m of missing) assert.fail(`unexpected message ${m.event.case}`);
        })(),
      );
      assert.ok(err instanceof ConnectError);
      assert.equal(err.code, Code.NotFound);
      const notDir = client.watchDir({ path: path.join(base, 'a.txt') }, { timeoutMs: 5000 });
      assert.equal(
        await code(
          (async () => {
            for await (const m of notDir) assert.fail(`unexpected message ${m.event.case}`);
          })(),
        ),
        Code.InvalidArgument,
      );
    });

    test('WatchDir: deadline_exceeded at Connect-Timeout-Ms', async () => {
      const dir = path.join(base, 'w-deadline');
      fs.mkdirSync(dir);
      const cases = [];
      const err = await rejection(
        (async () => {
          for await (const m of client.watchDir({ path: dir }, { timeoutMs: 400 })) cases.push(m.event.case);
        })(),
      );
      assert.deepEqual(cases, ['start']);
      assert.equal(err.code, Code.DeadlineExceeded);
    });

    test('CreateWatcher / GetWatcherEvents / RemoveWatcher', async () => {
      const dir = path.join(base, 'pw');
      fs.mkdirSync(dir);
      const { watcherId } = await client.createWatcher({ path: dir, recursive: true });
      assert.match(watcherId, /^w[a-z0-9]{20}$/);
      assert.deepEqual((await client.getWatcherEvents({ watcherId })).events, []);
      fs.mkdirSync(path.join(dir, 'sub'));
      fs.writeFileSync(path.join(dir, 'sub', 'f'), 'x');
      const seen = [];
      await waitFor(async () => {
        const { events } = await client.getWatcherEvents({ watcherId });
        seen.push(...events.map((e) => `${e.type}:${e.name}`));
        return seen.includes(`${ET.EVENT_TYPE_CREATE}:sub/f`);
      }, 'CREATE sub/f');
      assert.equal(seen[0], `${ET.EVENT_TYPE_CREATE}:sub`);
      await client.removeWatcher({ watcherId });
      assert.equal(await code(client.getWatcherEvents({ watcherId })), Code.NotFound);
      assert.equal(await code(client.removeWatcher({ watcherId })), Code.NotFound);
      assert.equal(await code(client.createWatcher({ path: path.join(base, 'nope') })), Code.NotFound);
      assert.equal(await code(client.createWatcher({ path: path.join(base, 'a.txt') })), Code.InvalidArgument);
    });
  });
}
