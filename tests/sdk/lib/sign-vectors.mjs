// Signed /files URL vectors produced by the e2b SDK's own code
// (Sandbox.downloadUrl / Sandbox.uploadUrl on a sandbox that has an
// envdAccessToken), printed as JSON lines:
//
//   {"path":…,"operation":"read"|"write","user":…|null,"token":…,
//    "expiration":<unix seconds>|null,"signature":"v1_…","url":…}
//
// `user` is null when the SDK was given no user (it then signs the empty
// string and sends no `username`); `expiration` is null without
// useSignatureExpiration.
//
// How the SDK (e2b 2.51.0) forms these URLs:
//   - base: `new URL('/files', envdDirectUrl)`, where envdDirectUrl is the
//     sandboxUrl option if given, else http://localhost:49983 in debug mode,
//     else https://49983-<sandboxId>.<domain> (the direct host, never the
//     shared https://sandbox.<domain> proxy host used for RPCs);
//   - query parameters are added with URLSearchParams.set in this order:
//     `username` (only if a non-empty user was given; for envd < 0.4.0 the SDK
//     substitutes `user`), `path` (only if non-empty; uploadUrl() without a
//     path signs "" and sends no `path`), `signature`, `signature_expiration`
//     (only when useSignatureExpiration was given);
//   - URLSearchParams uses application/x-www-form-urlencoded serialisation:
//     space becomes `+`, `+` becomes `%2B`, `/` becomes `%2F`, `~` stays, and
//     `*-._` stay literal, so the daemon must decode `+` as a space;
//   - signature = "v1_" + base64(sha256(`${path}:${op}:${user ?? ""}:${token}`
//     [+ `:${expiration}`])) with trailing '=' stripped; op is `read` for
//     downloadUrl and `write` for uploadUrl; path is signed exactly as passed;
//   - expiration = Math.floor(Date.now()/1000) + useSignatureExpiration; an
//     expiration of 0 would be left out of the URL (the SDK tests it for
//     truthiness).
//
// Usage:
//   node lib/sign-vectors.mjs [--token T] [--sandbox-url URL]
//        [--path P]... [--user U]... [--no-user] [--expiration SECONDS]...
//        [--operation read|write]... [--now UNIX_SECONDS]
// --now pins the SDK's clock (Date.now) so that expiring vectors are
// reproducible: expiration = now + SECONDS.
// Without --path/--user/--expiration a built-in matrix is printed. `--user ""`
// passes an empty string (the SDK then behaves as if no user was given).

import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';

import { Sandbox } from 'e2b';

export const DEFAULT_TOKEN = 'e2b-sdk-vector-token-0123456789';
export const DEFAULT_SANDBOX_URL = 'http://127.0.0.1:49983';

export const DEFAULT_PATHS = [
  'hello.txt',
  '/home/user/report.csv',
  '~/notes/a b.txt',
  '/tmp/../etc/hostname',
  'dir with spaces/ünïcödé ✓.txt',
  '/tmp/a+b&c=d?e#f%20g:h.txt',
];
export const DEFAULT_USERS = [undefined, 'user', 'root'];
export const DEFAULT_EXPIRATIONS = [undefined, 3600];
export const OPERATIONS = ['read', 'write'];

function sdkSandbox(token, sandboxUrl) {
  return new Sandbox({
    debug: true,
    sandboxUrl,
    sandboxId: 'debug_sandbox_id',
    envdVersion: process.env.SDK_ENVD_VERSION || '0.9.1',
    envdAccessToken: token,
  });
}

// Returns one vector for one (operation, path, user, expiration) using the SDK.
export async function sdkVector(sbx, token, { operation, path, user, expiration }) {
  const opts = {};
  if (user !== undefined) opts.user = user;
  if (expiration !== undefined) opts.useSignatureExpiration = expiration;
  const url = operation === 'read' ? await sbx.downloadUrl(path, opts) : await sbx.uploadUrl(path, opts);
  const q = new URL(url).searchParams;
  const exp = q.get('signature_expiration');
  return {
    path: path ?? '',
    operation,
    user: user === undefined || user === '' ? null : user,
    token,
    expiration: exp === null ? null : Number(exp),
    signature: q.get('signature'),
    url,
  };
}

export async function signVectors({
  token = DEFAULT_TOKEN,
  sandboxUrl = DEFAULT_SANDBOX_URL,
  paths = DEFAULT_PATHS,
  users = DEFAULT_USERS,
  expirations = DEFAULT_EXPIRATIONS,
  operations = OPERATIONS,
  now,
} = {}) {
  const sbx = sdkSandbox(token, sandboxUrl);
  const out = [];
  const realNow = Date.now;
  if (now !== undefined) Date.now = () => now * 1000;
  try {
    for (const operation of operations) {
      for (const path of paths) {
        for (const user of users) {
          for (const expiration of expirations) {
            out.push(await sdkVector(sbx, token, { operation, path, user, expiration }));
          }
        }
      }
    }
  } finally {
    Date.now = realNow;
  }
  return out;
}

async function main() {
  const { values } = parseArgs({
    options: {
      token: { type: 'string' },
      'sandbox-url': { type: 'string' },
      path: { type: 'string', multiple: true },
      user: { type: 'string', multiple: true },
      'no-user': { type: 'boolean' },
      expiration: { type: 'string', multiple: true },
      'no-expiration': { type: 'boolean' },
      operation: { type: 'string', multiple: true },
      now: { type: 'string' },
    },
  });
  let users = values.user;
  if (users || values['no-user']) users = [...(values['no-user'] ? [undefined] : []), ...(users ?? [])];
  let expirations = values.expiration?.map((s) => Number(s));
  if (expirations || values['no-expiration']) {
    expirations = [...(values['no-expiration'] ? [undefined] : []), ...(expirations ?? [])];
  }
  const vectors = await signVectors({
    token: values.token,
    sandboxUrl: values['sandbox-url'],
    paths: values.path,
    users,
    expirations,
    operations: values.operation,
    now: values.now === undefined ? undefined : Number(values.now),
  });
  process.stdout.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  process.stdout.write(vectors.map((v) => JSON.stringify(v) + '\n').join(''));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
