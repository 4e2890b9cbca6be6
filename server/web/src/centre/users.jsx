// The administrator's accounts (账号管理, `#/users`): every account with its open sessions
// and devices, filtered; an account disabled or enabled, its password reset, one of its
// devices cut off (a lost phone). The server ends the sessions and closes their sockets.
import { useEffect, useState } from "preact/hooks";
import { api } from "../shared/api.js";
import { t, words } from "../shared/i18n.js";
import { tOr } from "./tor.js";

words({
  viewUsers: ["账号管理", "Accounts"],
  usersFilter: ["查找账号、姓名、角色或单位", "Find a login, name, role or unit"],
  usersCount: ["共 {n} 个账号", "{n} accounts"],
  "users.login": ["账号", "Login"],
  "users.name": ["姓名", "Name"],
  "users.role": ["角色", "Role"],
  "users.unit": ["单位", "Unit"],
  "users.state": ["状态", "State"],
  "users.sessions": ["会话 / 设备", "Sessions / devices"],
  "users.active": ["正常", "Active"],
  "users.disabled": ["已停用", "Disabled"],
  "users.demo": ["演示", "demo"],
  "users.disable": ["停用", "Disable"],
  "users.enable": ["启用", "Enable"],
  "users.reset": ["重置密码", "Reset password"],
  "users.devices": ["设备", "Devices"],
  "users.revokeDevice": ["注销设备", "Revoke device"],
  "users.newPassword": ["新密码（至少 10 个字符）", "New password (10 characters or more)"],
  "users.save": ["确定", "Save"],
  "users.cancel": ["取消", "Cancel"],
  "users.noSessions": ["没有打开的会话", "No open session"],
  "users.browser": ["浏览器（未命名设备）", "Browser (no device named)"],
  "users.connected": ["在线", "connected"],
  "users.expires": ["到期", "expires"],
  "users.confirmDisable": ["停用 {login}？其所有会话将立即结束。", "Disable {login}? All their sessions end at once."],
  "users.confirmRevoke": ["注销 {login} 的设备 {device}？", "Revoke {login}'s device {device}?"],
  "users.done": ["{login}：已结束 {sessions} 个会话，关闭 {sockets} 个连接", "{login}: {sessions} session(s) ended, {sockets} socket(s) closed"],
});

export function UsersScreen({ me }) {
  const [query, setQuery] = useState("");
  const [list, setList] = useState(null);
  // Kept apart: a list read that lands after a refused change must not hide its reason.
  const [loadError, setLoadError] = useState(null);
  const [error, setError] = useState(null);
  const [note, setNote] = useState(null);
  const [open, setOpen] = useState(null); // the account whose devices are shown
  const [version, setVersion] = useState(0);

  useEffect(() => {
    const timer = setTimeout(() => {
      api(`/api/v1/users?limit=500${query ? `&q=${encodeURIComponent(query)}` : ""}`)
        .then((answer) => {
          setList(answer);
          setLoadError(null);
        })
        .catch((e) => setLoadError(e.message));
    }, 200);
    return () => clearTimeout(timer);
  }, [query, version]);

  /** Runs a change, says what it ended, and reads the list again. */
  async function change(run, login) {
    setError(null);
    try {
      const answer = await run();
      if (answer?.sessions_revoked !== undefined) {
        setNote(t("users.done", { login, sessions: answer.sessions_revoked, sockets: answer.sockets_closed }));
      }
      setVersion((v) => v + 1);
      return true;
    } catch (e) {
      setError(e.message);
      return false;
    }
  }

  return (
    <section class="users" aria-label={t("viewUsers")}>
      <header>
        <h2>{t("viewUsers")}</h2>
        <input
          type="search"
          name="q"
          placeholder={t("usersFilter")}
          value={query}
          onInput={(event) => setQuery(event.currentTarget.value)}
        />
        {list && <span class="count">{t("usersCount", { n: list.total })}</span>}
      </header>
      {(error || loadError) && (
        <p class="error" role="alert">
          {error ?? loadError}
        </p>
      )}
      {note && (
        <p class="ok" role="status">
          {note}
        </p>
      )}
      <table>
        <thead>
          <tr>
            <th>{t("users.login")}</th>
            <th>{t("users.name")}</th>
            <th>{t("users.role")}</th>
            <th>{t("users.unit")}</th>
            <th>{t("users.state")}</th>
            <th>{t("users.sessions")}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list?.users.map((u) => (
            <UserRow
              key={u.id}
              user={u}
              me={me}
              open={open === u.id}
              version={version}
              onToggle={() => setOpen(open === u.id ? null : u.id)}
              change={change}
            />
          ))}
        </tbody>
      </table>
    </section>
  );
}

function UserRow({ user, me, open, version, onToggle, change }) {
  const [resetting, setResetting] = useState(false);
  const base = `/api/v1/users/${encodeURIComponent(user.id)}`;
  const self = user.id === me.id;
  function disable() {
    if (!confirm(t("users.confirmDisable", { login: user.login }))) return;
    change(() => api(`${base}/disable`, { method: "POST", body: {} }), user.login);
  }
  async function reset(event) {
    event.preventDefault();
    const password = String(new FormData(event.currentTarget).get("password"));
    if (await change(() => api(`${base}/password`, { method: "POST", body: { password } }), user.login)) {
      setResetting(false);
    }
  }
  return (
    <>
      <tr class={user.disabled ? "disabled" : ""} data-login={user.login}>
        <td class="account">
          {user.login} {user.demo && <span class="tag">{t("users.demo")}</span>}
        </td>
        <td>{user.display_name}</td>
        <td>{tOr("role", user.role)}</td>
        <td>{user.unit_name ?? user.unit_code}</td>
        <td>{user.disabled ? <span class="off">{t("users.disabled")}</span> : t("users.active")}</td>
        <td>
          {user.live_sessions} / {user.devices}
        </td>
        <td>
          <div class="acts">
            {user.disabled ? (
              <button type="button" onClick={() => change(() => api(`${base}/enable`, { method: "POST", body: {} }), user.login)}>
                {t("users.enable")}
              </button>
            ) : (
              <button type="button" class="danger" disabled={self} onClick={disable}>
                {t("users.disable")}
              </button>
            )}
            <button type="button" onClick={() => setResetting(!resetting)}>
              {t("users.reset")}
            </button>
            <button type="button" aria-expanded={open} onClick={onToggle}>
              {t("users.devices")}
            </button>
          </div>
        </td>
      </tr>
      {resetting && (
        <tr class="more">
          <td colSpan={7}>
            <form class="reset" onSubmit={reset}>
              <label>
                {t("users.newPassword")}
                <input name="password" type="password" autocomplete="new-password" minLength={10} required />
              </label>
              <button type="submit">{t("users.save")}</button>
              <button type="button" class="link" onClick={() => setResetting(false)}>
                {t("users.cancel")}
              </button>
            </form>
          </td>
        </tr>
      )}
      {open && <Devices user={user} base={base} version={version} change={change} />}
    </>
  );
}

/** An account's open sessions, by device, each device with its button to cut it off. */
function Devices({ user, base, version, change }) {
  const [detail, setDetail] = useState(null);
  useEffect(() => {
    api(base).then(setDetail).catch(() => setDetail({ sessions: [] }));
  }, [base, version]);
  if (!detail) return null;
  const devices = new Map();
  for (const s of detail.sessions) {
    const key = s.device_id ?? "";
    if (!devices.has(key)) devices.set(key, []);
    devices.get(key).push(s);
  }
  function revoke(device) {
    if (!confirm(t("users.confirmRevoke", { login: user.login, device }))) return;
    change(() => api(`${base}/devices/${encodeURIComponent(device)}`, { method: "DELETE" }), user.login);
  }
  return (
    <tr class="more">
      <td colSpan={7}>
        {devices.size === 0 && <p class="empty">{t("users.noSessions")}</p>}
        <ul class="devices">
          {[...devices].map(([device, sessions]) => (
            <li key={device} data-device={device}>
              <span class="device">{device || t("users.browser")}</span>
              {sessions.some((s) => s.connected) && <span class="tag on">{t("users.connected")}</span>}
              <span class="when">
                {t("users.expires")} {new Date(sessions[0].refresh_expires_at ?? sessions[0].expires_at).toLocaleString()}
              </span>
              {device && (
                <button type="button" class="danger" onClick={() => revoke(device)}>
                  {t("users.revokeDevice")}
                </button>
              )}
            </li>
          ))}
        </ul>
      </td>
    </tr>
  );
}
