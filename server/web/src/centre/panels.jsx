// The panels beside the map: the queue, supervision, a case, a grid.
import { useEffect, useState } from "preact/hooks";
import { api, attachmentUrl, Problem } from "../shared/api.js";
import { t } from "../shared/i18n.js";
import { tOr } from "./tor.js";

/** Re-reads `load()` when `version` moves (at most every 300 ms), keeping the last answer. */
function useLive(load, version, deps = []) {
  const [state, setState] = useState({ data: null, error: null });
  useEffect(() => {
    let gone = false;
    const timer = setTimeout(() => {
      load()
        .then((data) => !gone && setState({ data, error: null }))
        .catch((error) => !gone && setState((s) => ({ data: s.data, error })));
    }, state.data ? 300 : 0);
    return () => {
      gone = true;
      clearTimeout(timer);
    };
  }, [version, ...deps]);
  return state;
}

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getMonth() + 1}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function Light({ light }) {
  return <span class={`light light-${light ?? "green"}`} title={t(`light.${light ?? "green"}`)} />;
}

/** A case's code: clicking it opens the case (the contract's promise). */
function Code({ summary, onOpen }) {
  return (
    <button type="button" class="code" onClick={() => onOpen(summary.id)}>
      {summary.code}
    </button>
  );
}

function ErrorLine({ error }) {
  return error ? (
    <p class="error" role="alert">
      {error.message}
    </p>
  ) : null;
}

/** The caller's inbox, most urgent first, live. */
export function Queue({ version, names, onOpen }) {
  const { data, error } = useLive(() => api("/api/v1/inbox?limit=100"), version);
  return (
    <div class="queue" aria-label={t("queue")}>
      <ErrorLine error={error} />
      {data && (
        <p class="counts">
          {Object.entries(data.counts ?? {})
            .filter(([, n]) => n > 0)
            .map(([kind, n]) => `${t(`kind.${kind}`)} ${n}`)
            .join(" · ")}
        </p>
      )}
      {data?.items.length === 0 && <p class="empty">{t("emptyQueue")}</p>}
      <ol>
        {data?.items.map((item) => (
          <li key={`${item.kind}:${item.incident.id}:${item.task ?? ""}`} class={`item light-${item.light}`}>
            <Light light={item.light} />
            <Code summary={item.incident} onOpen={onOpen} />
            <span class="kind">{t(`kind.${item.kind}`)}</span>
            <span class="what">{names.get(item.incident.category?.code) ?? item.incident.category?.name}</span>
            <span class="due">{item.due ? when(item.due) : ""}</span>
            <span class="desc">{item.incident.description}</span>
          </li>
        ))}
      </ol>
    </div>
  );
}

/** The statuses of a case still in the loop. */
const OPEN = ["reported", "confirming", "registered", "returned", "dispatched", "handled", "verified"];

/** Yellow and red cases by how late they are and the level handling them, the caller's
 *  supervision queue (督办) first; each can be flagged from here. */
export function Supervision({ version, names, onOpen }) {
  const { data, error } = useLive(
    () =>
      Promise.all([
        api("/api/v1/inbox?kinds=supervision&limit=200"),
        api("/api/v1/incidents?light=red,yellow&status=" + OPEN.join(",") + "&limit=200"),
      ]).then(([inbox, lit]) => ({ ...inbox, lit: lit.items })),
    version,
  );
  const now = data ? new Date(data.now).getTime() : Date.now();
  const queued = new Set((data?.items ?? []).map((i) => i.incident.id));
  const late = (due) => (due ? (now - new Date(due).getTime()) / 3600000 : 0);
  const lit = (data?.lit ?? [])
    .map((c) => ({ ...c, category: c.category?.code, deadline: c.deadlines?.current }))
    .sort((a, b) => (a.light === b.light ? late(b.deadline) - late(a.deadline) : a.light === "red" ? -1 : 1));
  const rows = [
    ...(data?.items ?? []).map((i) => ({
      id: i.incident.id,
      code: i.incident.code,
      category: i.incident.category?.code,
      light: i.light,
      due: i.due,
      level: i.supervision_level,
      queued: true,
    })),
    ...lit.filter((c) => !queued.has(c.id)).map((c) => ({ id: c.id, code: c.code, category: c.category, light: c.light, due: c.deadline, level: c.level })),
  ];
  return (
    <div class="queue supervision" aria-label={t("supervision")}>
      <ErrorLine error={error} />
      {rows.length === 0 && <p class="empty">{t("emptyQueue")}</p>}
      <table>
        <thead>
          <tr>
            <th />
            <th>{t("category")}</th>
            <th>{t("lateBy")}</th>
            <th>{t("level")}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.id} class={row.queued ? "queued" : ""}>
              <td>
                <Light light={row.light} /> <Code summary={row} onOpen={onOpen} />
              </td>
              <td>{names.get(row.category) ?? row.category}</td>
              <td>{late(row.due) > 0 ? t("late", { h: late(row.due).toFixed(1) }) : t("dueIn", { h: (-late(row.due)).toFixed(1) })}</td>
              <td>{row.level ? t(`levelName.${row.level}`) : ""}</td>
              <td>
                <FlagButton id={row.id} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** 督办 from a list: a note, then the flag. */
function FlagButton({ id }) {
  const [open, setOpen] = useState(false);
  const [outcome, setOutcome] = useState(null);
  async function submit(event) {
    event.preventDefault();
    const note = String(new FormData(event.currentTarget).get("note") ?? "");
    try {
      await api(`/api/v1/incidents/${id}/actions`, { method: "POST", body: { action: "flag", note } });
      setOutcome({ ok: true });
      setOpen(false);
    } catch (e) {
      setOutcome({ ok: false, message: e.message });
    }
  }
  if (outcome?.ok) return <span class="ok">{t("done")}</span>;
  return open ? (
    <form class="flag-form" onSubmit={submit}>
      <input name="note" required maxLength={2000} placeholder={t("note")} aria-label={t("note")} />
      <button type="submit">{t("action.flag")}</button>
      {outcome && <span class="error">{outcome.message}</span>}
    </form>
  ) : (
    <button type="button" class="flag" onClick={() => setOpen(true)}>
      {t("action.flag")}
    </button>
  );
}

/** Each action's form: the fields it asks for before it is sent. */
const FORMS = {
  reject: ["reason"],
  escalate: ["reason"],
  reopen: ["reason"],
  flag: ["note"],
  "verify.fail": ["note"],
  refuse_extension: ["reason"],
  refuse_park: ["reason"],
  dispatch: ["target"],
  redispatch: ["target"],
  request_verification: ["target"],
  merge: ["into", "reason"],
  inform: ["department", "note"],
  rate: ["rating", "comment"],
};

/** The buttons of the case's `allowed_actions`, in the order a desk works them. */
const ORDER = [
  "accept",
  "dispatch",
  "verify",
  "close",
  "reject",
  "escalate",
  "flag",
  "merge",
  "reopen",
  "request_verification",
  "redispatch",
  "grade",
  "inform",
  "rate",
];

function buttonsOf(allowed) {
  const out = [];
  for (const action of [...allowed].sort((a, b) => rank(a) - rank(b))) {
    if (action === "verify") out.push("verify.pass", "verify.fail");
    // The unmasked contact is no step of the loop: it has its own button by the contact.
    else if (action !== "grade" && action !== "read_contact") out.push(action);
  }
  return out;
}

function rank(action) {
  const i = ORDER.indexOf(action);
  return i < 0 ? ORDER.length : i;
}

/**
 * 查看联系方式: the reporter's contact unmasked, asked for with a reason (理由) that the
 * server keeps in the trace with who asked and when.
 */
function ContactReveal({ id }) {
  const [asking, setAsking] = useState(false);
  const [contact, setContact] = useState(null);
  const [error, setError] = useState(null);
  async function ask(event) {
    event.preventDefault();
    const reason = String(new FormData(event.currentTarget).get("reason") ?? "").trim();
    if (!reason) return;
    setError(null);
    try {
      setContact(await api(`/api/v1/incidents/${id}/contact`, { method: "POST", body: { reason } }));
      setAsking(false);
    } catch (e) {
      setError(e.message);
    }
  }
  if (contact) {
    return (
      <p class="contact-whole" role="status">
        {[contact.name, contact.phone, contact.id_number].filter(Boolean).join(" ")}
      </p>
    );
  }
  if (!asking) {
    return (
      <button type="button" class="link read-contact" onClick={() => setAsking(true)}>
        {t("readContact")}
      </button>
    );
  }
  return (
    <form class="read-contact" onSubmit={ask}>
      <label>
        {t("reason")}
        <input name="reason" required maxLength={500} autocomplete="off" />
      </label>
      <button type="submit">{t("readContact")}</button>
      <button type="button" class="link" onClick={() => setAsking(false)}>
        {t("cancel")}
      </button>
      {error && <p class="error">{error}</p>}
    </form>
  );
}

/** One case: details, photos, limits, tasks, history, suggestion and its buttons. */
export function CasePanel({ id, version, names, categories, map, onOpen, onClose }) {
  const [refresh, setRefresh] = useState(0);
  const { data: view, error } = useLive(() => api(`/api/v1/incidents/${id}`), version, [refresh]);
  const [form, setForm] = useState(null); // {action, task?}
  const [outcome, setOutcome] = useState(null);

  async function act(body) {
    setOutcome(null);
    try {
      await api(`/api/v1/incidents/${id}/actions`, { method: "POST", body });
      setForm(null);
      setOutcome({ ok: true });
      setRefresh((n) => n + 1);
    } catch (e) {
      setOutcome({ ok: false, message: e.message });
    }
  }

  function press(action, task) {
    if (FORMS[action]) setForm({ action, task });
    else if (action === "verify.pass") act({ action: "verify", passed: true });
    else act(task ? { action, task } : { action });
  }

  const others = usePresence(id);

  if (!view) {
    return (
      <div class="panel">
        <ErrorLine error={error} />
      </div>
    );
  }
  const allowed = view.allowed_actions ?? [];
  return (
    <div class="panel case" aria-label={view.code}>
      <header>
        <h2>
          <span class="code">{view.code}</span> <Light light={lightOf(view)} /> {t(`status.${view.status}`)}
        </h2>
        <button type="button" class="link" onClick={onClose} aria-label={t("close")}>
          ×
        </button>
      </header>
      {others.length > 0 && (
        <p class="presence" role="status">
          {t("alsoOpen")}: {others.map((p) => `${p.name || p.login} (${tOr("role", p.role)})`).join("、")}
        </p>
      )}
      <div class="actions">
        {buttonsOf(allowed).map((action) => (
          <button type="button" key={action} class={`act act-${action.replace(".", "-")}`} onClick={() => press(action)}>
            {t(`action.${action}`)}
          </button>
        ))}
      </div>
      {form && (
        <ActionForm
          form={form}
          view={view}
          categories={categories}
          map={map}
          onSend={act}
          onCancel={() => setForm(null)}
        />
      )}
      {outcome && !outcome.ok && (
        <p class="error" role="alert">
          {outcome.message}
        </p>
      )}
      <dl class="facts">
        <dt>{t("category")}</dt>
        <dd>{names.get(view.category?.code) ?? view.category?.name}</dd>
        <dt>{t("level")}</dt>
        <dd>{t(`levelName.${view.level}`)}</dd>
        <dt>{t("grid")}</dt>
        <dd>
          {view.grid?.name} <small>{view.grid?.code}</small>
        </dd>
        <dt>{t("description")}</dt>
        <dd>{view.description}</dd>
        {view.contact && (
          <>
            <dt>{t("contact")}</dt>
            <dd>
              {[view.contact.name, view.contact.phone, view.contact.id_number].filter(Boolean).join(" ")}
              {allowed.includes("read_contact") && <ContactReveal id={id} />}
            </dd>
          </>
        )}
        <dt>{t("source")}</dt>
        <dd>{tOr("source", view.source)}</dd>
        <dt>{t("reportedAt")}</dt>
        <dd>{when(view.reported_at ?? view.history?.[0]?.at)}</dd>
      </dl>
      <Photos ids={view.photos ?? []} />
      <Completion view={view} />
      <Suggestion id={id} version={version} open={allowed.includes("dispatch")} />
      {view.limits?.length > 0 && (
        <section>
          <h3>{t("limits")}</h3>
          <ul class="limits">
            {view.limits.map((l) => (
              <li key={`${l.step}:${l.task ?? ""}`}>
                <Light light={l.light} /> {tOr("step", l.step)} · {t("due")} {when(l.due_at)}
              </li>
            ))}
          </ul>
        </section>
      )}
      {view.tasks?.length > 0 && (
        <section>
          <h3>{t("tasks")}</h3>
          <ul class="tasks">
            {view.tasks.map((task) => (
              <li key={task.id}>
                {tOr("task", task.kind)} · {tOr("taskStatus", task.status)}{" "}
                {task.deadline ? `· ${t("due")} ${when(task.deadline)}` : ""}
                {task.extension_requested && (
                  <div class="request">
                    {t("event.extension_requested")}: {task.extension_requested.reason} → {when(task.extension_requested.until)}
                  </div>
                )}
                {task.park_requested && (
                  <div class="request">
                    {t("event.park_requested")}: {task.park_requested.reason}
                  </div>
                )}
                <div class="actions">
                  {(task.allowed_actions ?? [])
                    .filter((a) => FORMS[a] !== undefined || a.includes("_"))
                    .map((action) => (
                      <button type="button" key={action} onClick={() => press(action, task.id)}>
                        {t(`action.${action}`)}
                      </button>
                    ))}
                </div>
              </li>
            ))}
          </ul>
        </section>
      )}
      <section>
        <h3>{t("history")}</h3>
        <ol class="history">
          {(view.history ?? []).map((e) => (
            <li key={e.n}>
              <time>{when(e.at)}</time> <b>{tOr("event", e.action)}</b> <small>{tOr("role", e.actor?.role)}</small>
              {e.data?.result && <span> — {e.data.result}</span>}
              {e.data?.distance_m != null && <span class="distance"> {t("metresAway", { m: Math.round(e.data.distance_m) })}</span>}
              {e.data?.reason && <span> — {e.data.reason}</span>}
              {e.data?.note && <span> — {e.data.note}</span>}
            </li>
          ))}
        </ol>
      </section>
    </div>
  );
}

function lightOf(view) {
  const lights = (view.limits ?? []).map((l) => l.light);
  return lights.includes("red") ? "red" : lights.includes("yellow") ? "yellow" : "green";
}

function Photos({ ids }) {
  const [urls, setUrls] = useState([]);
  useEffect(() => {
    let gone = false;
    Promise.all(ids.map((id) => attachmentUrl(id).catch(() => null))).then((list) => !gone && setUrls(list));
    return () => {
      gone = true;
    };
  }, [ids.join(",")]);
  if (ids.length === 0) return null;
  return (
    <section>
      <h3>{t("photos")}</h3>
      <div class="photos">{urls.map((u, i) => (u ? <img key={i} src={u} alt={`${t("photos")} ${i + 1}`} /> : null))}</div>
    </section>
  );
}

function Suggestion({ id, version, open }) {
  const { data } = useLive(() => (open ? api(`/api/v1/incidents/${id}/suggestion`) : Promise.resolve(null)), version, [open]);
  if (!data) return null;
  return (
    <p class="suggestion">
      {t("suggested")}: {describeTarget(data.target)} <small>({data.rule})</small>
    </p>
  );
}

function describeTarget(target) {
  if (!target) return "";
  const [kind, code] = Object.entries(target)[0] ?? [];
  return `${t(kind === "department" ? "department" : kind === "grid" ? "grid" : "target")} ${code ?? ""}`;
}

/** The fields an action asks for, then the request. */
function ActionForm({ form, view, categories, map, onSend, onCancel }) {
  const fields = FORMS[form.action];
  const [target, setTarget] = useState(null);
  const [picking, setPicking] = useState(false);
  const [suggestion, setSuggestion] = useState(null);
  useEffect(() => {
    if (fields.includes("target")) {
      api(`/api/v1/incidents/${view.id}/suggestion`).then(setSuggestion).catch(() => {});
    }
    return () => map.current?.cancelPick();
  }, []);

  async function pick() {
    setPicking(true);
    try {
      const located = await map.current.pickGrid(view.location);
      setTarget({ grid: located.grid.code, label: `${located.grid.name} ${located.grid.code}` });
    } catch {
      // cancelled
    } finally {
      setPicking(false);
    }
  }

  function submit(event) {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    const action = form.action === "verify.fail" ? "verify" : form.action;
    const body = { action };
    if (form.action === "verify.fail") body.passed = false;
    if (form.task) body.task = form.task;
    if (form.action === "redispatch") body.task = view.tasks?.find((t) => ["open", "accepted"].includes(t.status))?.id;
    for (const field of fields) {
      if (field === "target") {
        const chosen = target ?? (data.get("department") ? { department: data.get("department") } : null);
        if (!chosen) return;
        const { label, ...to } = chosen;
        body.to = to;
      } else if (field === "department") {
        body.units = [String(data.get("department"))];
      } else if (field === "rating") {
        body.rating = String(data.get("rating") ?? "");
        if (!body.rating) return;
      } else if (field === "into") {
        body.into = String(data.get("into-id") || data.get("into") || "");
      } else {
        body[field] = String(data.get(field) ?? "");
      }
    }
    onSend(body);
  }

  const departments = categories?.departments ?? [];
  return (
    <form class="action-form" onSubmit={submit}>
      {fields.includes("target") && (
        <fieldset>
          <legend>{t("target")}</legend>
          <ul class="candidates">
            {(suggestion?.candidates ?? []).map((c, i) => (
              <li key={JSON.stringify(c.target)}>
                <button type="button" class={i === 0 ? "suggested" : ""} onClick={() => setTarget({ ...c.target, label: c.name })}>
                  {i === 0 ? `${t("suggested")}: ` : ""}
                  {c.name}
                </button>
                <span class="load" title={t("loadHint")}>
                  {t("openWork", { n: c.open })}
                  {c.yellow > 0 && <span class="light-text yellow"> · {t("yellowN", { n: c.yellow })}</span>}
                  {c.red > 0 && <span class="light-text red"> · {t("redN", { n: c.red })}</span>}
                </span>
              </li>
            ))}
          </ul>
          <button type="button" onClick={pick} disabled={picking}>
            {picking ? t("picking") : t("pickOnMap")}
          </button>
          <UnitPicker onPick={(unit) => setTarget(unit && { unit: unit.code, label: unit.name })} />
          <label>
            {t("department")}
            <select name="department" onChange={() => setTarget(null)}>
              <option value="" />
              {departments.map((d) => (
                <option key={d.code} value={d.code}>
                  {d.name}
                </option>
              ))}
            </select>
          </label>
          {target && <p class="chosen">→ {target.label}</p>}
        </fieldset>
      )}
      {fields.includes("department") && (
        <label>
          {t("department")}
          <select name="department" required>
            {departments.map((d) => (
              <option key={d.code} value={d.code}>
                {d.name}
              </option>
            ))}
          </select>
        </label>
      )}
      {fields.includes("into") && <MergeChoice view={view} />}
      {fields.includes("rating") && (
        <fieldset class="rating">
          <legend>{t("callerRating")}</legend>
          {["satisfied", "basic", "unsatisfied"].map((r) => (
            <label key={r}>
              <input type="radio" name="rating" value={r} required /> {t(`rating.${r}`)}
            </label>
          ))}
        </fieldset>
      )}
      {fields.includes("comment") && (
        <label>
          {t("callerSaid")}
          <textarea name="comment" maxLength={500} />
        </label>
      )}
      {fields.includes("reason") && (
        <label>
          {t("reason")}
          <textarea name="reason" required maxLength={2000} />
        </label>
      )}
      {fields.includes("note") && (
        <label>
          {t("note")}
          <textarea name="note" required maxLength={2000} />
        </label>
      )}
      <div class="actions">
        <button type="submit">{t("submit")}</button>
        <button type="button" class="link" onClick={onCancel}>
          {t("cancel")}
        </button>
      </div>
    </form>
  );
}

/** One grid: its workers, who is on duty now, the roster, its open cases. */
export function GridPanel({ located, version, names, onOpen, onClose }) {
  const code = located.grid.code;
  const { data: roster, error } = useLive(() => api(`/api/v1/grids/${code}/roster`), version, [code]);
  const { data: cases } = useLive(
    () => api(`/api/v1/incidents?area=${code}&status=reported,confirming,registered,returned,dispatched,handled,verified&limit=100`),
    version,
    [code],
  );
  return (
    <div class="panel grid" aria-label={located.grid.name}>
      <header>
        <h2>
          {t("grid")} {located.grid.name} <small>{code}</small>
        </h2>
        <button type="button" class="link" onClick={onClose} aria-label={t("close")}>
          ×
        </button>
      </header>
      <p class="chain">{located.chain.map((l) => l.name).join(" › ")}</p>
      <ErrorLine error={error instanceof Problem && error.status === 403 ? null : error} />
      {roster && <Roster code={code} roster={roster} />}
      <section>
        <h3>
          {t("openCases")} ({cases?.total ?? 0})
        </h3>
        <ul class="cases">
          {cases?.items.map((c) => (
            <li key={c.id}>
              <Code summary={c} onOpen={onOpen} /> {t(`status.${c.status}`)} · {names.get(c.category?.code) ?? c.category?.name}
            </li>
          ))}
        </ul>
      </section>
    </div>
  );
}

function Roster({ code, roster }) {
  const [shifts, setShifts] = useState(roster.shifts ?? []);
  const [saved, setSaved] = useState(null);
  useEffect(() => setShifts(roster.shifts ?? []), [roster]);
  const workers = roster.workers ?? [];
  async function save() {
    setSaved(null);
    try {
      await api(`/api/v1/grids/${code}/roster`, {
        method: "PUT",
        body: { shifts: shifts.map(({ login, days, from, to }) => ({ login, days, from, to })) },
      });
      setSaved({ ok: true });
    } catch (e) {
      setSaved({ ok: false, message: e.message });
    }
  }
  const change = (i, field) => (event) =>
    setShifts(shifts.map((s, j) => (j === i ? { ...s, [field]: event.currentTarget.value } : s)));
  return (
    <section class="roster">
      <h3>{t("workers")}</h3>
      <ul>
        {workers.map((w) => (
          <li key={w.login ?? w.id}>
            {w.name ?? w.login} {w.on_duty ? <b class="duty">{t("onDuty")}</b> : null}
          </li>
        ))}
      </ul>
      <h3>{t("roster")}</h3>
      <table>
        <tbody>
          {shifts.map((s, i) => (
            <tr key={i}>
              <td>
                <select value={s.login} onChange={change(i, "login")} aria-label={t("account")} disabled={!roster.editable}>
                  <option value="" />
                  {workers.map((w) => (
                    <option key={w.login} value={w.login}>
                      {w.name || w.login}
                    </option>
                  ))}
                </select>
              </td>
              <td>
                <input value={s.days} onInput={change(i, "days")} size={7} aria-label="days" disabled={!roster.editable} />
              </td>
              <td>
                <input value={s.from} onInput={change(i, "from")} size={5} aria-label="from" disabled={!roster.editable} />
              </td>
              <td>
                <input value={s.to} onInput={change(i, "to")} size={5} aria-label="to" disabled={!roster.editable} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="actions" hidden={!roster.editable}>
        <button type="button" onClick={() => setShifts([...shifts, { login: "", days: "mon-fri", from: "08:30", to: "17:30" }])}>
          {t("addShift")}
        </button>
        <button type="button" onClick={save}>
          {t("saveRoster")}
        </button>
      </div>
      {saved && !saved.ok && (
        <p class="error" role="alert">
          {saved.message}
        </p>
      )}
      {saved?.ok && <p class="ok">{t("done")}</p>}
    </section>
  );
}

/** The duplicates the server suggests for a case, each beside the case itself (并单). */
function MergeChoice({ view }) {
  const [pairs, setPairs] = useState(null);
  useEffect(() => {
    api("/api/v1/inbox?kinds=merge_suggestion&limit=500")
      .then((inbox) =>
        setPairs(
          inbox.items
            .filter((i) => i.incident.id === view.id || i.duplicate_of?.id === view.id)
            .map((i) => ({ other: i.incident.id === view.id ? i.duplicate_of : i.incident, metres: i.distance_m })),
        ),
      )
      .catch(() => setPairs([]));
  }, [view.id]);
  const card = (c, metres) => (
    <div class="merge-card">
      <b class="code">{c.code}</b>
      <span>{c.category?.name}</span>
      <span>{c.description}</span>
      <small>
        {when(c.reported_at)}
        {metres != null ? ` · ${Math.round(metres)} m` : ""}
      </small>
    </div>
  );
  return (
    <fieldset class="merge">
      <legend>{t("mergeInto")}</legend>
      {pairs?.length === 0 && <p class="empty">{t("noDuplicates")}</p>}
      {pairs?.map(({ other, metres }) => (
        <label key={other.id} class="merge-pair">
          <input type="radio" name="into" value={other.id} />
          {card(view)}
          <span class="arrow">→</span>
          {card(other, metres)}
        </label>
      ))}
      <label>
        {t("orCaseId")}
        <input name="into-id" placeholder="id" />
      </label>
    </fieldset>
  );
}

/** Says this desk has case `id` open while the panel shows it; who else has it open. */
function usePresence(id) {
  const [others, setOthers] = useState([]);
  useEffect(() => {
    const path = `/api/v1/incidents/${id}/presence`;
    const beat = () =>
      api(path, { method: "PUT" })
        .then((answer) => setOthers(answer.others ?? []))
        .catch(() => {});
    beat();
    const timer = setInterval(beat, 10_000);
    return () => {
      clearInterval(timer);
      api(path, { method: "DELETE" }).catch(() => {});
    };
  }, [id]);
  return others;
}

/** For a case waiting to be checked: what the worker sent, from where, with their photos. */
function Completion({ view }) {
  const done = [...(view.history ?? [])].reverse().find((e) => e.action === "task_completed");
  if (!done || !["handled", "verified"].includes(view.status)) return null;
  return (
    <section class="completion">
      <h3>{t("completion")}</h3>
      <p>
        {done.data?.result}
        {done.data?.distance_m != null ? (
          <span class="distance"> · {t("sentFrom", { m: Math.round(done.data.distance_m) })}</span>
        ) : (
          <span class="distance"> · {t("noPosition")}</span>
        )}
      </p>
      <Photos ids={done.data?.photos ?? []} />
    </section>
  );
}

/** Picks a unit of the caller's area as a dispatch target: one below the area, then
 *  optionally one below that (a township, then one of its communities). */
function UnitPicker({ onPick }) {
  const [levels, setLevels] = useState([]); // [{options, chosen}]
  useEffect(() => {
    api("/api/v1/me")
      .then((me) => api(`/api/v1/map?area=${(me.user ?? me).unit?.code ?? ""}`))
      .then((info) => setLevels([{ options: info.children ?? [], chosen: null }]))
      .catch(() => setLevels([]));
  }, []);
  async function choose(depth, code) {
    const options = levels[depth].options;
    const unit = options.find((u) => u.code === code) ?? null;
    const kept = levels.slice(0, depth + 1).map((l, i) => (i === depth ? { ...l, chosen: unit } : l));
    onPick(unit ?? kept[depth - 1]?.chosen ?? null);
    if (unit && unit.level < 4 && depth === 0) {
      const info = await api(`/api/v1/map?area=${unit.code}`).catch(() => null);
      if (info?.children?.length) kept.push({ options: info.children, chosen: null });
    }
    setLevels(kept);
  }
  if (levels.length === 0 || levels[0].options.length === 0) return null;
  return (
    <>
      {levels.map((level, depth) => (
        <label key={depth}>
          {t(`levelName.${level.options[0]?.level}`)}
          <select onChange={(event) => choose(depth, event.currentTarget.value)} value={level.chosen?.code ?? ""}>
            <option value="" />
            {level.options.map((u) => (
              <option key={u.code} value={u.code}>
                {u.name}
              </option>
            ))}
          </select>
        </label>
      ))}
    </>
  );
}
