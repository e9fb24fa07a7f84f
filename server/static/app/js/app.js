// Start-up and navigation of the phone app: registers the service worker,
// remembers who is logged in (so the app opens offline for days), routes the
// hash to a screen, and runs sync: on demand, at start and whenever the
// connection comes back. A refused session asks for a login and never
// touches the data on the phone.

import { h, mount } from './dom.js';
import { surveyScreen } from './form.js';
import { getLang, setLang, t } from './i18n.js';
import { loginScreen, progressScreen, surveyListScreen, syncScreen } from './screens.js';
import { latestForms, newSurvey, openStores, pendingPush } from './store.js';
import { logIn, logOut, syncAll } from './sync.js';

const view = document.getElementById('view');
const USER_KEY = 'sotay.user';
const RETRY_MS = 5 * 60 * 1000;

const ctx = {
  user: JSON.parse(localStorage.getItem(USER_KEY) || 'null'),
  stores: null,
  sync: { running: false, percent: 0, text: '', message: '', error: null },
  flashMessage: '',
  fresh: null,
  reopened: null,
  onLeave: null,
  relabel: null,
  flash(message) {
    ctx.flashMessage = message;
  },
  startSync,
  async logOut() {
    await logOut();
    localStorage.removeItem(USER_KEY);
    ctx.user = null;
    ctx.stores = null;
    ctx.fresh = null;
    location.hash = '#/login';
    route();
  },
};

function syncMessage(err) {
  switch (err.kind) {
    case 'login': return t('login_again');
    case 'throttled': return t('login_throttled', { minutes: err.detail });
    case 'busy': return t('login_busy');
    case 'forbidden': return t('sync_forbidden');
    case 'offline': return t('sync_offline');
    default: return t('sync_failed', { detail: err.detail || '?' });
  }
}

function syncDoneMessage({ surveys, photos, received }) {
  const sent = surveys + photos
    ? t('sync_done_sent', { surveys, photos }) : t('sync_done_nothing');
  return received ? `${sent} ${t('sync_done_received', { n: received })}` : sent;
}

function onSyncProgress(p) {
  const s = ctx.sync;
  if (p.phase === 'pull') {
    s.percent = 5;
    s.text = t('sync_receiving');
  } else if (p.phase === 'push') {
    s.percent = p.total ? 10 + Math.round((90 * p.done) / p.total) : 50;
    s.text = t('sync_progress', { done: p.done, total: p.total });
  }
  if (currentPath() === '/sync') route();
}

async function startSync({ interactive = false } = {}) {
  if (!ctx.user || ctx.sync.running) return;
  Object.assign(ctx.sync, { running: true, percent: 0, text: '', message: '', error: null });
  if (interactive && currentPath() === '/sync') route();
  try {
    const result = await syncAll(ctx.stores, ctx.user, onSyncProgress);
    Object.assign(ctx.sync, { message: syncDoneMessage(result), error: null });
  } catch (err) {
    Object.assign(ctx.sync, { message: syncMessage(err), error: err.kind || 'failed' });
  } finally {
    ctx.sync.running = false;
    ctx.sync.percent = 100;
  }
  document.body.dataset.sync = ctx.sync.error ? `error-${ctx.sync.error}` : 'done';
  const path = currentPath();
  if (path === '/sync' || path === '/' || path === '/progress') route();
  else updateChrome();
}

function currentPath() {
  return location.hash.replace(/^#/, '') || '/';
}

async function updateChrome() {
  document.getElementById('title').textContent = t('app_name');
  document.getElementById('lang').textContent = t('switch_lang');
  const net = document.getElementById('net');
  net.textContent = navigator.onLine ? '' : t('offline');
  net.hidden = navigator.onLine;
  const tabs = document.getElementById('tabs');
  tabs.hidden = !ctx.user;
  for (const a of tabs.querySelectorAll('a')) {
    const key = `tab_${a.dataset.tab}`;
    a.firstChild.textContent = `${t(key)} `;
    const path = a.getAttribute('href').slice(1);
    a.classList.toggle('active', path === currentPath());
  }
  // The unsynced count reads the changes feed: not worth it while a form opens.
  if (ctx.stores && !currentPath().startsWith('/survey/')) {
    const pending = await pendingPush(ctx.stores);
    // Surveys, not documents: a survey's photos travel with it.
    const dot = document.getElementById('unsynced-dot');
    dot.hidden = pending.ids.size === 0;
    dot.textContent = String(pending.ids.size);
  }
}

// Ask the browser never to evict the surveys under storage pressure; asked
// at every start too, as phones logged in before may never have been asked.
function askPersistentStorage() {
  navigator.storage?.persist?.().catch(() => null);
}

function useUser(user) {
  askPersistentStorage();
  ctx.user = user;
  localStorage.setItem(USER_KEY, JSON.stringify(user));
  ctx.stores = openStores(user);
}

async function showLogin(message) {
  loginScreen(view, {
    message,
    username: ctx.user?.username,
    onSubmit: async (username, password) => {
      let user;
      try {
        user = await logIn(username, password);
      } catch (err) {
        throw new Error(err.kind === 'login' ? t('login_failed') : syncMessage(err));
      }
      useUser(user);
      location.hash = '#/';
      await startSync({ interactive: true });
      route();
    },
  });
}

// The new survey is kept in memory and saved at its first answer (form.js),
// so a tap on "+ form" and back leaves no empty draft.
async function createSurvey(formId) {
  const forms = await latestForms(ctx.stores);
  const formDoc = forms.find((f) => f.form_id === formId);
  if (!formDoc) {
    location.replace('#/');
    return;
  }
  ctx.fresh = newSurvey(formDoc, ctx.user);
  location.replace(`#/survey/${encodeURIComponent(ctx.fresh._id)}/0`);
}

function isStorageFull(err) {
  return /quota/i.test(`${err?.name} ${err?.message} ${err?.reason}`);
}

// Whatever fails while a screen is drawn is said in words, never a blank page.
function showFailure(err) {
  const full = isStorageFull(err);
  mount(view, h('section', { class: 'card', id: 'screen-error' },
    h('p', { class: 'error', role: 'alert' },
      full ? t('storage_full') : t('screen_failed', { detail: err?.message || String(err) })),
    h('button', { type: 'button', class: 'primary', onclick: () => route() }, t('retry')),
    h('a', { class: 'button', href: '#/' }, t('back'))));
}

let routing = Promise.resolve();

function route() {
  const draw = () => render().catch(showFailure);
  routing = routing.then(draw, draw);
  return routing;
}

async function render() {
  if (ctx.onLeave) {
    await ctx.onLeave();
    ctx.onLeave = null;
  }
  ctx.relabel = null;
  const path = currentPath();
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  updateChrome();
  if (!ctx.user || parts[0] === 'login') {
    await showLogin(ctx.user ? t('login_again') : '');
    return;
  }
  if (!ctx.stores) ctx.stores = openStores(ctx.user);
  view.replaceChildren();
  if (ctx.flashMessage) {
    view.append(h('p', { class: 'flash', role: 'status' }, ctx.flashMessage));
    ctx.flashMessage = '';
  }
  const holder = h('div');
  view.append(holder);
  if (parts[0] !== 'survey') window.scrollTo(0, 0);
  switch (parts[0]) {
    case 'new': return createSurvey(parts[1]);
    case 'survey': return surveyScreen(holder, ctx, parts[1], parts[2]);
    case 'sync': return syncScreen(holder, ctx);
    case 'progress': return progressScreen(holder, ctx);
    default: {
      if (ctx.sync.error === 'login') {
        holder.append(h('p', { class: 'error banner' }, t('login_again'), ' ',
          h('a', { href: '#/login' }, t('log_in'))));
      }
      const list = h('div');
      holder.append(list);
      return surveyListScreen(list, ctx);
    }
  }
}

// The scope `/app` covers the README's address `/app` as well as `/app/...`.
// Phones that installed the app under the former scope `/app/` drop that
// registration, so a single worker serves the app.
async function registerWorker() {
  try {
    const scope = new URL('/app', location.href).href;
    await navigator.serviceWorker.register('sw.js', { scope });
    for (const old of await navigator.serviceWorker.getRegistrations()) {
      if (old.scope === `${scope}/`) await old.unregister();
    }
  } catch {
    // No worker (private mode, old browser): the app still works online.
  }
}

function start() {
  setLang(getLang());
  document.getElementById('lang').addEventListener('click', () => {
    setLang(getLang() === 'vi' ? 'en' : 'vi');
    if (ctx.relabel) {
      updateChrome();
      ctx.relabel();
    } else route();
  });
  window.addEventListener('hashchange', route);
  window.addEventListener('online', () => {
    updateChrome();
    startSync();
  });
  window.addEventListener('offline', updateChrome);
  // The 'online' event misses a Wi-Fi that had no internet when it connected.
  setInterval(() => {
    if (navigator.onLine && ['offline', 'failed'].includes(ctx.sync.error)) startSync();
  }, RETRY_MS);
  if ('serviceWorker' in navigator) registerWorker();
  if (ctx.user) askPersistentStorage();
  route().then(() => {
    document.body.dataset.ready = '1';
    if (ctx.user && navigator.onLine) startSync();
  });
}

start();

