// One task: its case's place on a map (the grid and the point), photos, history and the
// buttons its state allows (docs/contract.md, "Pages": 接单, 到场, 完成, 退回, 申请延期).
// The case's details are read from the server when online and kept for reading offline.
import { useEffect, useState } from "preact/hooks";
import { gridsAround, PlaceMap } from "../phone/placemap.jsx";
import { here, shrink } from "../phone/photos.js";
import { call, photoUrl } from "./net.js";
import { detail as storedDetail, keepDetail, keepPhoto } from "./state.js";
import { act } from "./sync.js";
import { countdown, lightOf, projected, when, word } from "./util.js";
import { useNow } from "./inbox.jsx";

/** Reads a task's case (history, photos) and the grids around it from the server, and keeps them. */
export async function fetchDetail(task) {
  const incident = task.incident_id;
  const view = await call(`/api/v1/incidents/${encodeURIComponent(incident)}`);
  const point = task.incident?.location;
  const grids = point ? await gridsAround(point).catch(() => []) : [];
  const fresh = { view, grids, history: view.history ?? [] };
  await keepDetail(incident, fresh);
  return fresh;
}

/**
 * Keeps the details of every task not yet read, so that each can be read offline later:
 * a worker often opens a task only once out in the field.
 */
export async function prefetch(tasks) {
  for (const task of tasks) {
    if (!task.incident_id || (await storedDetail(task.incident_id))) continue;
    await fetchDetail(task).catch(() => {});
  }
}

/** The case's details: kept ones at once, fresh ones when the server answers. */
function useDetail(task) {
  const [detail, setDetail] = useState(null);
  const incident = task?.incident_id;
  useEffect(() => {
    if (!incident) return undefined;
    let live = true;
    storedDetail(incident).then((kept) => live && kept && setDetail(kept));
    fetchDetail(task)
      .then((fresh) => live && setDetail(fresh))
      .catch(() => {});
    return () => {
      live = false;
    };
  }, [incident, task?.status]);
  return detail;
}

function Photos({ ids }) {
  const [urls, setUrls] = useState({});
  useEffect(() => {
    for (const id of ids) {
      photoUrl(id)
        .then((url) => setUrls((u) => ({ ...u, [id]: url })))
        .catch(() => {});
    }
  }, [ids.join(",")]);
  if (ids.length === 0) return null;
  return (
    <div class="photos">
      {ids.map((id) => (urls[id] ? <img key={id} src={urls[id]} alt="照片" /> : <span key={id} class="photo-missing">照片（联网后显示）</span>))}
    </div>
  );
}

/** Photos taken now: resized on the phone and kept until they are uploaded. */
export function PhotoPicker({ label, keys, setKeys }) {
  const [busy, setBusy] = useState(false);
  const [previews, setPreviews] = useState([]);
  async function picked(event) {
    const files = [...event.currentTarget.files];
    event.currentTarget.value = "";
    setBusy(true);
    try {
      for (const file of files) {
        const small = await shrink(file);
        const key = await keepPhoto(small);
        setKeys((k) => [...k, key]);
        setPreviews((p) => [...p, { key, url: URL.createObjectURL(small), size: small.size }]);
      }
    } finally {
      setBusy(false);
    }
  }
  return (
    <div class="picker">
      <label class="button">
        {busy ? "处理照片…" : label}
        <input type="file" accept="image/*" capture="environment" multiple onChange={picked} hidden />
      </label>
      <div class="photos">
        {previews
          .filter((p) => keys.includes(p.key))
          .map((p) => (
            <img key={p.key} src={p.url} alt="待上传的照片" title={`${Math.round(p.size / 1024)} KiB`} />
          ))}
      </div>
    </div>
  );
}

/** A form opened by one of the task's buttons. */
function ActionForm({ form, task, sync, close }) {
  const [text, setText] = useState("");
  const [until, setUntil] = useState("");
  const [keys, setKeys] = useState([]);
  const [error, setError] = useState(null);
  async function submit(event) {
    event.preventDefault();
    const occurred_at = new Date().toISOString();
    const base = { task_id: task.id, occurred_at };
    let op;
    if (form === "complete") {
      if (!text.trim()) return setError("请填写处置结果");
      const location = await here(3000);
      op = { kind: "complete_task", ...base, result: text.trim(), photos: keys, ...(location ? { location: strip(location) } : {}) };
    } else if (form === "return") {
      if (!text.trim()) return setError("请说明退回原因");
      op = { kind: "return_task", ...base, reason: text.trim() };
    } else if (form === "extend") {
      const at = Date.parse(until);
      if (!until || !(at > Date.now())) return setError("请选择一个以后的时间");
      if (!text.trim()) return setError("请说明延期原因");
      op = { kind: "request_extension", ...base, until: new Date(at).toISOString(), reason: text.trim() };
    } else if (form === "confirm-yes" || form === "confirm-no") {
      op = { kind: "confirm_task", ...base, exists: form === "confirm-yes", photos: keys };
    } else if (form === "verify-pass" || form === "verify-fail") {
      if (form === "verify-fail" && !text.trim()) return setError("请说明哪里没有处置好");
      op = { kind: "verify", ...base, passed: form === "verify-pass", note: text.trim(), photos: keys };
    }
    await act(sync, op, LABELS[form], task.incident?.code);
    close();
  }
  const needsText = { complete: "处置结果", return: "退回原因", extend: "延期原因", "verify-fail": "核查意见", "verify-pass": "核查意见（可不填）" }[form];
  const needsPhotos = ["complete", "confirm-yes", "confirm-no", "verify-pass", "verify-fail"].includes(form);
  return (
    <form class="sheet" onSubmit={submit}>
      <h3>{LABELS[form]}</h3>
      {form === "extend" && (
        <label>
          延期到
          <input type="datetime-local" value={until} onInput={(e) => setUntil(e.currentTarget.value)} />
        </label>
      )}
      {needsText && (
        <label>
          {needsText}
          <textarea rows="3" value={text} onInput={(e) => setText(e.currentTarget.value)} />
        </label>
      )}
      {needsPhotos && <PhotoPicker label={form === "complete" ? "拍处置后照片" : "拍照"} keys={keys} setKeys={setKeys} />}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="buttons">
        <button type="button" onClick={close}>
          取消
        </button>
        <button class="primary">提交</button>
      </div>
    </form>
  );
}

/** A position as ops carry it (the accuracy travels apart, where an op has room). */
function strip({ lon, lat, crs }) {
  return { lon, lat, crs };
}

const LABELS = {
  accept: "接单",
  arrive: "到场",
  complete: "完成",
  return: "退回",
  extend: "申请延期",
  "confirm-yes": "核实属实",
  "confirm-no": "核实不属实",
  "verify-pass": "核查通过",
  "verify-fail": "核查不通过",
};

/** The buttons a task's state allows, by kind. */
function buttonsFor(task) {
  if (task.status === "open") return ["accept", "return"];
  if (task.status !== "accepted") return [];
  if (task.kind === "confirm") return ["confirm-yes", "confirm-no"];
  if (task.kind === "verify") return ["verify-pass", "verify-fail"];
  return [...(task.arrived ? [] : ["arrive"]), "complete", "extend", "return"];
}

export function TaskPage({ id, stored, sync }) {
  const now = useNow();
  const raw = stored.tasks.find((x) => x.id === id);
  const detail = useDetail(raw);
  const [form, setForm] = useState(null);
  const [me, setMe] = useState(null);
  useEffect(() => {
    here(5000).then(setMe);
  }, [id]);
  if (!raw) {
    return (
      <section>
        <a class="back" href="#/">
          ‹ 返回任务
        </a>
        <p class="empty">正在同步这个任务…（如果它已改派给别人，就不会再出现在这里）</p>
      </section>
    );
  }
  const task = projected(raw, stored.outbox, detail);
  const kase = stored.cases.find((c) => c.id === task.incident_id);
  const light = lightOf(task, kase, now);
  const category = stored.categories[task.incident?.category];
  const point = task.incident?.location;
  async function quick(kind) {
    const base = { task_id: task.id, occurred_at: new Date().toISOString() };
    if (kind === "accept") await act(sync, { kind: "accept_task", ...base }, LABELS.accept, task.incident?.code);
    else if (kind === "arrive") {
      const location = await here(3000);
      await act(sync, { kind: "arrive", ...base, ...(location ? { location: strip(location) } : {}) }, LABELS.arrive, task.incident?.code);
    } else setForm(kind);
  }
  const photos = detail?.view?.photos ?? [];
  return (
    <section class="task-page">
      <a class="back" href="#/">
        ‹ 返回任务
      </a>
      <h2 class="title">
        <span class="code">{task.incident?.code}</span>
        <span class={`kind kind-${task.kind}`}>{word(`task.${task.kind}`, task.kind)}</span>
      </h2>
      <p class="row">
        <span>{category?.name ?? task.incident?.category}</span>
        <span class={`due due-${light}`}>{countdown(task.deadline, now)}</span>
      </p>
      <p class="row small">
        <span>{`状态：${word(`taskStatus.${task.status}`, task.status)}${task.arrived ? " · 已到场" : ""}`}</span>
        <span>{task.deadline ? `期限 ${when(task.deadline)}` : ""}</span>
      </p>
      {task.incident?.description && <p class="desc">{task.incident.description}</p>}
      {task.waiting.length > 0 && <p class="pill wait block">{`等待发送：${task.waiting.map((w) => w.label).join("、")}`}</p>}
      {form ? (
        <ActionForm form={form} task={task} sync={sync} close={() => setForm(null)} />
      ) : (
        <div class="actions">
          {buttonsFor(task).map((b) => (
            <button key={b} type="button" class={b === "accept" || b === "complete" ? "primary big" : "big"} onClick={() => quick(b)}>
              {LABELS[b]}
            </button>
          ))}
        </div>
      )}
      {point && (
        <PlaceMap point={point} grids={detail?.grids ?? []} highlight={task.incident?.grid} me={me} label="案件位置" />
      )}
      {me && point && <p class="small muted">{`你距离现场约 ${distance(me, point)}`}</p>}
      <Photos ids={photos} />
      <h3>处理经过</h3>
      {detail ? (
        <ol class="history">
          {detail.history.map((h) => (
            <li key={h.n}>
              <span>{when(h.at)}</span> <b>{word(`event.${h.action}`, h.action)}</b>
              {h.data?.result || h.data?.reason || h.data?.note ? <span>{` ${h.data.result ?? h.data.reason ?? h.data.note}`}</span> : null}
            </li>
          ))}
        </ol>
      ) : (
        <p class="muted small">联网后显示处理经过</p>
      )}
    </section>
  );
}

/** The distance between two points in words: `120 米`, `2.3 公里`. */
function distance(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  const metres = 2 * 6371008.8 * Math.asin(Math.sqrt(h));
  return metres < 1000 ? `${Math.round(metres)} 米` : `${(metres / 1000).toFixed(1)} 公里`;
}
