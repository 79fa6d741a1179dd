// GET and POST /files as the e2b SDK uses them: files.read in every format
// (plain and gzip, empty files included), files.write as multipart (one or
// many files), as application/octet-stream (ReadableStream and Blob data)
// and gzip-compressed, metadata through write -> getInfo/list, and
// pre-signed downloadUrl/uploadUrl on a daemon locked with an access token,
// used with plain fetch.
//
// The daemon runs with `user` as default user; files are checked with
// node:fs (the tests run as root on the daemon's machine).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { FileNotFoundError } from 'e2b';

import { LOCAL_ONLY, startEnvd } from './lib/harness.mjs';
import { ensureTestUsers } from './lib/setup.mjs';

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
  const dir = path.join(user.home, `sdk-files-${tag}-${randomBytes(4).toString('hex')}`);
  fs.mkdirSync(dir, { mode: 0o755 });
  fs.chownSync(dir, user.uid, user.gid);
  return dir;
}

// Deterministic binary content of n bytes.
function pattern(n, seed = 7) {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

// A ReadableStream that yields buf in chunks of the given size.
function streamOf(buf, chunk = 64 * 1024) {
  let off = 0;
  return new ReadableStream({
    pull(controller) {
      if (off >= buf.length) {
        controller.close();
        return;
      }
      controller.enqueue(new Uint8Array(buf.subarray(off, off + chunk)));
      off += chunk;
    },
  });
}

async function drain(stream) {
  const parts = [];
  for await (const c of stream) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

function ownerAndMode(file) {
  const st = fs.statSync(file);
  return { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 };
}

describe('files.read / files.write (e2b SDK)', { skip: LOCAL_ONLY }, () => {
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
    base = makeBase(user, 'rw');
    rel = path.basename(base);
  });

  after(async () => {
    if (base) fs.rmSync(base, { recursive: true, force: true });
    await envd?.stop();
  });

  test('read(): text, bytes, blob and stream of the same file', async () => {
    const data = pattern(300 * 1024);
    const file = path.join(base, 'r.bin');
    fs.writeFileSync(file, data);
    const text = await sbx.files.read(path.join(base, 'hello.txt')).catch((e) => e);
    assert.ok(text instanceof FileNotFoundError, 'missing file before it is written');
    fs.writeFileSync(path.join(base, 'hello.txt'), 'Hello, ✓ world\n');
    assert.equal(await sbx.files.read(path.join(base, 'hello.txt')), 'Hello, ✓ world\n');
    assert.equal(await sbx.files.read(`${rel}/hello.txt`), 'Hello, ✓ world\n', 'relative to the home');

    const bytes = await sbx.files.read(file, { format: 'bytes' });
    assert.ok(bytes instanceof Uint8Array);
    assert.ok(Buffer.from(bytes).equals(data));
    const blob = await sbx.files.read(file, { format: 'blob' });
    assert.ok(blob instanceof Blob);
    assert.ok(Buffer.from(await blob.arrayBuffer()).equals(data));
    const stream = await sbx.files.read(file, { format: 'stream' });
    assert.ok((await drain(stream)).equals(data));
  });

  test('read() with gzip: true decodes to the same bytes', async () => {
    const data = pattern(1024 * 1024, 3);
    const file = path.join(base, 'gz-read.bin');
    fs.writeFileSync(file, data);
    const bytes = await sbx.files.read(file, { format: 'bytes', gzip: true });
    assert.ok(Buffer.from(bytes).equals(data));
    const stream = await sbx.files.read(file, { format: 'stream', gzip: true });
    assert.ok((await drain(stream)).equals(data));
    fs.writeFileSync(path.join(base, 'gz.txt'), 'zipped text');
    assert.equal(await sbx.files.read(path.join(base, 'gz.txt'), { gzip: true }), 'zipped text');
  });

  test('read() of an empty file is empty in every format', async () => {
    const file = path.join(base, 'empty');
    fs.writeFileSync(file, '');
    for (const gzip of [false, true]) {
      assert.equal(await sbx.files.read(file, { gzip }), '');
      const bytes = await sbx.files.read(file, { format: 'bytes', gzip });
      assert.ok(bytes instanceof Uint8Array);
      assert.equal(bytes.length, 0);
      const blob = await sbx.files.read(file, { format: 'blob', gzip });
      assert.equal(blob.size, 0);
      const stream = await sbx.files.read(file, { format: 'stream', gzip });
      assert.equal((await drain(stream)).length, 0);
    }
  });

  test('read() of a directory or a missing file', async () => {
    const err = await rejection(sbx.files.read(path.join(base, 'nope.txt')));
    assert.ok(err instanceof FileNotFoundError, `${err.constructor.name}: ${err.message}`);
    assert.match(err.message, /does not exist/);
    const dirErr = await rejection(sbx.files.read(base));
    assert.match(dirErr.message, /is a directory/);
  });

  test('write() of one file: WriteInfo, contents, owner, mode, parent directories', async () => {
    const info = await sbx.files.write(`${rel}/new/deep/one.txt`, 'first');
    assert.equal(info.name, 'one.txt');
    assert.equal(info.path, path.join(base, 'new/deep/one.txt'));
    assert.equal(info.type, 'file');
    assert.equal(info.metadata, undefined);
    assert.equal(fs.readFileSync(info.path, 'utf8'), 'first');
    assert.deepEqual(ownerAndMode(info.path), { uid: user.uid, gid: user.gid, mode: 0o644 });
    for (const d of ['new', 'new/deep']) {
      assert.deepEqual(ownerAndMode(path.join(base, d)), { uid: user.uid, gid: user.gid, mode: 0o755 });
    }
    const again = await sbx.files.write(info.path, new TextEncoder().encode('second').buffer);
    assert.equal(again.path, info.path);
    assert.equal(fs.readFileSync(info.path, 'utf8'), 'second');
    assert.equal(await sbx.files.read(info.path), 'second');
  });

  test('write() of many files in one multipart request', async () => {
    const files = [
      { path: `${rel}/many/a.txt`, data: 'A' },
      { path: path.join(base, 'many/b.bin'), data: pattern(100 * 1024).buffer },
      { path: `${rel}/many/sub dir/ünï ✓.txt`, data: new Blob(['C']) },
    ];
    const infos = await sbx.files.write(files);
    assert.deepEqual(
      infos.map((i) => i.path),
      [path.join(base, 'many/a.txt'), path.join(base, 'many/b.bin'), path.join(base, 'many/sub dir/ünï ✓.txt')],
    );
    assert.equal(fs.readFileSync(path.join(base, 'many/a.txt'), 'utf8'), 'A');
    assert.ok(fs.readFileSync(path.join(base, 'many/b.bin')).equals(pattern(100 * 1024)));
    assert.equal(fs.readFileSync(path.join(base, 'many/sub dir/ünï ✓.txt'), 'utf8'), 'C');
    const viaWriteFiles = await sbx.files.writeFiles([{ path: `${rel}/many/c.txt`, data: 'c' }]);
    assert.equal(viaWriteFiles.length, 1);
    assert.equal(viaWriteFiles[0].name, 'c.txt');
  });

  test('write() of a ReadableStream goes as application/octet-stream', async () => {
    const data = pattern(3 * 1024 * 1024 + 5, 11);
    const info = await sbx.files.write(`${rel}/stream.bin`, streamOf(data));
    assert.equal(info.path, path.join(base, 'stream.bin'));
    assert.ok(fs.readFileSync(info.path).equals(data));
    assert.equal(fs.statSync(info.path).uid, user.uid);
  });

  test('write() of a Blob with useOctetStream: true', async () => {
    const data = pattern(200 * 1024, 5);
    const info = await sbx.files.write(`${rel}/blob.bin`, new Blob([data]), { useOctetStream: true });
    assert.ok(fs.readFileSync(info.path).equals(data));
    const infos = await sbx.files.write(
      [
        { path: `${rel}/oct/1.txt`, data: '1' },
        { path: `${rel}/oct/2.txt`, data: '2' },
      ],
      { useOctetStream: true },
    );
    assert.equal(infos.length, 2);
    assert.equal(fs.readFileSync(path.join(base, 'oct/2.txt'), 'utf8'), '2');
  });

  test('write() with gzip: true (string and stream)', async () => {
    const text = 'gzip me '.repeat(10000);
    const info = await sbx.files.write(`${rel}/gz-up.txt`, text, { gzip: true });
    assert.equal(fs.readFileSync(info.path, 'utf8'), text);
    const data = pattern(2 * 1024 * 1024, 9);
    const info2 = await sbx.files.write(`${rel}/gz-up.bin`, streamOf(data), { gzip: true });
    assert.ok(fs.readFileSync(info2.path).equals(data));
    assert.ok(Buffer.from(await sbx.files.read(info2.path, { format: 'bytes', gzip: true })).equals(data));
  });

  test('write() of an empty string creates an empty file', async () => {
    const info = await sbx.files.write(`${rel}/empty-up.txt`, '');
    assert.equal(fs.statSync(info.path).size, 0);
    assert.equal(await sbx.files.read(info.path), '');
  });

  test('metadata: write -> WriteInfo, getInfo, list; an overwrite without metadata clears it', async () => {
    const meta = { Owner: 'alice', 'x-run': '42' };
    const info = await sbx.files.write(`${rel}/meta/m.txt`, 'm', { metadata: meta });
    assert.deepEqual(info.metadata, { owner: 'alice', 'x-run': '42' });
    const stat = await sbx.files.getInfo(info.path);
    assert.deepEqual(stat.metadata, { owner: 'alice', 'x-run': '42' });
    const listed = await sbx.files.list(path.join(base, 'meta'));
    assert.deepEqual(listed.map((e) => [e.name, e.metadata]), [['m.txt', { owner: 'alice', 'x-run': '42' }]]);
    const multi = await sbx.files.write(
      [
        { path: `${rel}/meta/a`, data: 'a' },
        { path: `${rel}/meta/b`, data: 'b' },
      ],
      { metadata: { k: 'v' } },
    );
    assert.deepEqual(multi.map((i) => i.metadata), [{ k: 'v' }, { k: 'v' }]);
    const octet = await sbx.files.write(`${rel}/meta/o`, streamOf(Buffer.from('o')), { metadata: { s: 't' } });
    assert.deepEqual(octet.metadata, { s: 't' });
    const cleared = await sbx.files.write(info.path, 'again');
    assert.equal(cleared.metadata, undefined);
    assert.equal((await sbx.files.getInfo(info.path)).metadata, undefined);
  });
});

describe('downloadUrl / uploadUrl on a locked daemon', { skip: LOCAL_ONLY }, () => {
  const TOKEN = `sdk-files-${randomBytes(16).toString('hex')}`;
  let envd;
  let sbx;
  let user;
  let base;

  before(async () => {
    [user] = ensureTestUsers();
    envd = await startEnvd();
    const res = await envd.init({ defaultUser: 'user', accessToken: TOKEN });
    assert.equal(res.status, 204, res.text());
    sbx = envd.sandbox({ token: TOKEN });
    base = makeBase(user, 'url');
    fs.writeFileSync(path.join(base, 'dl.txt'), 'download me');
  });

  after(async () => {
    if (base) fs.rmSync(base, { recursive: true, force: true });
    await envd?.stop();
  });

  test('the SDK itself reads and writes with X-Access-Token', async () => {
    await sbx.files.write(path.join(base, 'sdk.txt'), 'by sdk');
    assert.equal(await sbx.files.read(path.join(base, 'sdk.txt')), 'by sdk');
  });

  test('without a signature /files is 401', async () => {
    const res = await fetch(`${envd.url}/files?path=${encodeURIComponent(path.join(base, 'dl.txt'))}`);
    assert.equal(res.status, 401);
    assert.deepEqual(await res.json(), { code: 401, message: 'missing signature query parameter' });
  });

  test('downloadUrl() without and with expiry works with plain fetch', async () => {
    for (const opts of [{}, { useSignatureExpiration: 120 }, { user: 'user' }]) {
      const url = await sbx.downloadUrl(path.join(base, 'dl.txt'), opts);
      assert.ok(url.startsWith(`${envd.url}/files?`), url);
      const res = await fetch(url);
      assert.equal(res.status, 200, `${JSON.stringify(opts)}: ${await res.clone().text()}`);
      assert.equal(await res.text(), 'download me');
      assert.equal(res.headers.get('content-disposition'), 'inline; filename=dl.txt');
    }
  });

  test('an expired, tampered or misused download URL is 401', async () => {
    const expired = await sbx.downloadUrl(path.join(base, 'dl.txt'), { useSignatureExpiration: -10 });
    let res = await fetch(expired);
    assert.equal(res.status, 401);
    assert.equal((await res.json()).message, 'signature is already expired');

    const good = new URL(await sbx.downloadUrl(path.join(base, 'dl.txt')));
    good.searchParams.set('path', path.join(base, 'sdk.txt'));
    res = await fetch(good);
    assert.equal(res.status, 401);
    assert.equal((await res.json()).message, 'invalid signature');

    res = await fetch(await sbx.downloadUrl(path.join(base, 'dl.txt')), { method: 'POST', body: 'x' });
    assert.equal(res.status, 401, 'a read signature does not allow uploads');
  });

  test('uploadUrl() without and with expiry accepts a browser-style multipart POST', async () => {
    for (const [i, opts] of [{}, { useSignatureExpiration: 120 }].entries()) {
      const target = path.join(base, `up${i}/u.txt`);
      const url = await sbx.uploadUrl(target, opts);
      const form = new FormData();
      form.append('file', new Blob([`uploaded ${i}`]));
      const res = await fetch(url, { method: 'POST', body: form });
      assert.equal(res.status, 200, await res.clone().text());
      const entries = await res.json();
      assert.deepEqual(entries, [{ name: 'u.txt', path: target, type: 'file' }]);
      assert.equal(fs.readFileSync(target, 'utf8'), `uploaded ${i}`);
      assert.equal(fs.statSync(target).uid, user.uid);
    }
  });

  test('uploadUrl() used with an octet-stream body', async () => {
    const target = path.join(base, 'raw.bin');
    const data = pattern(512 * 1024, 13);
    const res = await fetch(await sbx.uploadUrl(target), {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: data,
    });
    assert.equal(res.status, 200, await res.clone().text());
    assert.ok(fs.readFileSync(target).equals(data));
  });

  test('an expired upload URL is 401 and writes nothing', async () => {
    const target = path.join(base, 'never.txt');
    const url = await sbx.uploadUrl(target, { useSignatureExpiration: -5 });
    const form = new FormData();
    form.append('file', new Blob(['x']));
    const res = await fetch(url, { method: 'POST', body: form });
    assert.equal(res.status, 401);
    assert.equal((await res.json()).message, 'signature is already expired');
    assert.equal(fs.existsSync(target), false);
  });
});
