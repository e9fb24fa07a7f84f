// Every sentence the phone app shows, in Vietnamese (the default) and English,
// and the one switch between them. The sentences are the server's message
// catalogue (messages/catalogue.json, served as /app/messages.json and kept
// offline by the service worker), so the phone and the server say the same
// words: the app's own under `app.<key>` (`t`), an answer's error under
// `forms.answer.<code>` (`say`). Form labels come from the form itself as
// {vi, en, ...} objects; `pick` and `pickForm` choose from those.

// An app opened offline before its first complete start has no catalogue:
// it then shows the codes rather than nothing at all.
const MESSAGES = await fetch('messages.json')
  .then((response) => (response.ok ? response.json() : {}))
  .catch(() => ({}));

let lang = localStorage.getItem('sotay.lang') || 'vi';

export function getLang() {
  return lang;
}

export function setLang(value) {
  lang = value === 'en' ? 'en' : 'vi';
  localStorage.setItem('sotay.lang', lang);
  document.documentElement.lang = lang;
}

// The form language the volunteer chose, for forms in languages besides vi and en.
let formLang = localStorage.getItem('sotay.formLang');

export function setFormLang(code) {
  formLang = code;
  localStorage.setItem('sotay.formLang', code);
}

// A form's languages as shown: Vietnamese first when it has it (forms/model.py languages).
export function formLanguages(definition) {
  const codes = definition?.languages || ['vi', 'en'];
  return [...codes].sort((a, b) => (a !== 'vi') - (b !== 'vi'));
}

// A text of the app or of a form: {vi, en, ...} or a plain string; in the chosen
// language, else Vietnamese, else the first language the text has.
export function pick(label) {
  if (label == null) return '';
  if (typeof label === 'string') return label;
  return label[lang] ?? label.vi ?? Object.values(label)[0] ?? '';
}

// A text of a form, in the form language chosen on its screen when it has that one.
export function pickForm(label) {
  if (label && typeof label === 'object' && formLang && label[formLang] !== undefined) {
    return label[formLang];
  }
  return pick(label);
}

// The catalogue's message `code` with its {name} placeholders filled.
export function say(code, params = {}) {
  const text = pick(MESSAGES[code]) || code;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ''));
}

// One of the app's own sentences, `app.<key>` in the catalogue.
export function t(key, params = {}) {
  return say(`app.${key}`, params);
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function formatTime(iso) {
  if (!iso) return t('never');
  return new Date(iso).toLocaleString(lang === 'vi' ? 'vi-VN' : 'en-GB');
}
