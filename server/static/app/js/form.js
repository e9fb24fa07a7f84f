// The survey form on the phone: renders a form definition (docs/forms.md),
// one top-level group per page, and writes every change to PouchDB at once.
// Relevance, calculations, constraints, required answers and choice filters
// are the form's JSON Logic rules, evaluated by expr.js after each change.

import { h, mount } from './dom.js';
import {
  allowedChoices, childrenOf, DEFAULT_MAX_TEXT, evaluateForm, fieldKey, isEmpty,
} from './expr.js';
import { formLanguages, pickForm as pick, say, setFormLang, t } from './i18n.js';
import { preparePhoto } from './photo.js';
import {
  addPhoto, discardSurvey, getFormDoc, getSurveyAndFeedback, getSyncState, photoBlob,
  removePhoto, surveyState, SurveySaver, uuid4,
} from './store.js';

const RADIO_LIMIT = 6;
// Text answers allowed to be longer than this are multi-line boxes.
const LINE_LIMIT = 200;

// Bindings are updated after every keystroke: touch the DOM only on a change.
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

// Top-level groups and repeats are pages; loose top-level fields between them
// share one.
export function buildPages(fields) {
  const pages = [];
  let loose = null;
  for (const field of fields) {
    if (field.type === 'group') {
      loose = null;
      pages.push({ group: field, fields: childrenOf(field) });
    } else if (field.type === 'repeat') {
      loose = null;
      pages.push({ group: null, fields: [field] });
    } else if (field.type !== 'calculate' && field.type !== 'hidden') {
      if (!loose) {
        loose = { group: null, fields: [] };
        pages.push(loose);
      }
      loose.fields.push(field);
    }
  }
  return pages;
}

function fieldNames(fields, into = new Set()) {
  for (const field of fields) {
    into.add(field.name);
    fieldNames(childrenOf(field), into);
  }
  return into;
}

// A datetime-local value with the phone's UTC offset, as the server requires.
function withOffset(local) {
  const off = -new Date(local).getTimezoneOffset();
  const pad = (n) => String(Math.trunc(Math.abs(n))).padStart(2, '0');
  const seconds = local.length === 16 ? ':00' : '';
  return `${local}${seconds}${off >= 0 ? '+' : '-'}${pad(off / 60)}:${pad(off % 60)}`;
}

function afterPaint() {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

export function currentPosition(timeout = 8000) {
  return new Promise((resolve) => {
    if (!navigator.geolocation) {
      resolve(null);
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (pos) => resolve({
        lat: pos.coords.latitude, lon: pos.coords.longitude, accuracy: pos.coords.accuracy,
      }),
      () => resolve(null),
      { enableHighAccuracy: true, timeout, maximumAge: 60000 },
    );
  });
}

// A choice's label, with its picture when the form gives one.
function choiceText(choice) {
  return h('span', {}, choice.image ? h('img', { class: 'choice-image', src: choice.image, alt: '' })
    : null, pick(choice.label));
}

function initialAnswers(fields, target) {
  for (const field of fields) {
    if (field.type === 'group') initialAnswers(childrenOf(field), target);
    else if (field.default !== undefined && target[field.name] === undefined) {
      target[field.name] = structuredClone(field.default);
    }
  }
}

export class FormView {
  constructor({ definition, survey, stores, editable, onChange, seen }) {
    this.def = definition;
    this.survey = survey;
    this.answers = survey.answers;
    this.stores = stores;
    this.editable = editable;
    this.onChange = onChange;
    this.bindings = [];
    // Which answers show their errors; kept by the caller across redraws.
    this.seen = seen || { touched: new Set(), showAll: false };
    this.touched = this.seen.touched;
    this.pages = buildPages(definition.fields);
    this.state = evaluateForm(definition, this.answers);
  }

  choicesFor(field, row) {
    const data = this.state.scopes.get(row ? row._row : null) || this.answers;
    return allowedChoices(this.def, field, data);
  }

  relevant(field, row) {
    return this.state.relevant.get(fieldKey(row?._row, field.name)) !== false;
  }

  pageRelevant(index) {
    const page = this.pages[index];
    if (page.group) return this.relevant(page.group, null);
    return page.fields.some((f) => this.relevant(f, null));
  }

  nextPage(from, step) {
    for (let i = from + step; i >= 0 && i < this.pages.length; i += step) {
      if (this.pageRelevant(i)) return i;
    }
    return -1;
  }

  pageOfField(name) {
    return this.pages.findIndex((page) => fieldNames(page.fields).has(name));
  }

  // Called after every change: recompute, show, save.
  changed(key) {
    if (key) this.touched.add(key);
    this.state = evaluateForm(this.def, this.answers);
    this.refresh();
    this.onChange();
  }

  refresh() {
    this.bindings = this.bindings.filter((b) => b.el.isConnected);
    for (const binding of this.bindings) binding.update();
  }

  renderPage(index) {
    this.bindings = [];
    const page = this.pages[index];
    const body = page.fields.map((f) => this.renderField(f, null));
    const fieldset = h('fieldset', { class: 'page', disabled: !this.editable },
      page.group ? h('h2', { class: 'page-title' }, pick(page.group.label)) : null,
      page.group?.hint ? h('p', { class: 'hint' }, pick(page.group.hint)) : null,
      body);
    queueMicrotask(() => this.refresh());
    return fieldset;
  }

  // [{key, name}] of every error, or of one page's.
  errors(index) {
    const names = index === undefined ? null : fieldNames(this.pages[index].fields);
    return [...this.state.errors.keys()]
      .map((key) => ({ key, name: key.slice(key.indexOf('/') + 1) }))
      .filter((e) => !names || names.has(e.name));
  }

  message(problem) {
    return problem.message ? pick(problem.message) : say(`forms.answer.${problem.code}`, problem.params);
  }

  renderField(field, row) {
    switch (field.type) {
      case 'group': return this.renderGroup(field, row);
      case 'repeat': return this.renderRepeat(field, row);
      case 'calculate':
      case 'hidden': return null;
      default: return this.renderInput(field, row);
    }
  }

  bind(el, field, row, extra) {
    const binding = {
      el,
      update: () => {
        const visible = this.relevant(field, row);
        if (el.hidden === visible) el.hidden = !visible;
        extra?.(visible);
      },
    };
    this.bindings.push(binding);
    return el;
  }

  renderGroup(field, row) {
    const el = h('fieldset', { class: 'group', dataset: { name: field.name } },
      h('legend', {}, pick(field.label)),
      field.hint ? h('p', { class: 'hint' }, pick(field.hint)) : null,
      childrenOf(field).map((f) => this.renderField(f, row)));
    return this.bind(el, field, row);
  }

  renderRepeat(field, parentRow) {
    const target = parentRow || this.answers;
    const rowsEl = h('div', { class: 'rows' });
    const addButton = h('button', { type: 'button', class: 'add-row' },
      `+ ${t('add_row')}: ${pick(field.label)}`);
    const error = h('p', { class: 'error', role: 'alert' });
    // With several rows (a household's members) the page is long: an index
    // at the top jumps to each row, named by its first text answer.
    const index = h('nav', { class: 'row-index', 'aria-label': pick(field.label) });
    const nameField = childrenOf(field).find((f) => f.type === 'text');
    const rowTitle = (row, i) => [t('row_n', { n: i + 1 }), nameField && row[nameField.name]]
      .filter(Boolean).join(': ');
    const drawIndex = () => {
      const rows = target[field.name] || [];
      index.hidden = rows.length < 2;
      if (index.childElementCount !== rows.length) {
        mount(index, rows.map((row) => h('button', {
          type: 'button',
          onclick: () => rowsEl.querySelector(`[data-row="${row._row}"]`)
            ?.scrollIntoView({ block: 'start' }),
        })));
      }
      rows.forEach((row, i) => setText(index.children[i], rowTitle(row, i)));
    };
    const draw = () => {
      const rows = target[field.name] || [];
      drawIndex();
      mount(rowsEl, rows.map((row, i) => h('fieldset', { class: 'row', dataset: { row: row._row } },
        h('legend', {}, `${pick(field.label)} — ${t('row_n', { n: i + 1 })}`),
        childrenOf(field).map((f) => this.renderField(f, row)),
        h('button', {
          type: 'button',
          class: 'remove-row danger',
          onclick: () => {
            if (!window.confirm(t('confirm_remove_row'))) return;
            this.removeRowPhotos(field, row);
            target[field.name] = rows.filter((r) => r !== row);
            draw();
            this.changed(fieldKey(parentRow?._row, field.name));
          },
        }, `${t('remove_row')} ${t('row_n', { n: i + 1 })}`))));
      addButton.hidden = field.max_rows !== undefined && rows.length >= field.max_rows;
    };
    addButton.addEventListener('click', () => {
      const row = { _row: uuid4() };
      initialAnswers(childrenOf(field), row);
      target[field.name] = [...(target[field.name] || []), row];
      draw();
      this.changed(fieldKey(parentRow?._row, field.name));
      rowsEl.lastElementChild?.scrollIntoView({ block: 'start' });
    });
    draw();
    const el = h('section', { class: 'repeat', dataset: { name: field.name } },
      h('h3', {}, pick(field.label)),
      field.hint ? h('p', { class: 'hint' }, pick(field.hint)) : null,
      index, rowsEl, addButton, error);
    const key = fieldKey(parentRow?._row, field.name);
    return this.bind(el, field, parentRow, () => {
      drawIndex();
      const problem = (this.seen.showAll || this.touched.has(key)) && this.state.errors.get(key);
      setText(error, problem ? this.message(problem) : '');
    });
  }

  removeRowPhotos(field, row) {
    for (const child of childrenOf(field)) {
      if (child.type === 'photo') {
        for (const id of row[child.name] || []) removePhoto(this.stores, id);
      }
    }
  }

  renderInput(field, row) {
    const target = row || this.answers;
    const key = fieldKey(row?._row, field.name);
    const id = `f-${row ? `${row._row.slice(0, 8)}-` : ''}${field.name}`;
    const set = (value) => {
      // A finalised survey is only shown: not even a choice filter may change it.
      if (!this.editable) return;
      if (isEmpty(value)) delete target[field.name];
      else target[field.name] = value;
      this.changed(key);
    };
    const control = this.control(field, row, target, set, id);
    const error = h('p', { class: 'error', role: 'alert' });
    const label = field.type === 'note'
      ? h('p', { class: 'note-text' }, pick(field.label))
      : h('label', { for: id, id: `${id}-label`, class: 'label' }, pick(field.label),
        h('span', { class: 'req', hidden: true }, ' *'));
    if (control.el?.classList.contains('choices')) {
      control.el.setAttribute('role', field.type === 'select_one' ? 'radiogroup' : 'group');
      control.el.setAttribute('aria-labelledby', `${id}-label`);
    }
    const el = h('div', { class: `field type-${field.type}`, dataset: { name: field.name } },
      label,
      field.image ? h('img', { class: 'label-image', src: field.image, alt: '' }) : null,
      field.hint ? h('p', { class: 'hint' }, pick(field.hint)) : null,
      control.el, error);
    return this.bind(el, field, row, (visible) => {
      control.update?.();
      const req = label.querySelector?.('.req');
      if (req && req.hidden === this.state.required.has(key)) req.hidden = !req.hidden;
      const show = visible && (this.seen.showAll || this.touched.has(key));
      const problem = show ? this.state.errors.get(key) : null;
      el.classList.toggle('invalid', Boolean(problem));
      setText(error, problem ? this.message(problem) : '');
    });
  }

  control(field, row, target, set, id) {
    const value = () => target[field.name];
    switch (field.type) {
      case 'note': return { el: null };
      case 'integer':
      case 'decimal': {
        const el = h('input', {
          id, type: 'number', inputmode: field.type === 'integer' ? 'numeric' : 'decimal',
          step: field.type === 'integer' ? '1' : 'any', value: value() ?? '',
        });
        el.addEventListener('input', () => set(el.value === '' ? null : Number(el.value)));
        return { el };
      }
      case 'date': {
        const el = h('input', { id, type: 'date', value: value() ?? '' });
        el.addEventListener('input', () => set(el.value));
        return { el };
      }
      case 'datetime': {
        const el = h('input', { id, type: 'datetime-local', value: (value() ?? '').slice(0, 16) });
        el.addEventListener('input', () => set(el.value && withOffset(el.value)));
        return { el };
      }
      case 'time': {
        const el = h('input', { id, type: 'time', value: value() ?? '' });
        el.addEventListener('input', () => set(el.value));
        return { el };
      }
      case 'acknowledge': {
        const box = h('input', { id, type: 'checkbox', checked: value() === true });
        box.addEventListener('change', () => set(box.checked ? true : null));
        return { el: h('label', { class: 'choice' }, box, h('span', {}, t('acknowledge'))) };
      }
      case 'barcode': return this.barcode(value, set, id);
      case 'select_one': return this.selectOne(field, row, value, set, id);
      case 'select_multiple': return this.selectMultiple(field, row, value, set, id);
      case 'photo': return this.photoControl(field, value, set, id);
      case 'geopoint': return this.geopoint(value, set, id);
      default: {
        if (field.type === 'text' && field.max_length > LINE_LIMIT) {
          // A note of a few sentences gets a box the volunteer can read back.
          const el = h('textarea', { id, rows: 4, maxlength: field.max_length });
          el.value = value() ?? '';
          el.addEventListener('input', () => set(el.value));
          return { el };
        }
        const el = h('input', {
          id, type: field.type === 'phone' ? 'tel' : 'text', value: value() ?? '',
          // The browser stops typing at the limit the server holds answers to.
          maxlength: field.type === 'text' ? field.max_length ?? DEFAULT_MAX_TEXT : null,
          inputmode: field.type === 'phone' ? 'tel' : null,
          autocomplete: 'off',
        });
        el.addEventListener('input', () => set(el.value));
        return { el };
      }
    }
  }

  // Options are redrawn only when the filtered list changes, so focus stays put.
  // The chosen options are marked with a class, cheaper to restyle than :has().
  choiceControl(field, row, draw) {
    const el = h('div', { class: 'choices' });
    const mark = () => {
      for (const label of el.querySelectorAll('label.choice')) {
        label.classList.toggle('checked', label.firstChild.checked);
      }
    };
    el.addEventListener('change', mark);
    let shown = null;
    const update = () => {
      const choices = this.choicesFor(field, row);
      const signature = choices.map((c) => c.value).join('\n');
      if (signature === shown) return;
      shown = signature;
      draw(el, choices);
      mark();
    };
    update();
    return { el, update };
  }

  selectOne(field, row, value, set, id) {
    const many = (this.def.choices?.[field.choices] || []).length > RADIO_LIMIT;
    return this.choiceControl(field, row, (el, choices) => {
      const current = value();
      if (current !== undefined && !choices.some((c) => c.value === current)) {
        queueMicrotask(() => set(null));
      }
      if (many) {
        const select = h('select', { id, onchange: () => set(select.value) },
          h('option', { value: '' }, '—'),
          choices.map((c) => h('option', { value: c.value, selected: c.value === current }, pick(c.label))));
        mount(el, select);
        return;
      }
      mount(el, choices.map((c, i) => h('label', { class: 'choice' },
        h('input', {
          type: 'radio', name: id, value: c.value, id: i === 0 ? id : null,
          checked: c.value === current, onchange: () => set(c.value),
        }),
        choiceText(c))));
    });
  }

  selectMultiple(field, row, value, set, id) {
    return this.choiceControl(field, row, (el, choices) => {
      const allowed = new Set(choices.map((c) => c.value));
      const current = value() || [];
      if (current.some((v) => !allowed.has(v))) {
        queueMicrotask(() => set(current.filter((v) => allowed.has(v))));
      }
      const order = choices.map((c) => c.value);
      mount(el, choices.map((c, i) => h('label', { class: 'choice' },
        h('input', {
          type: 'checkbox', value: c.value, id: i === 0 ? id : null,
          checked: current.includes(c.value),
          onchange: (event) => {
            const chosen = new Set(value() || []);
            if (event.target.checked) chosen.add(c.value);
            else chosen.delete(c.value);
            set(order.filter((v) => chosen.has(v)));
          },
        }),
        choiceText(c))));
    });
  }

  // Typed, or read from a photo of the code where the browser has BarcodeDetector.
  barcode(value, set, id) {
    const el = h('input', {
      id, type: 'text', value: value() ?? '', autocomplete: 'off', maxlength: DEFAULT_MAX_TEXT,
    });
    el.addEventListener('input', () => set(el.value));
    if (!('BarcodeDetector' in window)) return { el };
    const status = h('p', { class: 'hint', role: 'status' });
    const file = h('input', {
      id: `${id}-scan`, type: 'file', accept: 'image/*', capture: 'environment',
      class: 'visually-hidden',
    });
    file.addEventListener('change', async () => {
      const picked = file.files?.[0];
      file.value = '';
      if (!picked) return;
      let codes = [];
      try {
        codes = await new window.BarcodeDetector().detect(await createImageBitmap(picked));
      } catch {
        codes = [];
      }
      if (codes.length) {
        el.value = codes[0].rawValue;
        set(el.value);
        status.textContent = '';
      } else {
        status.textContent = t('scan_failed');
      }
    });
    return {
      el: h('div', { class: 'barcode' }, el, file,
        h('label', { for: `${id}-scan`, class: 'button' }, t('scan_barcode')), status),
    };
  }

  geopoint(value, set, id) {
    const shown = h('span', { class: 'geo' });
    const show = () => {
      const v = value();
      shown.textContent = v ? `${v.lat.toFixed(5)}, ${v.lon.toFixed(5)} (±${Math.round(v.accuracy || 0)} m)` : '';
    };
    const button = h('button', {
      type: 'button', id,
      onclick: async () => {
        button.disabled = true;
        const pos = await currentPosition();
        button.disabled = false;
        if (pos) set(pos);
        else shown.textContent = t('location_failed');
        show();
      },
    }, t('get_location'));
    show();
    return { el: h('div', { class: 'geopoint' }, button, shown) };
  }

  photoControl(field, value, set, id) {
    const list = h('div', { class: 'photos' });
    const status = h('p', { class: 'hint', role: 'status' });
    const input = h('input', {
      id, type: 'file', accept: 'image/*', capture: 'environment', class: 'visually-hidden',
    });
    const pickButton = h('label', { for: id, class: 'button' }, `📷 ${t('take_photo')}`);
    const draw = async () => {
      const ids = value() || [];
      const items = await Promise.all(ids.map(async (photoId) => {
        let url = '';
        try {
          url = URL.createObjectURL(await photoBlob(this.stores, photoId));
        } catch {
          url = '';
        }
        return h('figure', { class: 'photo', dataset: { id: photoId } },
          url ? h('img', { src: url, alt: '' }) : null,
          h('button', {
            type: 'button', class: 'danger remove-photo',
            onclick: async () => {
              set((value() || []).filter((p) => p !== photoId));
              await removePhoto(this.stores, photoId);
              await draw();
            },
          }, t('remove_photo')));
      }));
      mount(list, items);
      pickButton.hidden = field.max_count !== undefined && ids.length >= field.max_count;
    };
    input.addEventListener('change', async () => {
      const file = input.files?.[0];
      input.value = '';
      if (!file) return;
      status.textContent = t('photo_processing');
      try {
        const prepared = await preparePhoto(file);
        const gps = prepared.gps || (await currentPosition(4000));
        const photoId = await addPhoto(this.stores, {
          surveyId: this.survey._id, field: field.name, blob: prepared.blob,
          takenAt: prepared.takenAt, gps,
        });
        set([...(value() || []), photoId]);
        status.textContent = '';
        await draw();
      } catch {
        status.textContent = t('photo_failed');
      }
    });
    draw();
    return { el: h('div', { class: 'photo-field' }, list, pickButton, input, status) };
  }
}

function pageTitle(page) {
  const first = page.group || page.fields[0];
  return first ? pick(first.label) : '';
}

// A choice of the form's own languages, for forms in languages besides vi and en
// (the app's own texts stay in its language).
function formLanguageChoice(definition, relabel) {
  const codes = formLanguages(definition);
  if (codes.length === 2 && codes[0] === 'vi' && codes[1] === 'en') return null;
  const shown = pick(Object.fromEntries(codes.map((code) => [code, code])));
  const select = h('select', {
    id: 'form-lang', 'aria-label': t('form_language'),
    onchange: () => {
      setFormLang(select.value);
      relabel();
    },
  }, codes.map((code) => h('option', { value: code, selected: code === shown }, code)));
  return h('label', { class: 'form-lang' }, `${t('form_language')}: `, select);
}

function formHeader(formDoc, state, feedback, relabel) {
  return h('header', { class: 'form-head' },
    h('h2', {}, pick(formDoc.definition.title)),
    formLanguageChoice(formDoc.definition, relabel),
    state === 'needs_correction' && feedback?.comment
      ? h('div', { class: 'comment', role: 'note' },
        h('strong', {}, `${t('reviewer_comment')}: `), h('span', { class: 'comment-text' }, feedback.comment))
      : null);
}

// The page each survey was last shown at, so a draft reopens where the
// volunteer left it (a few bytes per survey, in localStorage).
const PAGES_KEY = 'sotay.pages';

function lastPages() {
  try {
    return JSON.parse(localStorage.getItem(PAGES_KEY) || '{}');
  } catch {
    return {};
  }
}

function rememberPage(surveyId, index) {
  const pages = lastPages();
  if (pages[surveyId] === (index ?? undefined)) return;
  if (index === null) delete pages[surveyId];
  else pages[surveyId] = index;
  localStorage.setItem(PAGES_KEY, JSON.stringify(pages));
}

// A survey tapped open just now is saved only at its first answer, so taps
// on "+ form" leave no empty drafts behind; reloaded before any answer, it
// is simply gone.
async function loadSurvey(ctx, surveyId) {
  if (ctx.fresh?._id === surveyId) return [ctx.fresh, null];
  return getSurveyAndFeedback(ctx.stores, surveyId);
}

// Why a finalised survey is shown read-only, and whether it may be reopened:
// until it is sent it is the volunteer's to correct (as in ODK Collect).
function finalNote(reopenable, reopened, onReopen) {
  if (reopened) return h('p', { class: 'note', id: 'final-note' }, t('reopened_note'));
  if (reopenable) {
    return h('div', { class: 'note', id: 'final-note' },
      h('p', {}, t('final_unsent_note')),
      h('button', { type: 'button', id: 'reopen', onclick: onReopen }, t('reopen')));
  }
  return h('p', { class: 'note', id: 'final-note' }, t('final_sent_note'));
}

// The survey screen: loads the survey and its exact form version, shows one
// page, keeps the page in the URL so a reload comes back to it.
export async function surveyScreen(view, ctx, surveyId, pageParam) {
  const [[survey, feedback], syncState] = await Promise.all([
    loadSurvey(ctx, surveyId), getSyncState(ctx.stores),
  ]);
  if (!survey) {
    location.replace('#/');
    return;
  }
  const formDoc = await getFormDoc(ctx.stores, survey.form_id, survey.form_version);
  if (!formDoc) {
    mount(view, h('p', { class: 'error' }, t('unknown_form')));
    return;
  }
  const state = surveyState(survey, feedback);
  const sent = syncState.pushed?.[surveyId]?.rev === survey._rev;
  const reopenable = survey.status === 'final' && !feedback && !sent;
  // Still "reopened" once the first change has made it a draft again.
  const reopened = ctx.reopened === surveyId && !feedback && !sent;
  const editable = survey.status === 'draft' || state === 'needs_correction' || reopened;
  const saveState = h('span', { class: 'save-state', id: 'save-state', role: 'status' });
  const saver = new SurveySaver(ctx.stores.data, survey, (s) => {
    const labels = { saving: 'saving', saved: 'saved', error: 'save_failed' };
    saveState.textContent = t(labels[s]);
    saveState.classList.toggle('error', s === 'error');
    saveState.dataset.state = s;
  });
  // A reopened survey is final again when the volunteer leaves it with no
  // error left; with errors it stays a draft, as the list then says.
  ctx.onLeave = async () => {
    await saver.writing;
    if (!reopened) return;
    if (survey.status === 'draft' && form.errors().length === 0) {
      survey.answers = form.state.answers;
      survey.status = 'final';
      await saver.save();
    }
    if (survey.status === 'final') ctx.reopened = null;
  };
  if (editable && Object.keys(survey.answers).length === 0) {
    initialAnswers(formDoc.definition.fields, survey.answers);
  }
  // The errors already shown stay shown when the screen is drawn again (a tab
  // switch, a language switch, a sync finishing).
  if (ctx.seen?.surveyId !== surveyId) {
    ctx.seen = { surveyId, touched: new Set(), showAll: false };
  }
  const form = new FormView({
    seen: ctx.seen,
    definition: formDoc.definition,
    survey,
    stores: ctx.stores,
    editable,
    onChange: () => {
      if (survey.status === 'final') survey.status = 'draft';
      saver.save().catch(() => null);
      drawNav();
    },
  });
  // Asked after the page is drawn: the position API costs milliseconds of a
  // slow phone's main thread even when it has nothing to give.
  if (editable && survey.gps === null) {
    afterPaint().then(currentPosition).then((gps) => {
      if (gps && survey.gps === null) {
        survey.gps = gps;
        // Not a reason to save a survey nobody has answered yet.
        if (survey._rev) saver.save().catch(() => null);
      }
    });
  }

  const remembered = pageParam === undefined ? lastPages()[surveyId] : pageParam;
  let index = Math.min(Number(remembered) || 0, form.pages.length - 1);
  if (!form.pageRelevant(index)) index = Math.max(0, form.nextPage(index, -1));
  const pageHolder = h('div', { class: 'page-holder' });
  const nav = h('nav', { class: 'pager' });
  const jump = h('select', {
    id: 'jump', 'aria-label': t('jump_to'), onchange: () => show(Number(jump.value)),
  });
  const message = h('p', { class: 'error', id: 'form-message', role: 'alert' });

  // The pages the volunteer may go to, by title: a long survey is not one
  // long scroll.
  function drawJump() {
    mount(jump, form.pages.map((page, i) => (form.pageRelevant(i) ? h('option', {
      value: String(i), selected: i === index,
    }, `${i + 1}. ${pageTitle(page)}`) : null)));
  }

  // Relevance decides which pages come next, so the pager follows every change.
  // Pages that follow but are not relevant yet (before consent is answered)
  // still get Next, which shows what is missing, rather than Finalise.
  let navShown = null;
  function drawNav() {
    const prev = form.nextPage(index, -1);
    const next = form.nextPage(index, 1);
    const unanswered = next < 0 && index < form.pages.length - 1 && form.errors(index).length > 0;
    const relevantPages = form.pages.map((_, i) => (form.pageRelevant(i) ? 1 : 0)).join('');
    const signature = `${index}:${prev}:${next}:${unanswered}:${relevantPages}`;
    if (signature === navShown) return;
    navShown = signature;
    drawJump();
    mount(nav,
      h('button', { type: 'button', id: 'prev', disabled: prev < 0, onclick: () => show(prev) },
        `‹ ${t('previous')}`),
      h('span', { class: 'page-no' }, t('page_of', { n: index + 1, total: form.pages.length })),
      next >= 0 || (editable && unanswered)
        ? h('button', { type: 'button', id: 'next', class: 'primary', onclick: goNext }, `${t('next')} ›`)
        : editable
          ? h('button', { type: 'button', id: 'finalise', class: 'primary', onclick: finalise }, t('finalise'))
          : h('a', { class: 'button', href: '#/' }, t('back')));
  }

  const show = (i, scrollTo) => {
    index = i;
    // replaceState costs a few milliseconds on a slow phone: only when it changes.
    const hash = `#/survey/${encodeURIComponent(surveyId)}/${i}`;
    if (location.hash !== hash) history.replaceState(null, '', hash);
    rememberPage(surveyId, i);
    mount(pageHolder, form.renderPage(i));
    navShown = null;
    drawNav();
    message.textContent = '';
    // In the next frame: scrolling now would lay out the page twice.
    requestAnimationFrame(() => window.scrollTo(0, 0));
    if (scrollTo) {
      queueMicrotask(() => pageHolder.querySelector(`.field.invalid, [data-name="${scrollTo}"]`)
        ?.scrollIntoView({ block: 'center' }));
    }
  };

  const goNext = () => {
    const errors = editable ? form.errors(index) : [];
    if (errors.length) {
      form.seen.showAll = true;
      form.refresh();
      message.textContent = t('fix_errors', { n: errors.length });
      pageHolder.querySelector('.field.invalid')?.scrollIntoView({ block: 'center' });
      return;
    }
    form.seen.showAll = false;
    const next = form.nextPage(index, 1);
    if (next >= 0) show(next);
  };

  const finalise = async () => {
    const errors = form.errors();
    if (errors.length) {
      form.seen.showAll = true;
      const page = form.pageOfField(errors[0].name);
      show(page >= 0 ? page : index, errors[0].name);
      message.textContent = t('fix_errors', { n: errors.length });
      return;
    }
    survey.answers = form.state.answers;
    survey.status = 'final';
    await saver.save();
    ctx.reopened = null;
    rememberPage(surveyId, null);
    ctx.flash(t('finalised_msg'));
    location.hash = '#/';
  };

  // A draft that never left the phone may be thrown away with its photos; a
  // survey the server has seen (a correction in progress) may not.
  const discardable = editable && !reopened && !feedback && !syncState.pushed?.[surveyId];
  const discard = async () => {
    if (!window.confirm(t('confirm_discard'))) return;
    ctx.onLeave = null;
    await saver.writing;
    if (survey._rev) await discardSurvey(ctx.stores, survey);
    rememberPage(surveyId, null);
    location.hash = '#/';
  };
  const reopen = () => {
    ctx.reopened = surveyId;
    ctx.onLeave = null;
    surveyScreen(view, ctx, surveyId, String(index));
  };
  const head = h('div');
  const relabel = () => {
    mount(head, formHeader(formDoc, state, feedback, relabel),
      survey.status === 'final' || reopened ? finalNote(reopenable, reopened, reopen) : null,
      discardable ? h('button', {
        type: 'button', class: 'link danger', id: 'discard', onclick: discard,
      }, t('discard_draft')) : null,
      form.pages.length > 1 ? jump : null);
    show(index);
  };
  // A language switch redraws the page in place: answers, touched fields and
  // shown errors stay as they are.
  ctx.relabel = relabel;
  mount(view, head, saveState, pageHolder, message, nav);
  relabel();
}
