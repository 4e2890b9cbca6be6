// The grid worker's app (/m/): one inbox of every task, each task with its place, photos,
// history and the buttons its state allows, patrol findings, and the worker's position
// while on duty. Everything the worker does goes into the outbox first (state.js) and is
// sent by the socket's owner (sync.js), so the app works the same with or without a
// network; what the server refuses comes back with its reason.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "./worker.css";
import "../shared/case-words.js";
import { Problem } from "../shared/api.js";
import { leaves } from "../phone/categories.js";
import { call, login } from "./net.js";
import { dismiss, forget, load, loadSession, meta, saveSession, setMeta } from "./state.js";
import { Sync } from "./sync.js";
import { Inbox } from "./inbox.jsx";
import { prefetch, TaskPage } from "./task.jsx";
import { Patrol } from "./patrol.jsx";
import { Me, startDuty, registerPush } from "./me.jsx";

/** The app's one socket owner (or follower), made at login. */
let sync = null;

/** The route in the address's hash: `#/`, `#/task/<id>`, `#/patrol`, `#/me`. */
function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  return { name: parts[0] || "inbox", id: parts[1] ? decodeURIComponent(parts[1]) : null };
}

function App() {
  const [session, setSession] = useState(undefined);
  useEffect(() => {
    loadSession().then(setSession);
  }, []);
  if (session === undefined) return null;
  if (!session) return <Login done={setSession} />;
  return <Shell session={session} loggedOut={() => setSession(null)} />;
}

function Login({ done }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function submit(event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      done(await login(String(form.get("login")).trim(), String(form.get("password"))));
    } catch (e) {
      if (e instanceof Problem && e.status === 401) setError("账号或密码不对");
      else if (e instanceof Problem && e.status === 429) setError("尝试太多次，请稍后再试");
      else if (e instanceof Problem) setError(e.message);
      else setError("连不上服务器，请检查网络");
    } finally {
      setBusy(false);
    }
  }
  return (
    <main class="login">
      <h1>网格员</h1>
      <p class="muted">gridlink 网格化治理</p>
      <form onSubmit={submit}>
        <label>
          账号
          <input name="login" autocomplete="username" required autocapitalize="off" />
        </label>
        <label>
          密码
          <input name="password" type="password" autocomplete="current-password" required />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <button class="primary big" disabled={busy}>
          登录
        </button>
      </form>
    </main>
  );
}

/** What the screens read: the stored state, with the categories by code. */
function useStored(tick) {
  const [state, setState] = useState(null);
  useEffect(() => {
    let live = true;
    Promise.all([load(), meta("categories")]).then(([stored, tree]) => {
      if (!live) return;
      const categories = Object.fromEntries(leaves(tree).map((c) => [c.code, c]));
      setState({ ...stored, tree, categories });
    });
    return () => {
      live = false;
    };
  }, [tick]);
  return state;
}

function Shell({ session, loggedOut }) {
  const [tick, setTick] = useState(0);
  const [status, setStatus] = useState("connecting");
  const [where, setWhere] = useState(route);
  const [online, setOnline] = useState(navigator.onLine);
  const stored = useStored(tick);
  useEffect(() => {
    // What arrived is read in full while there is a network, for reading offline later.
    if (stored && navigator.onLine) prefetch(stored.tasks.filter((x) => x.kind_of_item === "task")).catch(() => {});
  }, [stored?.tasks.length]);
  useEffect(() => {
    const changed = () => setTick((n) => n + 1);
    sync = new Sync({ changed, status: setStatus });
    sync.start();
    const moved = () => setWhere(route());
    const net = () => setOnline(navigator.onLine);
    window.addEventListener("hashchange", moved);
    window.addEventListener("online", net);
    window.addEventListener("offline", net);
    // A notification clicked while this window was open asks it to show a task.
    const told = (event) => event.data?.type === "open" && (location.hash = event.data.hash);
    navigator.serviceWorker?.addEventListener("message", told);
    // What is needed offline later is fetched while online now.
    call("/api/v1/categories")
      .then((tree) => setMeta("categories", tree))
      .then(changed)
      .catch(() => {});
    navigator.storage?.persist?.().catch(() => {});
    registerPush(session).catch(() => {});
    startDuty(() => sync);
    return () => {
      sync.stop();
      window.removeEventListener("hashchange", moved);
      window.removeEventListener("online", net);
      window.removeEventListener("offline", net);
      navigator.serviceWorker?.removeEventListener("message", told);
    };
  }, []);
  useEffect(() => {
    if (status === "logged-out") {
      // The session could not be renewed: what is queued stays stored for the next login.
      saveSession(null).then(loggedOut);
    }
  }, [status]);
  if (!stored) return null;
  const waiting = stored.outbox.length;
  const shown = { connecting: "连接中", live: "在线", offline: "离线", replaced: "已在别处打开", follower: "在线" };
  const pill = !online ? "离线" : shown[status] ?? status;
  async function logout() {
    if (waiting > 0 && !confirm(`还有 ${waiting} 个操作没有发出，退出会丢掉它们。仍要退出吗？`)) return;
    sync.stop();
    const s = await loadSession();
    await fetch("/api/v1/auth/logout", { method: "POST", headers: { Authorization: `Bearer ${s?.token}` } }).catch(() => {});
    await forget();
    loggedOut();
  }
  let screen;
  if (where.name === "task" && where.id) screen = <TaskPage id={where.id} stored={stored} sync={sync} />;
  else if (where.name === "patrol") screen = <Patrol stored={stored} sync={sync} user={session.user} />;
  else if (where.name === "me") screen = <Me session={session} sync={sync} logout={logout} />;
  else screen = <Inbox stored={stored} />;
  return (
    <div class="shell">
      <header class="bar">
        <span class="who">{session.user?.unit?.name ?? "网格员"}</span>
        <span class={`pill ${!online || status === "offline" ? "off" : status === "live" || status === "follower" ? "on" : ""}`}>
          {pill}
        </span>
        {waiting > 0 && <span class="pill wait">{`${waiting} 个待发送`}</span>}
      </header>
      {stored.refused.length > 0 && (
        <section class="refused" role="alert">
          {stored.refused.map((r) => (
            <div key={r.id} class="refusal">
              <p>
                <b>{`未被接受：${r.label}${r.code ? `（${r.code}）` : ""}`}</b>
                <br />
                {refusalText(r)}
              </p>
              <button
                type="button"
                onClick={async () => {
                  await dismiss(r.id);
                  setTick((n) => n + 1);
                }}
              >
                知道了
              </button>
            </div>
          ))}
        </section>
      )}
      <main class="screen">{screen}</main>
      <nav class="tabs">
        <a href="#/" class={where.name === "inbox" || where.name === "task" ? "on" : ""}>
          任务
        </a>
        <a href="#/patrol" class={where.name === "patrol" ? "on" : ""}>
          巡查上报
        </a>
        <a href="#/me" class={where.name === "me" ? "on" : ""}>
          我的
        </a>
      </nav>
    </div>
  );
}

/** Why the server refused an action, in words a worker reads. */
function refusalText(r) {
  const reasons = {
    "not-your-task": "这个任务已交给别人办理。",
    "not-found": "任务已不在你这里（可能已改派或撤销）。",
    "illegal-transition": "案件状态已变化，这一步不能再做。",
    "task-not-active": "任务已结束或已改派。",
    forbidden: "你无权做这一步。",
    "not-self-handled": "这个类别不能自行处置，或缺少处置前后的照片、处置结果；请按普通巡查上报。",
    "outside-service-area": "这个位置不在服务范围内。",
    "invalid-coordinates": "位置不正确。",
    "unknown-category": "这个问题类别已停用。",
    "duplicate-id": "这条上报服务器已经收到过。",
  };
  // The server's own words (English, for staff and logs) only where no reason is known here.
  return reasons[r.reason] ?? `服务器拒绝了这个操作${r.detail ? `：${r.detail}` : "。"}`;
}

render(<App />, document.getElementById("app"));

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/m/sw.js", { scope: "/m/" }).catch(() => {});
}
