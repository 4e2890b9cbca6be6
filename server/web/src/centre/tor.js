import { t } from "../shared/i18n.js";

/** The word for `prefix.name`, or `name` itself when no word is known. */
export function tOr(prefix, name) {
  const key = `${prefix}.${name}`;
  const word = t(key);
  return word === key ? name : word;
}
