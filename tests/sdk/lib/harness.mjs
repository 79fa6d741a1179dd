// Test harness: runs one envd daemon on a free loopback port and hands out
// SDK sandboxes, raw HTTP helpers and direct Connect clients bound to it.
//
//   const envd = await startEnvd();          // spawned with -isnotfc -port N
//   await envd.init();                       // POST /init {"defaultUser":"user"}
//   const sbx = envd.sandbox();              // e2b Sandbox aimed at this daemon
//   const { fs, proc } = envd.rpc({ binary: true });
//   await envd.stop();                       // SIGTERM, expects exit 0 within 2 s
//
// With ENVD_REMOTE_URL set, startEnvd() spawns nothing and hands out a
// RemoteEnvd for the daemon at that URL (a VM, say) that /init has already
// given the token ENVD_REMOTE_TOKEN: init(), sandbox(), rpc() and request()
// carry that token unless given another. Tests that need the daemon on this
// machine (its files, pids, log or exit) pass `{ skip: LOCAL_ONLY }`.
//
// With ENVD_EDGE set (the path of a JSON file, written by
// tests/integration/test-edge-sdk-layer.sh), every daemon runs behind the
// sandbox edge: the file lists sandboxes already added to the edge, each
// {"id", "addr", "netns"}, and the domain. startEnvd() takes a free one,
// spawns the daemon in its network namespace on port 49983 and hands out
// an Envd whose url is https://49983-ID.DOMAIN; sandbox() is the SDK in
// non-debug mode (it builds that URL itself from the ID and the domain),
// and rpc() and request() go through the edge too. Only what the
// orchestrator does goes straight to ADDR:49983: /init (which the edge
// refuses from the public side) and the wait for /health at start-up.
// Tests whose expectation differs behind the edge look at EDGE.
//
// Environment:
//   ENVD_BIN        daemon binary (default <repo>/envd/envd, i.e. ../../envd/envd
//                   from tests/sdk); a relative value is taken from the cwd
//   SDK_TEST_TMPDIR where per-daemon directories (logs) are created
//                   (default: the OS temp dir)
//   ENVD_EDGE       see above

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { Sandbox } from 'e2b';

import { rpcClients } from './rpc.mjs';

export const SDK_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = path.resolve(SDK_DIR, '..', '..');

// The version the SDK is told the daemon runs (its feature gates are keyed
// on it): $SDK_ENVD_VERSION, else what `envd -version` prints.
export const ENVD_VERSION = process.env.SDK_ENVD_VERSION ||
  execFileSync(envdBinary(), ['-version'], { encoding: 'utf8' }).trim();
export const DEBUG_SANDBOX_ID = 'debug_sandbox_id';
export const DEFAULT_INIT_BODY = Object.freeze({ defaultUser: 'user' });

const HEALTH_TIMEOUT_MS = 5000;
const STOP_TIMEOUT_MS = 2000;

export const REMOTE_URL = process.env.ENVD_REMOTE_URL || null;
export const LOCAL_ONLY = REMOTE_URL ? 'needs the daemon on this machine (ENVD_REMOTE_URL is set)' : false;
export const EDGE = process.env.ENVD_EDGE ? loadEdge(process.env.ENVD_EDGE) : null;
// The port the SDK dials in non-debug mode; behind the edge the daemon has it.
export const ENVD_PORT = 49983;

// { domain, sandboxes: [{ id, addr, netns, busy }] } from the ENVD_EDGE file.
function loadEdge(file) {
  const e = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (typeof e.domain !== 'string' || !Array.isArray(e.sandboxes) || e.sandboxes.length === 0) {
    throw new Error(`${file}: want {"domain": ..., "sandboxes": [{"id", "addr", "netns"}, ...]}`);
  }
  return { domain: e.domain, sandboxes: e.sandboxes.map((s) => ({ ...s, busy: false })) };
}

export function envdBinary() {
  return process.env.ENVD_BIN
    ? path.resolve(process.env.ENVD_BIN)
    : path.resolve(SDK_DIR, '../../envd/envd');
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// One plain HTTP/1.1 request on a fresh connection (no keep-alive pool), so
// that harness traffic never holds sockets open across a daemon restart.
// A string/Buffer body gets a Content-Length unless Content-Length or
// Transfer-Encoding is given explicitly. Resolves with { status, headers, rawHeaders, body: Buffer, text(), json() }.
// An https: target is dialled over TLS (the CA from NODE_EXTRA_CA_CERTS).
export function httpRequest(target, method, urlPath, { headers = {}, body, timeoutMs = 10000 } = {}) {
  const base = typeof target === 'number' ? `http://127.0.0.1:${target}` : target;
  const url = new URL(urlPath, base);
  const h = { ...headers };
  const names = Object.keys(h).map((k) => k.toLowerCase());
  if (body !== undefined && !names.includes('content-length') && !names.includes('transfer-encoding')) {
    h['Content-Length'] = Buffer.byteLength(body);
  }
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, { method, headers: h, agent: false, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        resolve({
          status: res.statusCode,
          statusMessage: res.statusMessage,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: buf,
          text: () => buf.toString('utf8'),
          json: () => JSON.parse(buf.toString('utf8')),
        });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const live = new Set();
process.on('exit', () => {
  for (const d of live) {
    try {
      d.proc.kill('SIGKILL');
    } catch {}
  }
});

function tail(text, lines = 40) {
  return text.split('\n').slice(-lines).join('\n');
}

export class Envd {
  // slot: the edge sandbox the daemon runs as (ENVD_EDGE), else undefined.
  constructor({ bin, port, dir, proc, args, slot }) {
    this.bin = bin;
    this.port = port;
    this.slot = slot;
    this.url = slot ? `https://${ENVD_PORT}-${slot.id}.${EDGE.domain}` : `http://127.0.0.1:${port}`;
    // Where the orchestrator reaches the daemon: /init and the start-up wait.
    this.controlUrl = slot ? `http://${slot.addr}:${ENVD_PORT}` : this.url;
    this.dir = dir;
    this.args = args;
    this.stderrPath = path.join(dir, 'stderr.log');
    this.stdoutPath = path.join(dir, 'stdout.log');
    this.proc = proc;
    this.exit = null;
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        this.exit = { code, signal };
        live.delete(this);
        if (slot) slot.busy = false;
        resolve(this.exit);
      });
    });
    live.add(this);
  }

  get running() {
    return this.exit === null;
  }

  // Daemon stderr so far (its log output).
  log() {
    try {
      return fs.readFileSync(this.stderrPath, 'utf8');
    } catch {
      return '';
    }
  }

  stdout() {
    try {
      return fs.readFileSync(this.stdoutPath, 'utf8');
    } catch {
      return '';
    }
  }

  request(method, urlPath, opts) {
    return httpRequest(this.url, method, urlPath, opts);
  }

  health(opts) {
    return this.request('GET', '/health', opts);
  }

  async waitHealthy(timeoutMs = HEALTH_TIMEOUT_MS) {
    const deadline = Date.now() + timeoutMs;
    let last = 'no response';
    while (Date.now() < deadline) {
      if (!this.running) {
        throw new Error(
          `envd exited (${JSON.stringify(this.exit)}) before /health answered; stderr:\n${tail(this.log())}`,
        );
      }
      try {
        const res = await httpRequest(this.controlUrl, 'GET', '/health', { timeoutMs: 1000 });
        if (res.status === 204) return;
        last = `status ${res.status}`;
      } catch (err) {
        last = err.code || err.message;
      }
      await sleep(25);
    }
    throw new Error(`envd on port ${this.port} not healthy after ${timeoutMs} ms (${last}); stderr:\n${tail(this.log())}`);
  }

  // POST /init with a JSON body; token (optional) goes into X-Access-Token.
  // Returns the raw response; callers assert on it.
  init(body = DEFAULT_INIT_BODY, { token, headers = {} } = {}) {
    const h = { 'Content-Type': 'application/json', ...headers };
    if (token !== undefined) h['X-Access-Token'] = token;
    return httpRequest(this.controlUrl, 'POST', '/init', { headers: h, body: JSON.stringify(body) });
  }

  // SIGTERM, then wait for the exit; asserts exit code `expectCode` (0 by
  // default, null to skip) within `timeoutMs`. A daemon that does not exit in
  // time is SIGKILLed and the call throws.
  async stop({ timeoutMs = STOP_TIMEOUT_MS, expectCode = 0 } = {}) {
    if (this.running) this.proc.kill('SIGTERM');
    const timer = sleep(timeoutMs, 'timeout', { ref: false });
    const res = await Promise.race([this.exited, timer]);
    if (res === 'timeout') {
      this.proc.kill('SIGKILL');
      await this.exited;
      throw new Error(`envd did not exit within ${timeoutMs} ms after SIGTERM; stderr:\n${tail(this.log())}`);
    }
    if (expectCode !== null) {
      assert.deepEqual(
        this.exit,
        { code: expectCode, signal: null },
        `envd exit after SIGTERM; stderr:\n${tail(this.log())}`,
      );
    }
    return this.exit;
  }

  // Unconditional cleanup for after() hooks.
  async kill() {
    if (this.running) {
      this.proc.kill('SIGKILL');
      await this.exited;
    }
  }

  // An e2b SDK Sandbox talking to this daemon. Debug mode skips the E2B API;
  // sandboxUrl takes precedence over the debug default http://localhost:49983
  // for both RPC/REST traffic and downloadUrl/uploadUrl.
  // Behind the edge: the SDK in non-debug mode, given the sandbox ID and the
  // domain, as a client of the platform has them.
  sandbox({ token, envdVersion = ENVD_VERSION, sandboxId = DEBUG_SANDBOX_ID, ...opts } = {}) {
    if (this.slot) {
      return new Sandbox({
        debug: false,
        sandboxId: this.slot.id,
        domain: EDGE.domain,
        envdVersion,
        envdAccessToken: token,
        ...opts,
      });
    }
    return makeSandbox(this.url, { token, envdVersion, sandboxId, ...opts });
  }

  rpc(opts) {
    return rpcClients(this.url, opts);
  }
}

// A daemon that runs elsewhere: nothing to spawn, stop or read logs from.
export class RemoteEnvd {
  constructor(url, token) {
    this.url = url.replace(/\/+$/, '');
    this.controlUrl = this.url;
    this.token = token || undefined;
    this.exit = null;
  }

  get running() {
    return true;
  }

  log() {
    return '';
  }

  stdout() {
    return '';
  }

  request(method, urlPath, { headers = {}, ...opts } = {}) {
    const h = { ...headers };
    const named = Object.keys(h).some((k) => k.toLowerCase() === 'x-access-token');
    if (this.token !== undefined && !named) h['X-Access-Token'] = this.token;
    return httpRequest(this.url, method, urlPath, { headers: h, ...opts });
  }

  init(body = DEFAULT_INIT_BODY, { token = this.token, headers = {} } = {}) {
    const b = this.token !== undefined ? { accessToken: this.token, ...body } : body;
    const h = { 'Content-Type': 'application/json', ...headers };
    if (token !== undefined) h['X-Access-Token'] = token;
    return this.request('POST', '/init', { headers: h, body: JSON.stringify(b) });
  }

  async stop() {
    return { code: 0, signal: null };
  }

  async kill() {}

  sandbox({ token = this.token, ...opts } = {}) {
    return Envd.prototype.sandbox.call(this, { token, ...opts });
  }

  rpc(opts = {}) {
    return rpcClients(this.url, { token: this.token, ...opts });
  }
}
RemoteEnvd.prototype.health = Envd.prototype.health;
RemoteEnvd.prototype.waitHealthy = Envd.prototype.waitHealthy;

export function makeSandbox(url, { token, envdVersion = ENVD_VERSION, sandboxId = DEBUG_SANDBOX_ID, ...opts } = {}) {
  return new Sandbox({
    debug: true,
    sandboxUrl: url,
    sandboxId,
    envdVersion,
    envdAccessToken: token,
    ...opts,
  });
}

function makeRunDir() {
  const base = process.env.SDK_TEST_TMPDIR || os.tmpdir();
  fs.mkdirSync(base, { recursive: true });
  return fs.mkdtempSync(path.join(base, 'envd-'));
}

// A free edge sandbox, marked busy until its daemon exits.
function takeSlot() {
  const slot = EDGE.sandboxes.find((s) => !s.busy);
  if (!slot) {
    throw new Error(`all ${EDGE.sandboxes.length} edge sandboxes in ${process.env.ENVD_EDGE} have a daemon running`);
  }
  slot.busy = true;
  return slot;
}

async function spawnOnce(bin, args, env) {
  const slot = EDGE ? takeSlot() : undefined;
  const port = slot ? ENVD_PORT : await freePort();
  const dir = makeRunDir();
  const errFd = fs.openSync(path.join(dir, 'stderr.log'), 'a');
  const outFd = fs.openSync(path.join(dir, 'stdout.log'), 'a');
  const fullArgs = ['-isnotfc', '-port', String(port), ...args];
  // `ip netns exec` execs the daemon: the child's pid is the daemon's.
  const [file, argv] = slot ? ['ip', ['netns', 'exec', slot.netns, bin, ...fullArgs]] : [bin, fullArgs];
  let proc;
  try {
    proc = spawn(file, argv, { stdio: ['ignore', outFd, errFd], env: { ...process.env, ...env } });
  } catch (err) {
    if (slot) slot.busy = false;
    throw err;
  } finally {
    fs.closeSync(errFd);
    fs.closeSync(outFd);
  }
  const spawnError = new Promise((resolve) => proc.once('error', resolve));
  const d = new Envd({ bin, port, dir, proc, args: fullArgs, slot });
  const err = await Promise.race([spawnError, sleep(0, null)]);
  if (err) {
    if (slot) slot.busy = false;
    throw new Error(`cannot run envd binary ${bin}: ${err.message}`);
  }
  return d;
}

// Starts the daemon and waits for GET /health == 204. Retries on a new port
// if the daemon dies during start-up (e.g. the port was taken meanwhile).
export async function startEnvd({ args = [], env = {}, bin = envdBinary(), healthTimeoutMs = HEALTH_TIMEOUT_MS } = {}) {
  if (REMOTE_URL) {
    const d = new RemoteEnvd(REMOTE_URL, process.env.ENVD_REMOTE_TOKEN);
    await d.waitHealthy(healthTimeoutMs);
    return d;
  }
  if (!fs.existsSync(bin)) {
    throw new Error(`envd binary not found at ${bin} (build it, or set ENVD_BIN)`);
  }
  let lastErr;
  for (let attempt = 0; attempt < 3; attempt++) {
    const d = await spawnOnce(bin, args, env);
    try {
      await d.waitHealthy(healthTimeoutMs);
      return d;
    } catch (err) {
      lastErr = err;
      await d.kill();
      if (!/address already in use|EADDRINUSE/i.test(d.log())) break;
    }
  }
  throw lastErr;
}
