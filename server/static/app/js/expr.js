// Form rules on the phone, evaluated exactly as the server's
// forms/submission.py does: json-logic-js plus the custom operators of
// /app/rules.js; fields resolved in document order; an irrelevant answer is
// absent for every later rule; calculations computed in place; inside a
// repeat row, rules see the top-level answers overlaid by the row. Then the
// checks: required, types, constraint (answered fields only), choice filter,
// repeat bounds. Pure functions of (definition, answers), recomputed after
// every change, so what the phone shows is what the server will decide.
// An error is {code, params}: the server's code for the same problem, whose
// words are the message catalogue's `forms.answer.<code>`; a constraint may
// carry the form's own message instead.

/* global jsonLogic */

const ANSWER_TYPES = new Set([
  'text', 'integer', 'decimal', 'date', 'datetime', 'select_one', 'select_multiple', 'photo',
  'geopoint', 'phone', 'time', 'barcode', 'acknowledge', 'hidden', 'repeat', 'calculate',
]);
const MAX_ROWS = 1000;
const DEFAULT_MAX_PHOTOS = 10;
// A text answer's length when the form sets no max_length (forms/answers.py
// DEFAULT_MAX_TEXT), counted in UTF-16 code units as String.length counts.
export const DEFAULT_MAX_TEXT = 2000;
// Half of a UTF-16 pair, e.g. an emoji cut in two: no UTF-8 text can hold it,
// so the server refuses it (broken_text).
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const TIME = /^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,3})?)?$/;
const DATETIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/;

export function evaluate(rule, data) {
  try {
    return jsonLogic.apply(rule, data);
  } catch {
    return null;
  }
}

// json-logic-js truthiness: an empty array is false.
export function truthy(value) {
  return jsonLogic.truthy(value);
}

export function isEmpty(value) {
  return value === undefined || value === null || value === ''
    || (Array.isArray(value) && value.length === 0);
}

export function childrenOf(field) {
  return field.fields || [];
}

// The key of one field instance: the enclosing repeat row's id and the name.
export function fieldKey(rowId, name) {
  return `${rowId || ''}/${name}`;
}

function setBoth(values, data, name, value) {
  values[name] = value;
  data[name] = value;
}

function dropBoth(values, data, name) {
  delete values[name];
  delete data[name];
}

// Relevance and calculations in document order (submission.resolve_answers).
// `live` is the draft being edited: calculated values are written back into it
// so they are saved; irrelevant answers stay in the draft (the volunteer may
// flip a choice back) and are left out of `answers`, the clean copy.
function resolveLevel(items, values, data, live, rowId, relevant, out) {
  for (const item of items) {
    const key = fieldKey(rowId, item.name);
    const here = relevant && (item.relevant === undefined || truthy(evaluate(item.relevant, data)));
    out.relevant.set(key, here);
    if (item.type === 'group') {
      resolveLevel(childrenOf(item), values, data, live, rowId, here, out);
      continue;
    }
    if (!ANSWER_TYPES.has(item.type)) continue;
    if (!here) {
      dropBoth(values, data, item.name);
      if (item.type === 'calculate') delete live[item.name];
      continue;
    }
    if (item.type === 'calculate') {
      const value = evaluate(item.calculation, data);
      const stored = typeof value === 'number' && !Number.isFinite(value) ? null : value;
      setBoth(values, data, item.name, stored);
      live[item.name] = stored;
    } else if (item.type === 'repeat') {
      resolveRepeat(item, values, data, live, out);
    }
  }
}

function resolveRepeat(item, values, data, live, out) {
  const rows = values[item.name];
  if (!Array.isArray(rows)) return;
  const liveRows = live[item.name] || [];
  const resolved = rows.map((row, index) => {
    const rowValues = { ...row };
    const overlay = { ...data, ...rowValues };
    resolveLevel(childrenOf(item), rowValues, overlay, liveRows[index] || {}, row._row, true, out);
    return rowValues;
  });
  setBoth(values, data, item.name, resolved);
}

function typeError(field, value) {
  switch (field.type) {
    case 'integer':
      return Number.isSafeInteger(value) ? null : { code: 'integer_type' };
    case 'decimal':
      return typeof value === 'number' && Number.isFinite(value) ? null : { code: 'decimal_type' };
    case 'phone':
      return truthy(evaluate({ vn_mobile: [value] }, {})) ? null : { code: 'phone_type' };
    case 'datetime':
      return DATETIME.test(value) ? null : { code: 'datetime_type' };
    case 'time':
      return typeof value === 'string' && TIME.test(value) ? null : { code: 'time_type' };
    case 'acknowledge':
      return value === true ? null : { code: 'acknowledge_type' };
    case 'barcode':
    case 'hidden':
    case 'text': {
      if (typeof value !== 'string') return { code: 'text_type' };
      const text = value;
      const limit = field.max_length ?? DEFAULT_MAX_TEXT;
      if (text.length > limit) return { code: 'text_too_long', params: { value: limit } };
      return LONE_SURROGATE.test(text) ? { code: 'broken_text' } : null;
    }
    case 'photo': {
      const high = field.max_count ?? DEFAULT_MAX_PHOTOS;
      if (value.length > high) return { code: 'too_many_photos', params: { value: high } };
      if (value.length < (field.min_count ?? 0)) {
        return { code: 'too_few_photos', params: { value: field.min_count } };
      }
      return null;
    }
    default:
      return null;
  }
}

export function allowedChoices(definition, field, data) {
  const list = definition.choices?.[field.choices] || [];
  if (field.choice_filter === undefined) return list;
  return list.filter((choice) => truthy(evaluate(field.choice_filter, { ...data, _choice: choice })));
}

// The rows a repeat_count asks for when the repeat has another number of them
// (forms/answers.py wrong_row_count); null when it fits or asks nothing.
export function wrongRowCount(field, rows, data) {
  if (field.repeat_count === undefined) return null;
  const count = evaluate(field.repeat_count, data);
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > MAX_ROWS) {
    return null;
  }
  const have = Array.isArray(rows) ? rows.length : 0;
  return have === count ? null : count;
}

function isRequired(field, data) {
  const rule = field.required;
  if (rule === undefined || rule === false) return false;
  return rule === true || truthy(evaluate(rule, data));
}

// required, types, constraint and choice filter on the resolved answers.
function checkLevel(definition, items, values, data, rowId, out) {
  for (const item of items) {
    const key = fieldKey(rowId, item.name);
    if (item.type === 'group') {
      if (out.relevant.get(key)) checkLevel(definition, childrenOf(item), values, data, rowId, out);
      continue;
    }
    if (!ANSWER_TYPES.has(item.type) || !out.relevant.get(key)) continue;
    if (isRequired(item, data)) out.required.add(key);
    const value = values[item.name];
    const rowCount = item.type === 'repeat' ? wrongRowCount(item, value, data) : null;
    if (rowCount !== null) out.errors.set(key, { code: 'row_count', params: { count: rowCount } });
    if (isEmpty(value)) {
      if (out.required.has(key)) out.errors.set(key, { code: 'required' });
      continue;
    }
    if (item.type === 'repeat') {
      if (value.length < (item.min_rows ?? 0)) {
        out.errors.set(key, { code: 'too_few_rows', params: { min: item.min_rows } });
      } else if (item.max_rows !== undefined && value.length > item.max_rows) {
        out.errors.set(key, {
          code: 'too_many_rows', params: { count: value.length, max: item.max_rows },
        });
      }
      for (const row of value) {
        const scope = { ...data, ...row };
        out.scopes.set(row._row, scope);
        checkLevel(definition, childrenOf(item), row, scope, row._row, out);
      }
      continue;
    }
    if (item.type === 'calculate') continue;
    const error = typeError(item, value);
    if (error) {
      out.errors.set(key, error);
    } else if (item.constraint !== undefined && !truthy(evaluate(item.constraint, data))) {
      out.errors.set(key, { code: 'constraint', message: item.constraint_message });
    } else if (item.choice_filter !== undefined) {
      const allowed = new Set(allowedChoices(definition, item, data).map((c) => c.value));
      const outside = (Array.isArray(value) ? value : [value]).find((v) => !allowed.has(v));
      if (outside !== undefined) {
        out.errors.set(key, { code: 'choice_filtered_out', params: { value: outside } });
      }
    }
  }
}

// Everything the renderer needs after a change: which field instances are
// relevant and required, their errors, the rule data of every repeat row,
// and the clean answers a finalised survey carries.
export function evaluateForm(definition, live) {
  const out = {
    relevant: new Map(), required: new Set(), errors: new Map(), scopes: new Map(), answers: null,
  };
  const values = structuredClone(live);
  resolveLevel(definition.fields, values, values, live, null, true, out);
  out.scopes.set(null, values);
  out.answers = values;
  checkLevel(definition, definition.fields, values, values, null, out);
  return out;
}
