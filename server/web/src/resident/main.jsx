// The resident's page (/r/): report a problem in three taps — what (a picture), where
// (the phone's position or a pin), send (a photo, a description and a contact are
// optional) — then follow it with the link it gives, and rate it once it is closed.
// No account: the follow token is the resident's key, kept on the phone.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import "./resident.css";
import "../shared/case-words.js";
import { t } from "../shared/i18n.js";
import { COMMON, Picture } from "../phone/pictures.jsx";
import { leaves } from "../phone/categories.js";
import { gridsAround, PlaceMap } from "../phone/placemap.jsx";
import { here, shrink } from "../phone/photos.js";
import { subscribePush } from "../phone/push.js";
import { mine, remember } from "./reports.js";

/** What the server's refusals mean, in the resident's words. */
const SAID = {
  "outside-service-area": "这个位置不在服务范围内，请移动图钉",
  "invalid-coordinates": "位置不正确，请重新定位或移动图钉",
  "invalid-report": "请补充问题描述或照片",
  "unknown-category": "这个问题类别已停用，请重新选择",
  "unsupported-media-type": "只能上传照片",
  "payload-too-large": "照片太大了",
};

/** JSON from the server; a problem document becomes an Error with the server's words. */
async function ask(path, { method = "GET", body, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const doc = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error(SAID[doc?.type] ?? (response.status === 429 ? "操作太频繁，请稍后再试" : doc?.detail || doc?.title || `HTTP ${response.status}`));
    error.status = response.status;
    error.kind = doc?.type;
    throw error;
  }
  return doc;
}

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  return { name: parts[0] || "report", id: parts[1], token: parts[2] ? decodeURIComponent(parts[2]) : null };
}

function App() {
  const [where, setWhere] = useState(route);
  useEffect(() => {
    const moved = () => setWhere(route());
    window.addEventListener("hashchange", moved);
    navigator.serviceWorker?.addEventListener("message", (event) => {
      if (event.data?.type === "open") location.hash = event.data.hash;
    });
    return () => window.removeEventListener("hashchange", moved);
  }, []);
  return (
    <div class="page">
      <header class="bar">
        <a href="#/" class="brand">
          随手拍 · 问题反映
        </a>
      </header>
      <main>{where.name === "follow" && where.id ? <Follow id={where.id} token={where.token} /> : <Report />}</main>
    </div>
  );
}

function Report() {
  const [tree, setTree] = useState(null);
  const [step, setStep] = useState(1);
  const [category, setCategory] = useState(null);
  const [point, setPoint] = useState(null);
  const [gps, setGps] = useState(null);
  const [grids, setGrids] = useState([]);
  const [place, setPlace] = useState(null);
  const [photo, setPhoto] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [key] = useState(() => crypto.randomUUID());
  useEffect(() => {
    ask("/api/v1/categories")
      .then(setTree)
      .catch(() => setError("连不上服务器，请检查网络后刷新"));
  }, []);
  // The position is asked for on the first tap (not before the resident has said what
  // they report), so that it is usually ready by the second.
  const locating = step >= 2;
  useEffect(() => {
    if (!locating) return;
    here().then(async (p) => {
      if (p) {
        setGps(true);
        setPoint({ lon: p.lon, lat: p.lat });
        return;
      }
      setGps(false);
      const info = await ask("/api/v1/map").catch(() => null);
      if (info?.area?.bounds) {
        const [w, s, e, n] = info.area.bounds;
        setPoint({ lon: (w + e) / 2, lat: (s + n) / 2 });
      }
    });
  }, [locating]);
  useEffect(() => {
    if (!point) return;
    gridsAround(point)
      .then(setGrids)
      .catch(() => {});
    ask(`/api/v1/locate?lon=${point.lon}&lat=${point.lat}`)
      .then((found) => setPlace({ ok: true, found }))
      .catch((e) => setPlace({ ok: false, message: e.message }));
  }, [point?.lon, point?.lat]);
  const all = leaves(tree);
  const chosen = all.find((c) => c.code === category);
  async function submit(event) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setError(null);
    try {
      const photos = [];
      if (photo) {
        const up = await fetch("/api/v1/attachments", { method: "POST", headers: { "Content-Type": photo.blob.type || "image/jpeg" }, body: photo.blob });
        if (!up.ok) throw new Error(`照片上传失败（HTTP ${up.status}）`);
        photos.push((await up.json()).id);
      }
      const name = String(form.get("name") ?? "").trim();
      const phone = String(form.get("phone") ?? "").trim();
      const body = {
        category,
        location: { lon: point.lon, lat: point.lat, crs: "wgs84" },
        // Three taps send no words: the category then says what is wrong.
        description: String(form.get("description") ?? "").trim() || chosen?.name || "",
        photos,
        ...(name || phone ? { contact: { name, phone } } : {}),
      };
      // The same key on a retry returns the same case: a resend never reports twice.
      const opened = await ask("/api/v1/reports", { method: "POST", body, headers: { "Idempotency-Key": key } });
      await remember({ id: opened.id, code: opened.code, token: opened.follow_token, category: chosen?.name, at: new Date().toISOString() });
      location.hash = `#/follow/${opened.id}/${encodeURIComponent(opened.follow_token)}`;
    } catch (e) {
      setError(e.status ? e.message : "网络不可用，请稍后再点提交（不会重复提交）");
    } finally {
      setBusy(false);
    }
  }
  return (
    <section>
      <ol class="steps">
        <li class={step === 1 ? "on" : ""}>1 选问题</li>
        <li class={step === 2 ? "on" : ""}>2 定位置</li>
        <li class={step === 3 ? "on" : ""}>3 提交</li>
      </ol>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {step === 1 && (
        <>
          <h1>遇到了什么问题？</h1>
          <div class="pictures">
            {COMMON.filter((c) => all.some((l) => l.code === c.code)).map((c) => (
              <button
                type="button"
                key={c.code}
                class="picture"
                onClick={() => {
                  setCategory(c.code);
                  setStep(2);
                }}
              >
                <Picture draw={c.draw} size={44} />
                <span>{c.short}</span>
              </button>
            ))}
          </div>
          <label>
            其他问题
            <select
              value=""
              onChange={(e) => {
                if (!e.currentTarget.value) return;
                setCategory(e.currentTarget.value);
                setStep(2);
              }}
            >
              <option value="">请选择</option>
              {all.map((c) => (
                <option key={c.code} value={c.code}>{`${c.domainName} · ${c.name}`}</option>
              ))}
            </select>
          </label>
          <MyReports />
        </>
      )}
      {step === 2 && (
        <>
          <h1>{`问题在哪里？（${chosen?.name ?? ""}）`}</h1>
          <p class="small">
            {gps === null ? "正在定位…" : gps ? "已用手机定位。位置不准可拖动图钉。" : "未取得定位：请拖动图钉到问题所在处。"}
            {place?.ok ? ` ${place.found.chain.map((c) => c.name).slice(2).join(" · ")}` : ""}
          </p>
          {point && (
            <PlaceMap
              point={point}
              grids={grids}
              highlight={place?.found?.grid?.code}
              onMove={(p) => {
                setGps(false);
                setPoint(p);
              }}
              label="拖动图钉选择位置"
            />
          )}
          {place && !place.ok && (
            <p class="error" role="alert">
              {place.message}
            </p>
          )}
          <div class="buttons">
            <button type="button" onClick={() => setStep(1)}>
              上一步
            </button>
            <button type="button" class="primary big" disabled={!place?.ok} onClick={() => setStep(3)}>
              就在这里
            </button>
          </div>
        </>
      )}
      {step === 3 && (
        <form onSubmit={submit}>
          <h1>补充说明（可不填）</h1>
          <label class="button">
            {photo ? "换一张照片" : "拍照或选照片"}
            <input
              type="file"
              accept="image/*"
              capture="environment"
              hidden
              onChange={async (e) => {
                const file = e.currentTarget.files[0];
                if (!file) return;
                const blob = await shrink(file);
                setPhoto({ blob, url: URL.createObjectURL(blob) });
              }}
            />
          </label>
          {photo && <img class="preview" src={photo.url} alt="要上传的照片" />}
          <label>
            问题描述
            <textarea name="description" rows="3" maxLength="2000" placeholder="例如：井盖缺失，有人差点踩空" />
          </label>
          <label>
            称呼
            <input name="name" maxLength="50" autocomplete="name" />
          </label>
          <label>
            手机号（方便工作人员联系您，不会公开）
            <input name="phone" type="tel" maxLength="20" autocomplete="tel" inputMode="tel" />
          </label>
          <div class="buttons">
            <button type="button" onClick={() => setStep(2)}>
              上一步
            </button>
            <button class="primary big" disabled={busy}>
              {busy ? "提交中…" : "提交"}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

/** The reports made from this phone, newest first, each a link to follow it. */
function MyReports() {
  const [list, setList] = useState([]);
  useEffect(() => {
    mine().then(setList);
  }, []);
  if (list.length === 0) return null;
  return (
    <section class="mine">
      <h2>我反映过的问题</h2>
      <ul>
        {list.map((r) => (
          <li key={r.id}>
            <a href={`#/follow/${r.id}/${encodeURIComponent(r.token)}`}>
              <b>{r.code}</b> {r.category ?? ""}
            </a>
          </li>
        ))}
      </ul>
    </section>
  );
}

const RATINGS = [
  ["satisfied", "满意"],
  ["basic", "基本满意"],
  ["unsatisfied", "不满意"],
];

/** The words a resident reads for each step of their case. */
function stepName(action) {
  const own = { reported: "已提交", registered: "已受理", closed: "已办结", reopened: "重新办理", rated: "已评价" };
  const known = t(`event.${action}`);
  return own[action] ?? (known === `event.${action}` ? action : known);
}

function Follow({ id, token }) {
  const [view, setView] = useState(null);
  const [error, setError] = useState(null);
  const [rating, setRating] = useState(null);
  const [comment, setComment] = useState("");
  const [busy, setBusy] = useState(false);
  const [push, setPush] = useState(typeof Notification === "undefined" ? "unsupported" : Notification.permission);
  const link = `${location.origin}/r/#/follow/${id}/${encodeURIComponent(token ?? "")}`;
  async function read() {
    try {
      const found = await ask(`/api/v1/reports/${encodeURIComponent(id)}?follow_token=${encodeURIComponent(token ?? "")}`);
      setView(found);
      setError(null);
      await remember({ id, code: found.code, token, category: found.category?.name });
    } catch (e) {
      setError(e.status === 404 ? "找不到这个问题：链接不完整或已失效" : "网络不可用，稍后自动刷新");
    }
  }
  useEffect(() => {
    read();
    const timer = setInterval(() => document.visibilityState === "visible" && read(), 15000);
    const shown = () => document.visibilityState === "visible" && read();
    document.addEventListener("visibilitychange", shown);
    return () => {
      clearInterval(timer);
      document.removeEventListener("visibilitychange", shown);
    };
  }, [id, token]);
  const [subscribed, setSubscribed] = useState(null);
  useEffect(() => {
    // Re-subscribed on every visit: a push service may have renewed the subscription.
    if (push === "granted") {
      subscribeFor(id, token)
        .then(() => setSubscribed(true))
        .catch(() => setSubscribed(false));
    }
  }, [id, token]);
  async function allow() {
    const answer = await Notification.requestPermission();
    setPush(answer);
    if (answer !== "granted") return;
    try {
      await subscribeFor(id, token);
      setSubscribed(true);
    } catch {
      setSubscribed(false);
    }
  }
  async function rate(event) {
    event.preventDefault();
    if (!rating) return;
    if (rating === "unsatisfied" && !comment.trim()) {
      setError("请说说哪里不满意，工作人员会重新办理");
      return;
    }
    setBusy(true);
    try {
      const body = { follow_token: token, rating, ...(comment.trim() ? { comment: comment.trim() } : {}) };
      setView(await ask(`/api/v1/reports/${encodeURIComponent(id)}/rating`, { method: "POST", body }));
      setRating(null);
      setComment("");
      setError(null);
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  }
  if (!view) {
    return <section>{error ? <p class="error">{error}</p> : <p>正在读取…</p>}</section>;
  }
  const now = view.merged_into ?? view;
  // One rating per closing: rated once a rating follows the last closing.
  const closedAt = now.history.map((h) => h.action).lastIndexOf("closed");
  const rated = now.history.slice(closedAt + 1).some((h) => h.action === "rated");
  return (
    <section class="follow">
      <h1>
        <span class="code">{view.code}</span> {view.category?.name}
      </h1>
      <p class={`status status-${now.status}`}>{t(`status.${now.status}`)}</p>
      {view.merged_into && <p class="small">{`您反映的问题与 ${now.code} 是同一问题，已合并办理。`}</p>}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <ol class="timeline">
        {now.history.map((h, i) => (
          <li key={i}>
            <b>{stepName(h.action)}</b>
            <span>{new Date(h.at).toLocaleString("zh-CN", { hour12: false })}</span>
          </li>
        ))}
      </ol>
      {now.status === "closed" && !rated && (
        <form class="rate" onSubmit={rate}>
          <h2>对处理结果满意吗？</h2>
          <div class="buttons three">
            {RATINGS.map(([value, name]) => (
              <button type="button" key={value} class={rating === value ? "primary" : ""} aria-pressed={rating === value} onClick={() => setRating(value)}>
                {name}
              </button>
            ))}
          </div>
          <label>
            评价意见
            <textarea rows="2" maxLength="500" value={comment} onInput={(e) => setComment(e.currentTarget.value)} />
          </label>
          <button class="primary big" disabled={!rating || busy}>
            提交评价
          </button>
        </form>
      )}
      <div class="keep">
        <p>请保存这个链接，用它随时查看进展：</p>
        <input readOnly value={link} onFocus={(e) => e.currentTarget.select()} aria-label="跟踪链接" />
        <button type="button" onClick={() => navigator.clipboard?.writeText(link)}>
          复制链接
        </button>
      </div>
      {push === "default" && (
        <button type="button" class="big" onClick={allow}>
          有进展时通知我
        </button>
      )}
      {push === "granted" && subscribed === true && <p class="small">有进展时会通知您。</p>}
      {push === "granted" && subscribed === false && <p class="small">这个浏览器暂时收不到通知，请保存上面的链接。</p>}
      <p>
        <a href="#/">再反映一个问题</a>
      </p>
    </section>
  );
}

/** Subscribes this phone to pushes about case `id` (no personal data is ever in them). */
async function subscribeFor(id, token) {
  const key = await ask("/api/v1/push/key");
  const subscription = await subscribePush(key.public_key);
  await ask(`/api/v1/reports/${encodeURIComponent(id)}/push`, {
    method: "PUT",
    body: { follow_token: token, endpoint: subscription.endpoint, keys: subscription.keys },
  });
}

render(<App />, document.getElementById("app"));

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/r/sw.js", { scope: "/r/" }).catch(() => {});
}
