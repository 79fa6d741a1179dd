// Checks of the test layer itself that need no daemon: the repository protos
// compile and agree with what the e2b SDK was generated from, the direct
// Connect clients put the expected bytes on the wire in JSON and binary mode,
// and the SDK's URL signing agrees with the documented algorithm.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { create, fromBinary, fromJson, toBinary, toJson } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';

import { descriptorSetBytes, rpcClients, schema, service } from './lib/rpc.mjs';
import { signVectors } from './lib/sign-vectors.mjs';

const require = createRequire(import.meta.url);

// ---------------------------------------------------------------- protos

describe('repository protos', () => {
  test('compile with protoc and expose both services', () => {
    const fsSvc = service('filesystem.Filesystem');
    const procSvc = service('process.Process');
    const kinds = (svc) => Object.fromEntries(svc.methods.map((m) => [m.name, m.methodKind]));
    assert.deepEqual(kinds(fsSvc), {
      Stat: 'unary',
      MakeDir: 'unary',
      Move: 'unary',
      ListDir: 'unary',
      Remove: 'unary',
      WatchDir: 'server_streaming',
      CreateWatcher: 'unary',
      GetWatcherEvents: 'unary',
      RemoveWatcher: 'unary',
    });
    assert.deepEqual(kinds(procSvc), {
      List: 'unary',
      Connect: 'server_streaming',
      Start: 'server_streaming',
      Update: 'unary',
      StreamInput: 'client_streaming',
      SendInput: 'unary',
      SendSignal: 'unary',
      CloseStdin: 'unary',
    });
  });

  test('match the descriptors embedded in the e2b SDK', () => {
    const sdkMain = require.resolve('e2b');
    const bundle = fs.readFileSync(path.join(path.dirname(sdkMain), 'index.mjs'), 'utf8');
    const embedded = [...bundle.matchAll(/fileDesc\("([A-Za-z0-9+/=]+)"/g)].map((m) =>
      fromBinary(FileDescriptorProtoSchema, Buffer.from(m[1], 'base64')),
    );
    const ours = fromBinary(FileDescriptorSetSchema, descriptorSetBytes()).file;
    for (const name of ['filesystem/filesystem.proto', 'process/process.proto']) {
      const sdkFile = embedded.find((f) => f.name === name);
      const ourFile = ours.find((f) => f.name === name);
      assert.ok(sdkFile, `${name} embedded in the SDK`);
      assert.ok(ourFile, `${name} in the repository`);
      assert.deepEqual(withoutNewer(name, normFile(ourFile), normFile(sdkFile)), normFile(sdkFile), name);
    }
  });

  test('EntryInfo.is_symlink is field 12, a plain bool (envd 0.9.1)', () => {
    const f = schema('filesystem.EntryInfo').fields.find((x) => x.name === 'is_symlink');
    assert.ok(f, 'is_symlink declared');
    assert.equal(f.number, 12);
    assert.equal(f.jsonName, 'isSymlink');
    assert.equal(f.scalar, 8 /* ScalarType.BOOL */);
  });

  test('google.protobuf.Timestamp keeps its well-known JSON form', () => {
    const S = schema('filesystem.EntryInfo');
    const msg = fromJson(S, { name: 'a', modifiedTime: '2026-08-21T10:15:30.123456789Z', size: '11' });
    assert.equal(msg.modifiedTime.seconds, 1787307330n);
    assert.equal(msg.modifiedTime.nanos, 123456789);
    assert.deepEqual(toJson(S, msg), { name: 'a', size: '11', modifiedTime: '2026-08-21T10:15:30.123456789Z' });
  });

  test('StartRequest serialises like the SDK sends it', () => {
    const S = schema('process.StartRequest');
    const msg = create(S, { process: { cmd: '/bin/bash', args: ['-l', '-c', 'echo hi'] }, stdin: false });
    assert.equal(
      JSON.stringify(toJson(S, msg)),
      '{"process":{"cmd":"/bin/bash","args":["-l","-c","echo hi"]},"stdin":false}',
    );
    const bin = toBinary(S, msg);
    assert.equal(Buffer.from(bin).toString('hex'), '0a1c0a092f62696e2f6261736812022d6c12022d6312076563686f2068692000');
    assert.deepEqual(toJson(S, fromBinary(S, bin)), toJson(S, msg));
  });
});

// Fields envd added after the SDK's protos were generated (upstream 0.9.1);
// the SDK ignores them. Drop them from ours unless the SDK has them too.
const NEWER_FIELDS = { 'filesystem/filesystem.proto': { EntryInfo: ['is_symlink'] } };

function withoutNewer(name, ours, sdk) {
  const skip = NEWER_FIELDS[name] ?? {};
  const messages = ours.messages.map((m) => {
    const drop = skip[m.name] ?? [];
    const theirs = sdk.messages.find((x) => x.name === m.name);
    const keep = (f) => !drop.includes(f.name) || theirs?.fields.some((x) => x.name === f.name);
    return { ...m, fields: m.fields.filter(keep) };
  });
  return { ...ours, messages };
}

function normFile(f) {
  const field = (x) => ({
    name: x.name,
    number: x.number,
    label: x.label,
    type: x.type,
    typeName: x.typeName,
    oneofIndex: x.oneofIndex,
    proto3Optional: x.proto3Optional,
  });
  const en = (e) => ({ name: e.name, values: e.value.map((v) => [v.name, v.number]) });
  const msg = (m) => ({
    name: m.name,
    fields: m.field.map(field),
    oneofs: m.oneofDecl.map((o) => o.name),
    mapEntry: m.options?.mapEntry ?? false,
    nested: sortByName(m.nestedType.map(msg)),
    enums: sortByName(m.enumType.map(en)),
  });
  return {
    package: f.package,
    messages: sortByName(f.messageType.map(msg)),
    enums: sortByName(f.enumType.map(en)),
    services: f.service.map((s) => ({
      name: s.name,
      methods: s.method.map((m) => ({
        name: m.name,
        input: m.inputType,
        output: m.outputType,
        clientStreaming: m.clientStreaming,
        serverStreaming: m.serverStreaming,
      })),
    })),
  };
}

function sortByName(list) {
  return [...list].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

// ---------------------------------------------------------------- clients

function envelope(flags, payload) {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, Buffer.from(payload)]);
}

function parseEnvelopes(buf) {
  const out = [];
  for (let off = 0; off < buf.length; ) {
    const len = buf.readUInt32BE(off + 1);
    out.push({ flags: buf[off], payload: buf.subarray(off + 5, off + 5 + len) });
    off += 5 + len;
  }
  return out;
}

describe('direct Connect clients', () => {
  let server;
  let port;
  const seen = [];

  const StatReq = schema('filesystem.StatRequest');
  const StatRes = schema('filesystem.StatResponse');
  const StartReq = schema('process.StartRequest');
  const StartRes = schema('process.StartResponse');
  const entryJson = {
    name: 'hello.txt',
    type: 'FILE_TYPE_FILE',
    path: '/home/user/hello.txt',
    size: '11',
    mode: 420,
    permissions: '-rw-r--r--',
    owner: 'user',
    group: 'user',
    modifiedTime: '2026-08-21T10:15:30.123456789Z',
  };

  before(async () => {
    server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        seen.push({ method: req.method, url: req.url, headers: req.headers, body });
        const ct = req.headers['content-type'];
        if (req.url === '/filesystem.Filesystem/Stat') {
          const path = ct === 'application/proto' ? fromBinary(StatReq, body).path : JSON.parse(body).path;
          if (path === 'missing') {
            res.writeHead(404, { 'Content-Type': 'application/json' });
            return res.end('{"code":"not_found","message":"file not found: missing"}');
          }
          const msg = fromJson(StatRes, { entry: entryJson });
          res.writeHead(200, { 'Content-Type': ct });
          return res.end(ct === 'application/proto' ? toBinary(StatRes, msg) : JSON.stringify(toJson(StatRes, msg)));
        }
        if (req.url === '/process.Process/Start') {
          const binary = ct === 'application/connect+proto';
          const enc = (json) => {
            const m = fromJson(StartRes, json);
            return binary ? toBinary(StartRes, m) : JSON.stringify(toJson(StartRes, m));
          };
          res.writeHead(200, { 'Content-Type': ct });
          res.write(envelope(0, enc({ event: { start: { pid: 1234 } } })));
          res.write(envelope(0, enc({ event: { data: { stdout: 'aGkK' } } })));
          res.write(envelope(0, enc({ event: { end: { exited: true, status: 'exit status 0' } } })));
          return res.end(envelope(2, '{}'));
        }
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('404 page not found\n');
      });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    port = server.address().port;
  });

  after(() => new Promise((r) => server.close(r)));

  for (const binary of [false, true]) {
    const mode = binary ? 'binary' : 'JSON';

    test(`${mode} unary call carries token, user and the right encoding`, async () => {
      seen.length = 0;
      const { fs: fsc } = rpcClients(port, { binary, token: 'tok-123', user: 'user' });
      const res = await fsc.stat({ path: 'hello.txt' });
      assert.equal(res.entry.name, 'hello.txt');
      assert.equal(res.entry.size, 11n);
      assert.equal(res.entry.type, 1);
      assert.equal(res.entry.modifiedTime.nanos, 123456789);
      const [r] = seen;
      assert.equal(r.method, 'POST');
      assert.equal(r.url, '/filesystem.Filesystem/Stat');
      assert.equal(r.headers['content-type'], binary ? 'application/proto' : 'application/json');
      assert.equal(r.headers['connect-protocol-version'], '1');
      assert.equal(r.headers['x-access-token'], 'tok-123');
      assert.equal(r.headers.authorization, 'Basic dXNlcjo=');
      if (binary) assert.equal(r.body.toString('hex'), '0a0968656c6c6f2e747874');
      else assert.deepEqual(JSON.parse(r.body), { path: 'hello.txt' });
    });

    test(`${mode} unary error maps to a ConnectError code`, async () => {
      const { fs: fsc } = rpcClients(port, { binary });
      await assert.rejects(fsc.stat({ path: 'missing' }), (err) => {
        assert.ok(err instanceof ConnectError);
        assert.equal(err.code, Code.NotFound);
        assert.equal(err.rawMessage, 'file not found: missing');
        return true;
      });
      const r = seen.at(-1);
      assert.equal(r.headers['x-access-token'], undefined);
      assert.equal(r.headers.authorization, undefined);
    });

    test(`${mode} server stream is enveloped both ways`, async () => {
      seen.length = 0;
      const { proc } = rpcClients(port, { binary, user: 'root' });
      const events = [];
      for await (const m of proc.start({ process: { cmd: '/bin/bash', args: ['-l', '-c', 'echo hi'] }, stdin: false })) {
        events.push(m.event.event);
      }
      assert.deepEqual(
        events.map((e) => e.case),
        ['start', 'data', 'end'],
      );
      assert.equal(events[0].value.pid, 1234);
      assert.equal(Buffer.from(events[1].value.output.value).toString(), 'hi\n');
      assert.equal(events[2].value.status, 'exit status 0');
      const [r] = seen;
      assert.equal(r.headers['content-type'], binary ? 'application/connect+proto' : 'application/connect+json');
      assert.equal(r.headers.authorization, 'Basic cm9vdDo=');
      const env = parseEnvelopes(r.body);
      assert.equal(env.length, 1);
      assert.equal(env[0].flags, 0);
      const req = binary ? fromBinary(StartReq, env[0].payload) : fromJson(StartReq, JSON.parse(env[0].payload));
      assert.equal(req.process.cmd, '/bin/bash');
      assert.deepEqual(req.process.args, ['-l', '-c', 'echo hi']);
      assert.equal(req.stdin, false);
    });
  }
});

// ---------------------------------------------------------------- signing

function referenceSignature({ path, operation, user, token, expiration }) {
  let raw = `${path}:${operation}:${user ?? ''}:${token}`;
  if (expiration !== null) raw += `:${expiration}`;
  return 'v1_' + createHash('sha256').update(raw, 'utf8').digest('base64').replace(/=+$/, '');
}

describe('SDK URL signing', () => {
  test('reproduces the documented vectors', async () => {
    const [a] = await signVectors({
      token: '0tQG31xiMp0IOQfaz9dcwi72L1CPo8e0',
      paths: ['hello.txt'],
      users: ['user'],
      expirations: [undefined],
      operations: ['read'],
    });
    assert.equal(a.signature, 'v1_gUtH/s9YCJWgCizjfUxuWfhFE4QSydOWEIIvfLwDr6E');

    const [b] = await signVectors({
      token: 'e2b-example-token-123',
      paths: ['/home/user/report.csv'],
      users: [undefined],
      expirations: [undefined],
      operations: ['read'],
    });
    assert.equal(b.signature, 'v1_sSPy5BLjtyzb10/hl8TSE10/r43gtpqnsxIr/x53pPE');

    const [c] = await signVectors({
      token: 'e2b-example-token-123',
      sandboxUrl: 'http://localhost:49983',
      paths: ['/home/user/report.csv'],
      users: ['root'],
      expirations: [3600],
      operations: ['write'],
      now: 1767225600 - 3600,
    });
    assert.equal(c.expiration, 1767225600);
    assert.equal(c.signature, 'v1_+nB/SSc6ADtRaca/ockC+iqEUvkV7sD1tzjQpe0qd7g');
    assert.equal(
      c.url,
      'http://localhost:49983/files?username=root&path=%2Fhome%2Fuser%2Freport.csv' +
        '&signature=v1_%2BnB%2FSSc6ADtRaca%2FockC%2BiqEUvkV7sD1tzjQpe0qd7g&signature_expiration=1767225600',
    );
  });

  test('agrees with an independent implementation over the vector matrix', async () => {
    const vectors = await signVectors();
    assert.ok(vectors.length >= 48);
    for (const v of vectors) {
      assert.equal(v.signature, referenceSignature(v), JSON.stringify(v));
      assert.match(v.signature, /^v1_[A-Za-z0-9+/]{43}$/);
      const u = new URL(v.url);
      assert.equal(u.pathname, '/files');
      const keys = [...u.searchParams.keys()];
      const expected = [
        ...(v.user ? ['username'] : []),
        'path',
        'signature',
        ...(v.expiration !== null ? ['signature_expiration'] : []),
      ];
      assert.deepEqual(keys, expected);
      assert.equal(u.searchParams.get('path'), v.path);
      if (v.user) assert.equal(u.searchParams.get('username'), v.user);
    }
  });
});
