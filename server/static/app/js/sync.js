// Session and replication against the server's gateway: the published forms
// one way (read-only), the volunteer's own database both ways. A refused
// session means "log in again", never a wipe: nothing here deletes local data.

/* global PouchDB */

import { gentleFetch } from './gentle_fetch.js';
import { markPushed, nowIso, pendingPush, setSyncState } from './store.js';

export class SyncError extends Error {
  constructor(kind, detail) {
    super(`${kind}: ${detail || ''}`);
    this.kind = kind; // 'login' | 'throttled' | 'busy' | 'forbidden' | 'offline' | 'failed'
    this.detail = detail || '';
  }
}

async function api(method, path, body) {
  let res;
  try {
    res = await fetch(path, {
      method,
      credentials: 'include',
      headers: body ? { 'Content-Type': 'application/json' } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new SyncError('offline');
  }
  const data = await res.json().catch(() => ({}));
  return { status: res.status, data };
}

export async function logIn(username, password) {
  const { status, data } = await api('POST', '/api/session', { username, password });
  if (status === 200 && data.user) return data.user;
  if (status === 401 || status === 400 || status === 403) throw new SyncError('login', data.error?.code);
  if (status === 429) throw new SyncError('throttled', String(data.error?.detail?.minutes || 15));
  if (status === 503 && data.error?.code === '503.5') throw new SyncError('busy');
  throw new SyncError('failed', data.error?.code || String(status));
}

export async function logOut() {
  await api('DELETE', '/api/session').catch(() => null);
}

export async function checkSession() {
  const { status, data } = await api('GET', '/api/session');
  if (status === 200 && data.user) return data.user;
  if (status === 401) throw new SyncError('login');
  throw new SyncError('failed', String(status));
}

// One gentle fetch for all replication: the gateway counts a volunteer's requests
// together, whichever database they are for.
const replicationFetch = gentleFetch((url, opts) => PouchDB.fetch(url, { ...opts, credentials: 'include' }));

function remote(name) {
  return new PouchDB(`${location.origin}/sync/${name}`, {
    skip_setup: true,
    fetch: replicationFetch,
  });
}

function classify(err) {
  if (err instanceof SyncError) return err;
  const status = err?.status ?? err?.result?.status;
  if (status === 401) return new SyncError('login');
  if (status === 403) return new SyncError('forbidden');
  if (!navigator.onLine || status === 0 || err?.name === 'TypeError' || /fetch/i.test(err?.message)) {
    return new SyncError('offline');
  }
  return new SyncError('failed', status ? `HTTP ${status}` : err?.reason || err?.message || '');
}

function run(replication, onChange) {
  return new Promise((resolve, reject) => {
    replication.on('change', (info) => onChange?.(info));
    replication.on('complete', resolve);
    replication.on('denied', (err) => reject(new SyncError('failed', err?.message || 'denied')));
    replication.on('error', reject);
  });
}

// One full sync: session check, forms down, the volunteer's database down
// (feedback, merged revisions), then up: exactly the finalised surveys and
// their photos the server does not have yet (store.pendingPush), by id, so a
// draft never leaves the phone and a photo taken while its survey was still
// a draft is sent when the survey is finalised. Returns what it sent and how
// many documents it received (feedback, merged revisions).
export async function syncAll(stores, user, onProgress = () => {}) {
  try {
    if (!navigator.onLine) throw new SyncError('offline');
    await checkSession();
    onProgress({ phase: 'pull' });
    const forms = remote('forms');
    const userdb = remote(user.db);
    // The forms database is read-only to volunteers: keep the checkpoint on the phone.
    await run(PouchDB.replicate(forms, stores.forms, { batch_size: 20, checkpoint: 'target' }));
    const pulled = await run(PouchDB.replicate(userdb, stores.data, { batch_size: 20 }));
    const pending = await pendingPush(stores);
    const docIds = [...Object.keys(pending.revs), ...pending.deleted];
    const total = docIds.length;
    let done = 0;
    onProgress({ phase: 'push', done, total });
    if (total) {
      const push = PouchDB.replicate(stores.data, userdb, {
        doc_ids: docIds, checkpoint: false, batch_size: 5,
      });
      const result = await run(push, (info) => {
        done = Math.min(total, done + (info.docs_written || 0));
        onProgress({ phase: 'push', done, total });
      });
      const failures = result.errors?.length || result.doc_write_failures || 0;
      if (failures) throw new SyncError('failed', `${failures} doc(s)`);
      await markPushed(stores, pending);
    }
    await setSyncState(stores, { last_sync_at: nowIso() });
    onProgress({ phase: 'done' });
    return {
      surveys: pending.surveys, photos: pending.photos, received: pulled.docs_written || 0,
    };
  } catch (err) {
    throw classify(err);
  }
}

