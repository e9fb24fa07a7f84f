// Form rules on the phone: the same JSON Logic the server evaluates
// (json-logic-js plus the custom operators of /app/rules.js), walked over a
// form definition to find what is relevant, what is calculated and what is
// wrong. Pure functions of (definition, answers), so the renderer can call
// them after every change and the finalise check sees exactly what it shows.

/* global jsonLogic */

export function evaluate(rule, data) {
  if (rule === undefined || rule === null) return undefined;
  if (typeof rule !== 'object') return rule;
  try {
    return jsonLogic.apply(rule, data);
  } catch {
    return undefined;
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

// Inside a repeat, rules see the top-level answers overlaid by the row.
export function scope(answers, row) {
  return row ? { ...answers, ...row } : answers;
}

export function childrenOf(field) {
  return field.fields || field.children || [];
}

// Calculations in document order, twice so one may use another defined later.
export function applyCalculations(fields, answers) {
  let changed = false;
  const walk = (list, target, row) => {
    for (const field of list) {
      if (field.type === 'group') walk(childrenOf(field), target, row);
      else if (field.type === 'repeat') {
        for (const r of target[field.name] || []) walk(childrenOf(field), r, r);
      } else if (field.type === 'calculate' && field.calculation !== undefined) {
        const value = evaluate(field.calculation, scope(answers, row));
        const stored = value === undefined || Number.isNaN(value) ? null : value;
        if (JSON.stringify(target[field.name]) !== JSON.stringify(stored)) {
          target[field.name] = stored;
          changed = true;
        }
      }
    }
  };
  walk(fields, answers, null);
  walk(fields, answers, null);
  return changed;
}

export function isRelevant(field, answers, row) {
  return field.relevant === undefined || truthy(evaluate(field.relevant, scope(answers, row)));
}

export function isRequired(field, answers, row) {
  return field.required !== undefined && truthy(evaluate(field.required, scope(answers, row)));
}

function typeError(field, value) {
  if (isEmpty(value)) return null;
  if (field.type === 'integer' && !Number.isInteger(value)) return 'invalid_integer';
  if (field.type === 'decimal' && (typeof value !== 'number' || !Number.isFinite(value))) {
    return 'invalid_decimal';
  }
  return null;
}

// The problem with one answer: null, {key} for an app message, or {message}
// for the form's own vi/en constraint message.
export function fieldError(field, answers, row) {
  const data = row || answers;
  const value = data[field.name];
  if (isEmpty(value)) return isRequired(field, answers, row) ? { key: 'required' } : null;
  const typeKey = typeError(field, value);
  if (typeKey) return { key: typeKey };
  if (field.constraint !== undefined && !truthy(evaluate(field.constraint, scope(answers, row)))) {
    return field.constraint_message ? { message: field.constraint_message } : { key: 'invalid_value' };
  }
  return null;
}

// Every error of the relevant part of the form, as [{name, row, error}].
export function collectErrors(fields, answers) {
  const errors = [];
  const walk = (list, row) => {
    for (const field of list) {
      if (!isRelevant(field, answers, row)) continue;
      if (field.type === 'group') walk(childrenOf(field), row);
      else if (field.type === 'repeat') {
        const rows = answers[field.name] || [];
        if (!rows.length && isRequired(field, answers, row)) {
          errors.push({ name: field.name, row: null, error: { key: 'required' } });
        }
        for (const r of rows) walk(childrenOf(field), r);
      } else if (field.type !== 'note' && field.type !== 'calculate') {
        const error = fieldError(field, answers, row);
        if (error) errors.push({ name: field.name, row: row?._row ?? null, error });
      }
    }
  };
  walk(fields, null);
  return errors;
}

// The answers to keep when finalising: what is not relevant is left out, as
// the server's validation expects of a final survey.
export function relevantAnswers(fields, answers) {
  const keep = (list, source, row) => {
    const out = {};
    for (const field of list) {
      if (!isRelevant(field, answers, row)) continue;
      if (field.type === 'group') Object.assign(out, keep(childrenOf(field), source, row));
      else if (field.type === 'repeat') {
        if (source[field.name] !== undefined) {
          out[field.name] = (source[field.name] || []).map(
            (r) => ({ _row: r._row, ...keep(childrenOf(field), r, r) }),
          );
        }
      } else if (field.type !== 'note' && source[field.name] !== undefined) {
        out[field.name] = source[field.name];
      }
    }
    return out;
  };
  return keep(fields, answers, null);
}
