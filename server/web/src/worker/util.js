// What the worker app's screens compute from stored tasks: the task as the worker's
// queued actions will leave it, its light, and its deadline in words.
import { t } from "../shared/i18n.js";

/** `t(key)`, or `fallback` when no word is known for it. */
export function word(key, fallback) {
  const text = t(key);
  return text === key ? (fallback ?? key) : text;
}

/** What each queued op makes of a task until the server answers. */
const AFTER = {
  accept_task: "accepted",
  complete_task: "completed",
  confirm_task: "completed",
  verify: "completed",
  return_task: "returned",
};

/**
 * The task as the worker sees it: its stored state with the queued actions applied
 * (`status`, `arrived`), and those actions (`waiting`), shown as waiting to be sent.
 */
export function projected(task, outbox, detail) {
  const waiting = outbox.filter((e) => e.op.task_id === task.id);
  let status = task.status;
  let arrived = (detail?.history ?? []).some((h) => h.action === "arrived" && h.data?.task === task.id);
  for (const e of waiting) {
    status = AFTER[e.op.kind] ?? status;
    if (e.op.kind === "arrive") arrived = true;
  }
  return { ...task, status, arrived, waiting };
}

/** The light of a task: red past its deadline; else its case's light, or yellow in its last fifth. */
export function lightOf(task, kase, now = Date.now()) {
  if (!task.deadline) return "green";
  const due = Date.parse(task.deadline);
  if (now > due) return "red";
  if (kase?.light === "red" || kase?.light === "yellow") return kase.light;
  const start = Date.parse(task.created_at ?? task.deadline);
  return due > start && (now - start) / (due - start) >= 0.8 ? "yellow" : "green";
}

/** "剩余 2小时5分" or "超期 40分", from now to `deadline`. */
export function countdown(deadline, now = Date.now()) {
  if (!deadline) return "无时限";
  const ms = Date.parse(deadline) - now;
  const minutes = Math.floor(Math.abs(ms) / 60000);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const mins = minutes % 60;
  const span = days > 0 ? `${days}天${hours}小时` : hours > 0 ? `${hours}小时${mins}分` : `${mins}分`;
  return ms >= 0 ? `剩余 ${span}` : `超期 ${span}`;
}

const RANK = { red: 0, yellow: 1, green: 2 };

/** Most urgent first: red, yellow, then the rest; within each, the earliest deadline. */
export function byUrgency(a, b) {
  const light = RANK[a.light] - RANK[b.light];
  if (light !== 0) return light;
  const due = (x) => (x.deadline ? Date.parse(x.deadline) : Number.MAX_SAFE_INTEGER);
  return due(a) - due(b) || String(a.created_at).localeCompare(String(b.created_at));
}

/** A time as the phone shows it: `12-06 14:05`. */
export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const two = (n) => String(n).padStart(2, "0");
  return `${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
}
