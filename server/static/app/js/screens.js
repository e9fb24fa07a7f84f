// The screens around the survey form: login, the survey list (with the
// reviewer's comments on surveys sent back), sync, and my progress. Each takes
// the app context and fills the main view; the data comes from PouchDB only,
// so every screen works offline.

import { h, mount } from './dom.js';
import { formatBytes, formatTime, pick, t } from './i18n.js';
import {
  feedbackBySurvey, getSyncState, latestForms, listSurveys, surveyState, pendingPush,
} from './store.js';

const STATE_LABELS = {
  draft: 'status_draft',
  final: 'status_final',
  needs_correction: 'status_needs_correction',
  approved: 'status_approved',
  rejected: 'status_rejected',
};

export function loginScreen(view, { message, username, onSubmit }) {
  const error = h('p', { class: 'error', role: 'alert', id: 'login-error' }, message || '');
  const user = h('input', {
    name: 'username', autocomplete: 'username', required: true, value: username || '',
    autocapitalize: 'none',
  });
  const pass = h('input', {
    name: 'password', type: 'password', autocomplete: 'current-password', required: true,
  });
  const button = h('button', { type: 'submit', class: 'primary' }, t('log_in'));
  const form = h('form', {
    class: 'card login',
    onsubmit: async (event) => {
      event.preventDefault();
      button.disabled = true;
      error.textContent = '';
      try {
        await onSubmit(user.value.trim(), pass.value);
      } catch (err) {
        error.textContent = err.message;
      } finally {
        button.disabled = false;
      }
    },
  },
  h('label', {}, t('username'), user),
  h('label', {}, t('password'), pass),
  button,
  error,
  h('p', { class: 'hint' }, t('login_first_online')));
  mount(view, form);
}

function surveyTitle(survey, formsById) {
  const a = survey.answers || {};
  const form = formsById.get(survey.form_id);
  const name = a.address || a.name || a.household_head || a.tax_code || '';
  return { form: form ? pick(form.definition.title) : survey.form_id, name };
}

export async function surveyListScreen(view, ctx) {
  const [forms, surveys, feedback, unsynced] = await Promise.all([
    latestForms(ctx.stores),
    listSurveys(ctx.stores),
    feedbackBySurvey(ctx.stores),
    pendingPush(ctx.stores),
  ]);
  const formsById = new Map(forms.map((f) => [f.form_id, f]));
  const newButtons = forms.length
    ? forms.map((f) => h('a', {
      class: 'button primary', href: `#/new/${encodeURIComponent(f.form_id)}`,
      dataset: { form: f.form_id },
    }, `+ ${pick(f.definition.title)}`))
    : [h('p', { class: 'hint' }, t('no_forms'))];
  surveys.sort((a, b) => String(b.updated_at).localeCompare(String(a.updated_at)));
  const cards = surveys.map((s) => {
    const fb = feedback.get(s._id);
    const state = surveyState(s, fb);
    const title = surveyTitle(s, formsById);
    const comment = fb && (state === 'needs_correction' || state === 'rejected') && fb.comment;
    return h('li', { class: `survey state-${state}`, dataset: { id: s._id, state } },
      h('a', { href: `#/survey/${encodeURIComponent(s._id)}` },
        h('strong', {}, title.form),
        title.name ? h('span', { class: 'name' }, title.name) : null,
        h('span', { class: 'meta' }, formatTime(s.updated_at)),
        h('span', { class: `badge ${state}` }, t(STATE_LABELS[state] || 'status_draft')),
        unsynced.ids.has(s._id) ? h('span', { class: 'badge unsynced' }, t('unsynced_badge')) : null),
      comment ? h('div', { class: 'comment' },
        h('strong', {}, `${t('reviewer_comment')}: `), h('span', { class: 'comment-text' }, comment)) : null,
      state === 'needs_correction'
        ? h('a', { class: 'button', href: `#/survey/${encodeURIComponent(s._id)}` }, t('correct_survey'))
        : null);
  });
  mount(view,
    h('section', { class: 'new' }, newButtons),
    surveys.length ? h('ul', { class: 'surveys' }, cards) : h('p', { class: 'hint' }, t('no_surveys')));
}

export async function syncScreen(view, ctx) {
  const [summary, state] = await Promise.all([pendingPush(ctx.stores), getSyncState(ctx.stores)]);
  const status = ctx.sync;
  const progress = h('div', { class: 'progress', id: 'sync-progress', hidden: !status.running },
    h('div', { class: 'progress-bar', style: `width:${status.percent || 0}%` }),
    h('span', {}, status.text || ''));
  const message = h('p', {
    id: 'sync-message', class: status.error ? 'error' : 'ok', role: 'status',
  }, status.message || '');
  const space = h('p', { class: 'hint', id: 'space-left' });
  const button = h('button', {
    class: 'primary big', id: 'sync-button', type: 'button', disabled: status.running,
    onclick: () => ctx.startSync({ interactive: true }),
  }, status.running ? t('syncing') : t('sync_now'));
  mount(view,
    h('section', { class: 'card' },
      h('h2', {}, t('unsynced_title')),
      h('dl', { class: 'figures' },
        h('dt', {}, t('unsynced_surveys')), h('dd', { id: 'unsynced-surveys' }, summary.ids.size),
        h('dt', {}, t('unsynced_photos')), h('dd', { id: 'unsynced-photos' }, summary.photos),
        h('dt', {}, t('unsynced_size')), h('dd', { id: 'unsynced-size' }, formatBytes(summary.bytes)),
        h('dt', {}, t('drafts_on_phone')), h('dd', { id: 'drafts' }, summary.drafts),
        h('dt', {}, t('last_sync')), h('dd', { id: 'last-sync' }, formatTime(state.last_sync_at)))),
    button, progress, message,
    status.error === 'login'
      ? h('a', { class: 'button primary', id: 'login-again', href: '#/login' }, t('log_in')) : null,
    space,
    h('p', { class: 'hint' }, t('signed_in_as', { name: ctx.user.username })),
    h('button', {
      type: 'button', class: 'link', id: 'logout', onclick: () => confirmLogOut(ctx),
    }, t('log_out')));
  showSpaceLeft(space);
}

// Logging out deletes nothing, but the volunteer should know what waits on
// the phone; offline, they could not log in again until a connection returns.
async function confirmLogOut(ctx) {
  const pending = await pendingPush(ctx.stores);
  const warnings = [];
  if (pending.ids.size || pending.drafts) {
    warnings.push(t('logout_unsynced', { surveys: pending.ids.size, drafts: pending.drafts }));
  }
  if (!navigator.onLine) warnings.push(t('logout_offline'));
  if (warnings.length && !window.confirm(`${warnings.join(' ')} ${t('logout_anyway')}`)) return;
  await ctx.logOut();
}

// Space the browser still grants the app: photos are what fills it.
async function showSpaceLeft(el) {
  const estimate = await navigator.storage?.estimate?.().catch(() => null);
  if (!estimate?.quota) return;
  const persisted = await navigator.storage.persisted?.().catch(() => false);
  el.textContent = t('space_left', { free: formatBytes(Math.max(0, estimate.quota - estimate.usage)) });
  if (!persisted) el.append(' ', t('storage_not_persisted'));
}

function startOfWeek(now = new Date()) {
  const d = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  d.setDate(d.getDate() - ((d.getDay() + 6) % 7));
  return d;
}

// Residential group labels from the published forms' choice lists.
function groupLabels(forms) {
  const labels = new Map();
  for (const f of forms) {
    for (const c of f.definition.choices?.residential_group || []) labels.set(c.value, pick(c.label));
  }
  return labels;
}

export async function progressScreen(view, ctx) {
  const [surveys, forms] = await Promise.all([listSurveys(ctx.stores), latestForms(ctx.stores)]);
  const labels = groupLabels(forms);
  const weekStart = startOfWeek();
  const done = surveys.filter((s) => s.status === 'final');
  const thisWeek = done.filter((s) => new Date(s.updated_at) >= weekStart);
  const groups = new Map();
  const assigned = ctx.user.residential_group;
  if (assigned) groups.set(assigned, 0);
  for (const s of done) {
    const g = s.answers?.residential_group || '—';
    groups.set(g, (groups.get(g) || 0) + 1);
  }
  const rows = [...groups.entries()].sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  mount(view,
    h('section', { class: 'card' },
      h('dl', { class: 'figures' },
        h('dt', {}, t('progress_week')), h('dd', { id: 'progress-week' }, thisWeek.length),
        h('dt', {}, t('progress_total')), h('dd', { id: 'progress-total' }, done.length),
        h('dt', {}, t('progress_drafts')),
        h('dd', { id: 'progress-drafts' }, surveys.length - done.length))),
    h('section', { class: 'card' },
      h('h2', {}, t('progress_by_group')),
      h('table', { id: 'progress-groups' },
        h('thead', {}, h('tr', {}, h('th', {}, t('group')), h('th', {}, t('count')))),
        h('tbody', {}, rows.map(([g, n]) => h('tr', { class: g === assigned ? 'assigned' : null },
          h('td', {}, labels.get(g) || g, g === assigned ? ` (${t('assigned')})` : ''),
          h('td', {}, n)))))));
}

