// Test harness: runs one envd daemon on a free loopback port and hands out
// SDK sandboxes, raw HTTP helpers and direct Connect clients bound to it.
//
//   const envd = await startEnvd();          // spawned with -isnotfc -port N
//   await envd.init();                       // POST /init {"defaultUser":"user"}
//   const sbx = envd.sandbox();              // e2b Sandbox aimed at this daemon
//   const { fs, proc } = envd.rpc({ binary: true });
//   await envd.stop();                       // SIGTERM, expects exit 0 within 2 s
//
// Environment:
//   ENVD_BIN        daemon binary (default <repo>/envd/envd, i.e. ../../envd/envd
//                   from tests/sdk); a relative value is taken from the cwd
//   SDK_TEST_TMPDIR where per-daemon directories (logs) are created
//                   (default: the OS temp dir)

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
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
export function httpRequest(target, method, urlPath, { headers = {}, body, timeoutMs = 10000 } = {}) {
  const base = typeof target === 'number' ? `http://127.0.0.1:${target}` : target;
  const url = new URL(urlPath, base);
  const h = { ...headers };
  const names = Object.keys(h).map((k) => k.toLowerCase());
  if (body !== undefined && !names.includes('content-length') && !names.includes('transfer-encoding')) {
    h['Content-Length'] = Buffer.byteLength(body);
  }
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: h, agent: false, timeout: timeoutMs }, (res) => {
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
  constructor({ bin, port, dir, proc, args }) {
    this.bin = bin;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
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
        const res = await this.health({ timeoutMs: 1000 });
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
    return this.request('POST', '/init', { headers: h, body: JSON.stringify(body) });
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
  sandbox({ token, envdVersion = ENVD_VERSION, sandboxId = DEBUG_SANDBOX_ID, ...opts } = {}) {
    return makeSandbox(this.url, { token, envdVersion, sandboxId, ...opts });
  }

  rpc(opts) {
    return rpcClients(this.url, opts);
  }
}

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

async function spawnOnce(bin, args, env) {
  const port = await freePort();
  const dir = makeRunDir();
  const errFd = fs.openSync(path.join(dir, 'stderr.log'), 'a');
  const outFd = fs.openSync(path.join(dir, 'stdout.log'), 'a');
  const fullArgs = ['-isnotfc', '-port', String(port), ...args];
  let proc;
  try {
    proc = spawn(bin, fullArgs, { stdio: ['ignore', outFd, errFd], env: { ...process.env, ...env } });
  } finally {
    fs.closeSync(errFd);
    fs.closeSync(outFd);
  }
  const spawnError = new Promise((resolve) => proc.once('error', resolve));
  const d = new Envd({ bin, port, dir, proc, args: fullArgs });
  const err = await Promise.race([spawnError, sleep(0, null)]);
  if (err) throw new Error(`cannot run envd binary ${bin}: ${err.message}`);
  return d;
}

// Starts the daemon and waits for GET /health == 204. Retries on a new port
// if the daemon dies during start-up (e.g. the port was taken meanwhile).
export async function startEnvd({ args = [], env = {}, bin = envdBinary(), healthTimeoutMs = HEALTH_TIMEOUT_MS } = {}) {
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
