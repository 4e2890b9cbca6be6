// The inbox: every task of every kind (处置, 核实, 核查) the worker may take or holds,
// most urgent first, each with its case's code, its light and its deadline counting down.
import { useEffect, useState } from "preact/hooks";
import { byUrgency, countdown, lightOf, projected, word } from "./util.js";

/** The tasks the inbox lists: waiting or held, as the queued actions leave them. */
export function inboxTasks(stored, now) {
  const cases = Object.fromEntries(stored.cases.map((c) => [c.id, c]));
  return stored.tasks
    .filter((task) => task.kind_of_item === "task")
    .map((task) => projected(task, stored.outbox))
    .filter((task) => task.status === "open" || task.status === "accepted" || task.waiting.length > 0)
    .map((task) => ({ ...task, light: lightOf(task, cases[task.incident_id], now) }))
    .sort(byUrgency);
}

/** Re-renders every 30 s, so that countdowns move. */
export function useNow() {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 30000);
    return () => clearInterval(timer);
  }, []);
  return now;
}

export function Inbox({ stored }) {
  const now = useNow();
  const tasks = inboxTasks(stored, now);
  const flags = stored.messages.filter((m) => m.kind_of_item === "flag").slice(-3);
  return (
    <section>
      <h2 class="title">{`我的任务 (${tasks.length})`}</h2>
      {flags.map((f) => (
        <p key={f.id} class="flag">
          {`督办 ${f.incident?.code ?? ""}：${f.note}`}
        </p>
      ))}
      {tasks.length === 0 && <p class="empty">暂无任务。新任务会自动出现在这里。</p>}
      <ul class="tasks">
        {tasks.map((task) => {
          const category = stored.categories[task.incident?.category];
          return (
            <li key={task.id}>
              <a class={`task light-${task.light}`} href={`#/task/${encodeURIComponent(task.id)}`}>
                <span class="row">
                  <b class="code">{task.incident?.code}</b>
                  <span class={`kind kind-${task.kind}`}>{word(`task.${task.kind}`, task.kind)}</span>
                </span>
                <span class="row">
                  <span>{category?.name ?? task.incident?.category}</span>
                  <span class={`due due-${task.light}`}>{countdown(task.deadline, now)}</span>
                </span>
                <span class="row small">
                  <span>{word(`taskStatus.${task.status}`, task.status)}</span>
                  {task.waiting.length > 0 && <span class="pill wait">{`等待发送：${task.waiting.map((w) => w.label).join("、")}`}</span>}
                </span>
              </a>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
