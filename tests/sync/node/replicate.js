// A phone's PouchDB, in Node: replicates a local LevelDB database with the server.
//
// The tests and bench/bench_sync.py run it as a subprocess, so replication is
// done by the real PouchDB 9 replicator, not by a Python imitation of it.
//
//   node replicate.js CONFIG.json
//
// CONFIG: {"base": "http://127.0.0.1:PORT", "dir": "<local data folder>",
//          "db": "<remote database name>",
//          "login": {"username", "password"}  -> POST /api/session, then send the cookie
//          "auth":  {"username", "password"}  -> HTTP basic auth (direct to CouchDB)
//          "prefix": "/sync"                  -> path of the databases under base ("" direct)
//          "steps": [...]}
//
// Steps run in order; each prints one JSON line {"step", ...result}:
//   {"op": "load", "file"}                     bulkDocs the docs of a JSON file locally
//   {"op": "push" | "pull", "batch_size"?, "cut_after"?, "pause_after"?, "retry"?}
//       cut_after: N   the network "drops" after N _bulk_docs / _bulk_get requests
//       pause_after: N after N of them, print {"event": "paused"} and wait for a line
//                      on stdin before sending the next request
//       retry: true    on failure, replicate again (backing off) until it succeeds,
//                      as the phone app does
//   {"op": "pull_forms"}                       replicate <prefix>/forms into a local db
//   {"op": "list"}                             ids and revs of the local documents
//   {"op": "try_db", "db"}                     replicate from another database; report
//                                              the status it failed with
// Each sync result carries docs_read, docs_written, the requests sent per endpoint,
// the request body bytes (so tests can see what was not sent again) and seconds.
'use strict';

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const PouchDB = require('pouchdb');
const {pathToFileURL} = require('url');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const prefix = config.prefix === undefined ? '/sync' : config.prefix;
let cookie = null;
// The phone app's own fetch for replication (server/static/app/js/gentle_fetch.js):
// a few requests in flight, a busy gateway's 503 waited out.
let sendGently = null;
// A browser logs a promise rejection nobody handles and goes on; so do we (PouchDB
// leaves one when the network drops while it reads the source's info).
process.on('unhandledRejection', (err) => emit({event: 'unhandled', error: String(err)}));
let stdinLines = null;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function nextStdinLine() {
  if (stdinLines === null) {
    stdinLines = [];
    const waiting = [];
    stdinLines.waiting = waiting;
    readline.createInterface({input: process.stdin}).on('line', (line) => {
      const resolve = waiting.shift();
      if (resolve) resolve(line); else stdinLines.push(line);
    });
  }
  if (stdinLines.length) return Promise.resolve(stdinLines.shift());
  return new Promise((resolve) => stdinLines.waiting.push(resolve));
}

async function logIn() {
  const reply = await PouchDB.fetch(config.base + '/api/session', {
    method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify(config.login),
  });
  if (reply.status !== 200) throw new Error('login failed: ' + reply.status);
  cookie = reply.headers.get('set-cookie').split(';')[0];
}

// One remote database, with a fetch that sends our cookie and counts what it sends.
function remote(name, traffic) {
  const opts = {skip_setup: true};
  if (config.auth) opts.auth = config.auth;
  opts.fetch = async function (url, options) {
    const endpoint = endpointOf(url);
    if (traffic.cutAfter !== undefined && traffic.bulk >= traffic.cutAfter) {
      throw new TypeError('network cut by the test');
    }
    if (traffic.pauseAfter !== undefined && traffic.bulk >= traffic.pauseAfter &&
        !traffic.paused) {
      traffic.paused = true;
      emit({event: 'paused', bulk: traffic.bulk});
      await nextStdinLine();
    }
    if (cookie) options.headers.set('Cookie', cookie);
    traffic.requests[endpoint] = (traffic.requests[endpoint] || 0) + 1;
    if (typeof options.body === 'string') traffic.bytes_sent += Buffer.byteLength(options.body);
    const reply = await sendGently(url, options);
    if (endpoint === '_bulk_docs' || endpoint === '_bulk_get') traffic.bulk += 1;
    return reply;
  };
  return new PouchDB(config.base + prefix + '/' + encodeURIComponent(name), opts);
}

function endpointOf(url) {
  const pathname = new URL(url).pathname.slice(prefix.length + 1);
  const rest = pathname.split('/').slice(1);
  if (rest.length === 0 || rest[0] === '') return 'db';
  return rest[0].startsWith('_') ? rest[0] : 'doc';
}

function newTraffic(step) {
  return {requests: {}, bytes_sent: 0, bulk: 0, cutAfter: step.cut_after,
    pauseAfter: step.pause_after, paused: false};
}

function summary(result, traffic, attempts, errors) {
  return {ok: Boolean(result && result.ok), docs_read: result ? result.docs_read : 0,
    docs_written: result ? result.docs_written : 0, attempts, errors,
    requests: traffic.requests, bytes_sent: traffic.bytes_sent};
}

async function replicate(local, step) {
  const traffic = newTraffic(step);
  const target = remote(config.db, traffic);
  const options = {batch_size: step.batch_size || 100};
  const errors = [];
  let result = null;
  let docsWritten = 0;
  let docsRead = 0;
  let delay = 200;
  for (let attempt = 1; ; attempt++) {
    try {
      const rep = step.op === 'push' ? local.replicate.to(target, options)
        : local.replicate.from(target, options);
      rep.on('change', (info) => emit({event: 'change', docs_written: docsWritten +
        info.docs_written}));
      result = await rep;
      docsWritten += result.docs_written;
      docsRead += result.docs_read;
      result = Object.assign({}, result, {docs_written: docsWritten, docs_read: docsRead});
      if (result.ok) return summary(result, traffic, attempt, errors);
    } catch (err) {
      if (err.result) {
        docsWritten += err.result.docs_written || 0;
        docsRead += err.result.docs_read || 0;
      }
      errors.push(String(err.status || err.message || err));
      result = {ok: false, docs_written: docsWritten, docs_read: docsRead};
    }
    if (!step.retry || attempt >= 60) return summary(result, traffic, attempt, errors);
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 2000);
  }
}

async function run() {
  const appScript = path.join(__dirname, '..', '..', '..', 'server', 'static', 'app', 'js',
                              'gentle_fetch.js');
  const {gentleFetch} = await import(pathToFileURL(appScript).href);
  sendGently = gentleFetch((url, options) => PouchDB.fetch(url, options));
  if (config.login) await logIn();
  fs.mkdirSync(config.dir, {recursive: true});
  const local = new PouchDB(path.join(config.dir, 'user'));
  for (const step of config.steps) {
    let out;
    if (step.op === 'load') {
      const docs = JSON.parse(fs.readFileSync(step.file, 'utf8'));
      const written = await local.bulkDocs(docs);
      out = {written: written.filter((r) => r.ok).length};
    } else if (step.op === 'push' || step.op === 'pull') {
      const started = process.hrtime.bigint();
      out = await replicate(local, step);
      out.seconds = Number(process.hrtime.bigint() - started) / 1e9;
    } else if (step.op === 'pull_forms') {
      const forms = new PouchDB(path.join(config.dir, 'forms'));
      const result = await forms.replicate.from(remote('forms', newTraffic(step)));
      const all = await forms.allDocs();
      out = {ok: result.ok, ids: all.rows.map((row) => row.id)};
    } else if (step.op === 'list') {
      const all = await local.allDocs({include_docs: true, conflicts: true});
      out = {docs: all.rows.map((row) => ({id: row.id, rev: row.value.rev,
        conflicts: row.doc._conflicts || [], doc: row.doc}))};
    } else if (step.op === 'try_db') {
      const other = new PouchDB(path.join(config.dir, 'other'));
      try {
        await other.replicate.from(remote(step.db, newTraffic(step)));
        out = {ok: true};
      } catch (err) {
        out = {ok: false, status: err.status || null, error: String(err.message || err)};
      }
    } else {
      throw new Error('unknown step ' + step.op);
    }
    emit(Object.assign({step: step.op}, out));
  }
  process.exit(0);
}

run().catch((err) => {
  emit({event: 'error', error: String(err && err.stack || err)});
  process.exit(1);
});
