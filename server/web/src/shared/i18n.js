// Chinese first, with an English switch kept per browser.
import { signal } from "./signal.js";

const KEY = "gridlink.lang";
export const lang = signal(localStorage.getItem(KEY) === "en" ? "en" : "zh");

export function setLang(value) {
  localStorage.setItem(KEY, value);
  document.documentElement.lang = value === "en" ? "en" : "zh-CN";
  lang.set(value);
}

let table = { zh: {}, en: {} };

/** Adds a page's words: `{key: [zh, en]}`. */
export function words(entries) {
  for (const [key, [zh, en]] of Object.entries(entries)) {
    table.zh[key] = zh;
    table.en[key] = en;
  }
}

/** The word for `key` in the current language; `{name}` placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const text = table[lang.get()][key] ?? table.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}
