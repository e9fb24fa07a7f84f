// The phone's local storage: two PouchDB databases in IndexedDB, the read-only
// copy of the published forms and the volunteer's own database (surveys,
// photos, feedback), with the document shapes of docs/contracts.md. Every
// write goes through here, so what is on the phone always matches what sync
// will send.

/* global PouchDB */

const SYNC_STATE_ID = '_local/sotay-sync';

export function uuid4() {
  // crypto.randomUUID exists only in secure contexts; a ward LAN may be plain http.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function deviceId() {
  let id = localStorage.getItem('sotay.device');
  if (!id) {
    id = uuid4();
    localStorage.setItem('sotay.device', id);
  }
  return id;
}

export function nowIso() {
  // ISO-8601 with the phone's offset, as the contracts ask for datetimes.
  const d = new Date();
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const pad = (n) => String(Math.trunc(Math.abs(n))).padStart(2, '0');
  const local = new Date(d.getTime() + off * 60000).toISOString().slice(0, 19);
  return `${local}${sign}${pad(off / 60)}:${pad(off % 60)}`;
}

export function openStores(user) {
  const stores = {
    forms: new PouchDB('sotay-forms'),
    data: new PouchDB(`sotay-${user.db}`, { auto_compaction: true }),
  };
  // The browser tests reach the open databases here, to make their writes
  // fail as they do on a full phone.
  globalThis.sotayStores = stores;
  return stores;
}

function compareVersions(a, b) {
  const na = Number(a);
  const nb = Number(b);
  if (!Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

// The newest published version of every form, for the "new survey" buttons.
export async function latestForms(stores) {
  const res = await stores.forms.allDocs({
    include_docs: true, startkey: 'form:', endkey: 'form:\uffff',
  });
  const latest = new Map();
  for (const row of res.rows) {
    const doc = row.doc;
    const seen = latest.get(doc.form_id);
    if (!seen || compareVersions(doc.version, seen.version) > 0) latest.set(doc.form_id, doc);
  }
  return [...latest.values()];
}

// A published version never changes, so it is read from IndexedDB once.
const formCache = new Map();

export async function getFormDoc(stores, formId, version) {
  const id = `form:${formId}:${version}`;
  if (!formCache.has(id)) {
    try {
      formCache.set(id, await stores.forms.get(id));
    } catch (err) {
      if (err.status === 404) return null;
      throw err;
    }
  }
  return formCache.get(id);
}

export function newSurvey(formDoc, user) {
  const now = nowIso();
  return {
    _id: `survey:${uuid4()}`,
    type: 'survey',
    form_id: formDoc.form_id,
    form_version: formDoc.version,
    status: 'draft',
    answers: {},
    volunteer: user.username,
    device_id: deviceId(),
    created_at: now,
    updated_at: now,
    gps: null,
  };
}

// Saves one survey as often as the renderer asks, never two writes at once:
// the newest state always wins and a reload finds it.
export class SurveySaver {
  constructor(db, doc, onState) {
    this.db = db;
    this.doc = doc;
    this.onState = onState;
    this.writing = null;
    this.dirty = false;
  }

  save() {
    this.dirty = true;
    this.onState?.('saving');
    if (!this.writing) this.writing = this.#drain();
    return this.writing;
  }

  async #drain() {
    try {
      while (this.dirty) {
        this.dirty = false;
        this.doc.updated_at = nowIso();
        await this.#put();
      }
      this.onState?.('saved');
    } catch (err) {
      this.onState?.('error', err);
      throw err;
    } finally {
      this.writing = null;
    }
  }

  async #put() {
    try {
      const res = await this.db.put(this.doc);
      this.doc._rev = res.rev;
    } catch (err) {
      if (err.status !== 409) throw err;
      // A sync brought a newer revision while the volunteer was typing: what
      // they see on screen is what they mean, so it goes on top.
      const current = await this.db.get(this.doc._id);
      this.doc._rev = current._rev;
      const res = await this.db.put(this.doc);
      this.doc._rev = res.rev;
    }
  }
}

export async function listSurveys(stores) {
  const res = await stores.data.allDocs({
    include_docs: true, startkey: 'survey:', endkey: 'survey:\uffff',
  });
  return res.rows.map((r) => r.doc);
}

export async function feedbackBySurvey(stores) {
  const res = await stores.data.allDocs({
    include_docs: true, startkey: 'feedback:', endkey: 'feedback:\uffff',
  });
  return new Map(res.rows.map((r) => [r.doc.survey_id, r.doc]));
}

// A survey and the reviewer's decision on it in one IndexedDB transaction
// (each costs milliseconds on a slow phone); [null, null] if the survey is gone.
export async function getSurveyAndFeedback(stores, surveyId) {
  const res = await stores.data.allDocs({
    keys: [surveyId, `feedback:${surveyId}`], include_docs: true,
  });
  const [survey, feedback] = res.rows.map((r) => r.doc || null);
  return [survey, survey && feedback];
}

// What a survey's card says. A reviewer's decision holds until the volunteer
// writes a newer revision; a survey sent back stays "needs correction" while
// it is being corrected and becomes the volunteer's "final" again once done.
export function surveyState(survey, feedback) {
  if (!feedback) return survey.status;
  const generation = (rev) => Number.parseInt(String(rev || '0'), 10);
  if (generation(survey._rev) <= generation(feedback.survey_rev)) return feedback.decision;
  if (feedback.decision === 'needs_correction' && survey.status === 'draft') {
    return 'needs_correction';
  }
  return survey.status;
}

export async function addPhoto(stores, { surveyId, field, blob, takenAt, gps }) {
  const doc = {
    _id: `photo:${uuid4()}`,
    type: 'photo',
    survey_id: surveyId,
    field,
    taken_at: takenAt,
    gps,
    _attachments: { 'photo.jpg': { content_type: 'image/jpeg', data: blob } },
  };
  await stores.data.put(doc);
  return doc._id;
}

// A draft thrown away, with every photo taken for it.
export async function discardSurvey(stores, survey) {
  const photos = await stores.data.allDocs({
    include_docs: true, startkey: 'photo:', endkey: 'photo:\uffff',
  });
  const own = photos.rows.filter((r) => r.doc.survey_id === survey._id);
  await stores.data.bulkDocs([
    { _id: survey._id, _rev: survey._rev, _deleted: true },
    ...own.map((r) => ({ _id: r.id, _rev: r.value.rev, _deleted: true })),
  ]);
}

export async function removePhoto(stores, photoId) {
  try {
    const doc = await stores.data.get(photoId);
    await stores.data.remove(doc);
  } catch (err) {
    if (err.status !== 404) throw err;
  }
}

export function photoBlob(stores, photoId) {
  return stores.data.getAttachment(photoId, 'photo.jpg');
}

// The sync state is written only through setSyncState, so it is read from
// IndexedDB once per open database and kept; what callers get is frozen,
// as it is shared (its `pushed` map grows with every survey ever sent, too
// big to copy at every read).
const syncStates = new WeakMap();

async function readSyncState(stores) {
  if (!syncStates.has(stores.data)) {
    try {
      syncStates.set(stores.data, Object.freeze(await stores.data.get(SYNC_STATE_ID)));
    } catch (err) {
      if (err.status !== 404) throw err;
      syncStates.set(stores.data,
        Object.freeze({ _id: SYNC_STATE_ID, last_sync_at: null, pushed: {} }));
    }
  }
  return syncStates.get(stores.data);
}

export function getSyncState(stores) {
  return readSyncState(stores);
}

export async function setSyncState(stores, changes) {
  const state = { ...(await readSyncState(stores)), ...changes };
  try {
    const res = await stores.data.put(state);
    syncStates.set(stores.data, Object.freeze({ ...state, _rev: res.rev }));
  } catch (err) {
    syncStates.delete(stores.data);
    throw err;
  }
}

function photoSize(doc) {
  return (doc._attachments?.['photo.jpg']?.length || 0) + 300;
}

// What the next push must send, which the sync screen and the list's badges
// show as "not yet synced". Drafts stay on the phone: only finalised
// surveys and the photos of finalised surveys leave it, each as long as the
// revision on the phone is not the one last pushed (`pushed` maps id to
// {rev, survey}). A photo removed after it was sent is sent as a deletion
// once its survey is final again.
export async function pendingPush(stores) {
  const [state, surveys, photos] = await Promise.all([
    getSyncState(stores),
    stores.data.allDocs({ include_docs: true, startkey: 'survey:', endkey: 'survey:\uffff' }),
    stores.data.allDocs({ include_docs: true, startkey: 'photo:', endkey: 'photo:\uffff' }),
  ]);
  const pushed = state.pushed || {};
  const final = new Set(surveys.rows.filter((r) => r.doc.status === 'final').map((r) => r.id));
  const out = {
    surveys: 0, photos: 0, drafts: surveys.rows.length - final.size, bytes: 0,
    ids: new Set(), revs: {}, deleted: [],
  };
  for (const { doc } of surveys.rows) {
    if (final.has(doc._id) && pushed[doc._id]?.rev !== doc._rev) {
      out.surveys += 1;
      out.bytes += JSON.stringify(doc).length;
      out.ids.add(doc._id);
      out.revs[doc._id] = { rev: doc._rev, survey: doc._id };
    }
  }
  const present = new Set();
  for (const { doc } of photos.rows) {
    present.add(doc._id);
    if (final.has(doc.survey_id) && pushed[doc._id]?.rev !== doc._rev) {
      out.photos += 1;
      out.bytes += photoSize(doc);
      out.ids.add(doc.survey_id);
      out.revs[doc._id] = { rev: doc._rev, survey: doc.survey_id };
    }
  }
  for (const [id, entry] of Object.entries(pushed)) {
    if (id.startsWith('photo:') && !present.has(id) && final.has(entry.survey)) {
      out.deleted.push(id);
      out.ids.add(entry.survey);
    }
  }
  return out;
}

// After a push that completed without errors: these revisions are on the server.
export async function markPushed(stores, pending) {
  const state = await getSyncState(stores);
  const pushed = { ...(state.pushed || {}), ...pending.revs };
  for (const id of pending.deleted) delete pushed[id];
  await setSyncState(stores, { pushed });
}
