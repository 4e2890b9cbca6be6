// The command centre (指挥中心): one screen for the caller's whole area — the map with
// live cases, the queue, and the panel of the case or grid in hand.
import { render } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import "./centre.css";
import "./words.js";
import { api, login, logout, Problem, session } from "../shared/api.js";
import { lang, setLang, t } from "../shared/i18n.js";
import { Live } from "../shared/live.js";
import { useSignal } from "../shared/signal.js";
import { CentreMap } from "./map.js";
import { CasePanel, GridPanel, Queue, Supervision } from "./panels.jsx";
import { StatsScreen } from "./stats.jsx";
import { HotlineDesk } from "./hotline.jsx";
import { UsersScreen } from "./users.jsx";
import { tOr } from "./tor.js";

/** Roles that work at a centre's desk (the others have the phone app or nothing). */
const DESK_ROLES = [
  "administrator",
  "city_centre",
  "county_centre",
  "township_centre",
  "community_staff",
  "department_staff",
  "hotline_operator",
];

function App() {
  useSignal(lang);
  const [user, setUser] = useState(() => session()?.user ?? null);
  useEffect(() => {
    const changed = (event) => setUser(event.detail?.user ?? null);
    window.addEventListener("gridlink:session", changed);
    // The stored session may have ended while the page was closed.
    if (session()) api("/api/v1/me").then((me) => setUser(me.user ?? me)).catch(() => {});
    return () => window.removeEventListener("gridlink:session", changed);
  }, []);
  const refused = user && !DESK_ROLES.includes(user.role);
  useEffect(() => {
    // A grid worker's account belongs in the worker app, not at a desk.
    if (refused) logout();
  }, [refused]);
  return user && !refused ? <Centre user={user} /> : <Login refused={refused} />;
}

function Login({ refused }) {
  const [error, setError] = useState(null);
  useEffect(() => {
    if (refused) setError(t("notStaff"));
  }, [refused]);
  const [busy, setBusy] = useState(false);
  async function submit(event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      await login(String(form.get("login")), String(form.get("password")));
    } catch (e) {
      setError(e instanceof Problem && e.status === 429 ? t("tooMany") : e.status === 401 ? t("loginFailed") : e.message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <main class="login">
      <form onSubmit={submit} aria-label={t("login")}>
        <h1>gridlink · {t("title")}</h1>
        <label>
          {t("account")}
          <input name="login" autocomplete="username" required autofocus />
        </label>
        <label>
          {t("password")}
          <input name="password" type="password" autocomplete="current-password" required />
        </label>
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" disabled={busy}>
          {t("login")}
        </button>
        <LangSwitch />
      </form>
    </main>
  );
}

function LangSwitch() {
  const current = useSignal(lang);
  return (
    <button type="button" class="link lang" onClick={() => setLang(current === "zh" ? "en" : "zh")}>
      {current === "zh" ? "English" : "中文"}
    </button>
  );
}

/** The socket's device id for this tab: a tab keeps its own across reloads. */
function tabDevice() {
  let id = sessionStorage.getItem("gridlink.tab");
  if (!id) {
    id = crypto.randomUUID().slice(0, 8);
    sessionStorage.setItem("gridlink.tab", id);
  }
  return `${session()?.device_id ?? "desk"}.${id}`;
}

/** Is `iso` on the same local day as now? */
function today(iso) {
  const d = new Date(iso);
  const now = new Date();
  return d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
}

const ENDED = ["closed", "rejected", "merged"];

/** Calls `f` once, `ms` after the last of a burst of calls. */
function debounced(f, ms) {
  let timer = null;
  const call = () => {
    clearTimeout(timer);
    timer = setTimeout(f, ms);
  };
  call.cancel = () => clearTimeout(timer);
  return call;
}

function Centre({ user }) {
  const [info, setInfo] = useState(null);
  // The view's cases one by one (when the server lists them), kept live by the socket.
  const [cases, setCases] = useState(() => new Map());
  // The server's last answer for the view: its groups and the area's figures of the day.
  const [view, setView] = useState(null);
  const [status, setStatus] = useState("connecting");
  // {kind: "case", id} or {kind: "grid", located}; a case is also in the address
  // (`#/case/<id>`), so that a link to it can be shared and a reload keeps it open.
  const [selected, setSelected] = useState(() => caseInAddress());
  const [tab, setTab] = useState("queue");
  // The desk's work (调度), the figures (统计) or, for an administrator, the accounts
  // (账号管理); the figures and the accounts have their own addresses.
  const admin = user.role === "administrator";
  const [screen, setScreen] = useState(() =>
    location.hash === "#/stats" ? "stats" : location.hash === "#/users" && admin ? "users" : "work",
  );
  const [version, setVersion] = useState(0); // bumps on every change: panels re-read
  const [categories, setCategories] = useState(null);
  const mapElement = useRef(null);
  const map = useRef(null);
  const area = user.unit?.code;

  useEffect(() => {
    api(`/api/v1/map${area ? `?area=${area}` : ""}`).then(setInfo).catch(() => api("/api/v1/map").then(setInfo));
    api("/api/v1/categories").then(setCategories).catch(() => {});
  }, [area]);

  useEffect(() => {
    if (!info || !mapElement.current) return undefined;
    const centre = new CentreMap(mapElement.current, {
      info,
      area: info.area.code,
      onCase: (id) => setSelected({ kind: "case", id }),
      onGrid: (located) => setSelected({ kind: "grid", located }),
    });
    map.current = centre;
    window.gridlinkMap = centre; // for the browser tests and the curious

    // What the view shows comes from the server, counted there when many cases lie in
    // it; the socket then carries each change, from the position that answer was read at.
    let stopped = false;
    let shown = new Map();
    let live = null;
    const load = async () => {
      const query = new URLSearchParams({
        zoom: String(Math.round(centre.map.getZoom())),
        bbox: centre.bbox(),
        limit: String(centre.limit),
      });
      if (area) query.set("area", area);
      const answer = await api(`/api/v1/map/cases?${query}`);
      if (stopped) return;
      shown = new Map(answer.cases.map((c) => [c.id, c]));
      setView(answer);
      setCases(shown);
      centre.setView(answer.grouped_by ? answer.groups : null, shown);
      if (!live) {
        live = new Live(tabDevice(), {
          reset: () => reload(),
          items(items, { snapshot }) {
            // A snapshot (the log moved past what the page holds) is read again as a view.
            if (snapshot) return reload();
            let touched = false;
            shown = new Map(shown);
            for (const item of items) {
              if (item.kind !== "incident") continue;
              touched = true;
              const ended = ENDED.includes(item.data?.status);
              if (item.removed || (ended && !today(item.data.updated_at))) shown.delete(item.id);
              else if (!centre.grouped() || shown.has(item.id)) shown.set(item.id, item.data);
            }
            if (touched) {
              setCases(shown);
              centre.setView(centre.grouped() ? centre.groups : null, shown);
              reload();
            }
            setVersion((v) => v + 1);
          },
          status: setStatus,
        });
        live.cursor = answer.cursor;
        live.start();
      }
    };
    const reload = debounced(() => load().catch(() => {}), 400);
    centre.onView = debounced(() => load().catch(() => {}), 250);
    const first = () => load().catch(() => !stopped && setTimeout(first, 3000));
    first();
    return () => {
      stopped = true;
      reload.cancel();
      live?.stop();
      centre.destroy();
    };
  }, [info]);

  // The statistics screen is laid out wider on the left: the map's box changed size.
  useEffect(() => map.current?.map.invalidateSize(), [screen]);

  // Workers' positions are not in the change log: they are read every 15 s.
  useEffect(() => {
    if (!info) return undefined;
    const load = () =>
      api("/api/v1/workers/positions")
        .then((answer) => map.current?.setWorkers(answer.workers))
        .catch(() => {});
    load();
    const timer = setInterval(load, 15_000);
    return () => clearInterval(timer);
  }, [info]);
  useEffect(() => {
    if (selected?.kind === "case") map.current?.focusCase(cases.get(selected.id) ?? { id: selected.id });
  }, [selected]);

  const counts = view?.today.counts;
  const figures = {
    open: view?.today.open,
    newToday: view?.today.reported,
    endedToday: counts?.ended_today,
    yellow: counts?.yellow,
    red: counts?.red,
  };

  const names = useMemo(() => categoryNames(categories), [categories]);
  const openCase = (id) => setSelected({ kind: "case", id });
  useEffect(() => {
    const follow = () => setSelected((now) => caseInAddress() ?? (now?.kind === "grid" ? now : null));
    window.addEventListener("hashchange", follow);
    return () => window.removeEventListener("hashchange", follow);
  }, []);
  useEffect(() => {
    const want =
      screen === "stats" ? "#/stats" : screen === "users" ? "#/users" : selected?.kind === "case" ? `#/case/${selected.id}` : "";
    if (location.hash !== want) history.replaceState(null, "", want || location.pathname);
  }, [selected, screen]);

  return (
    <div class={`centre ${screen}`}>
      <header>
        <h1>
          gridlink · {t("title")} <span class="area">{info?.area.name ?? user.unit?.name}</span>
        </h1>
        <dl class="figures" aria-label={t("today")}>
          <Figure name={t("open")} value={figures.open} />
          <Figure name={t("newToday")} value={figures.newToday} />
          <Figure name={t("endedToday")} value={figures.endedToday} />
          <Figure name={t("yellowCount")} value={figures.yellow} tone="yellow" />
          <Figure name={t("redCount")} value={figures.red} tone="red" />
        </dl>
        <nav class="views" role="tablist">
          <button role="tab" aria-selected={screen === "work"} onClick={() => setScreen("work")}>
            {t("viewWork")}
          </button>
          <button role="tab" aria-selected={screen === "stats"} onClick={() => setScreen("stats")}>
            {t("viewStats")}
          </button>
          {admin && (
            <button role="tab" aria-selected={screen === "users"} onClick={() => setScreen("users")}>
              {t("viewUsers")}
            </button>
          )}
        </nav>
        <span class={`live live-${status}`} data-status={status}>
          {t(status)}
        </span>
        <span class="who">
          {user.unit?.name} · {tOr("role", user.role)}
        </span>
        <LangSwitch />
        <button type="button" class="link" onClick={() => logout()}>
          {t("logout")}
        </button>
      </header>
      <section class="map" ref={mapElement} aria-label="map" />
      {screen === "users" ? (
        <UsersScreen me={user} />
      ) : screen === "stats" ? (
        <StatsScreen map={map} categories={categories} version={version} />
      ) : (
        <>
          <aside class="left">
            <nav class="tabs" role="tablist">
              <button role="tab" aria-selected={tab === "queue"} onClick={() => setTab("queue")}>
                {t("queue")}
              </button>
              <button role="tab" aria-selected={tab === "supervision"} onClick={() => setTab("supervision")}>
                {t("supervision")}
              </button>
            </nav>
            {tab === "queue" && user.role === "hotline_operator" ? (
              <HotlineDesk categories={categories} map={map} onOpen={openCase} />
            ) : tab === "queue" ? (
              <Queue version={version} names={names} onOpen={openCase} />
            ) : (
              <Supervision version={version} names={names} onOpen={openCase} />
            )}
          </aside>
          <aside class="right">
            {!selected && <Overview />}
            {selected?.kind === "case" && (
              <CasePanel
                key={selected.id}
                id={selected.id}
                version={version}
                names={names}
                categories={categories}
                map={map}
                onOpen={openCase}
                onClose={() => setSelected(null)}
              />
            )}
            {selected?.kind === "grid" && (
              <GridPanel
                key={selected.located.grid.code}
                located={selected.located}
                version={version}
                names={names}
                user={user}
                onOpen={openCase}
                onClose={() => {
                  map.current?.selectGrid(null);
                  setSelected(null);
                }}
              />
            )}
          </aside>
        </>
      )}
    </div>
  );
}

/** What the right side shows before anything is picked: how to read the map. */
function Overview() {
  const entries = [
    ["legendNew", "#1e88e5"],
    ["legendOpen", "#43a047"],
    ["legendYellow", "#f9a825"],
    ["legendRed", "#e53935"],
    ["legendClosed", "#9e9e9e"],
  ];
  const worker = <span class="gl-worker legend-worker"><span /></span>;
  return (
    <div class="panel overview">
      <h3>{t("legend")}</h3>
      <ul class="legend">
        {entries.map(([key, colour]) => (
          <li key={key}>
            <span class="dot" style={{ background: colour }} /> {t(key)}
          </li>
        ))}
        <li>
          {worker} {t("legendWorker")}
        </li>
      </ul>
      <p class="hint">{t("hint")}</p>
    </div>
  );
}

function Figure({ name, value, tone }) {
  return (
    <div class={`figure ${tone ?? ""}`}>
      <dt>{name}</dt>
      <dd>{value ?? "–"}</dd>
    </div>
  );
}

/** The case the address names (`#/case/<id>`), if any. */
function caseInAddress() {
  const found = location.hash.match(/^#\/case\/([\w-]+)$/);
  return found ? { kind: "case", id: found[1] } : null;
}

/** Category code → name, from `/api/v1/categories`. */
function categoryNames(categories) {
  const names = new Map();
  const walk = (node) => {
    if (node.code) names.set(node.code, node.name);
    for (const child of node.classes ?? node.children ?? []) walk(child);
  };
  for (const domain of categories?.domains ?? []) walk(domain);
  for (const d of categories?.departments ?? []) names.set(d.code, d.name);
  return names;
}

render(<App />, document.getElementById("app"));
