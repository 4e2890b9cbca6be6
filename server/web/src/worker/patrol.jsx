// Patrol (巡查上报): a finding with its category (from pictures of the common ones), its
// place (GPS, WGS-84, or the pin moved by hand) and photos; for a category a worker may
// handle alone, with the result and after-photos it is registered, handled and closed in
// one step (自行处置). Queued like every action: it goes when the network allows.
import { useEffect, useState } from "preact/hooks";
import { COMMON, Picture } from "../phone/pictures.jsx";
import { gridsAround, PlaceMap } from "../phone/placemap.jsx";
import { here } from "../phone/photos.js";
import { call } from "./net.js";
import { act } from "./sync.js";
import { PhotoPicker } from "./task.jsx";

/** A point inside the worker's own grid, for when the phone cannot tell where it is. */
async function gridMiddle(code) {
  const info = await call(`/api/v1/map?area=${encodeURIComponent(code)}`);
  const [w, s, e, n] = info.area.bounds;
  return { lon: (w + e) / 2, lat: (s + n) / 2 };
}

export function Patrol({ stored, sync, user }) {
  const [category, setCategory] = useState(null);
  const [point, setPoint] = useState(null);
  const [fromGps, setFromGps] = useState(false);
  const [grids, setGrids] = useState([]);
  const [located, setLocated] = useState(null);
  const [before, setBefore] = useState([]);
  const [after, setAfter] = useState([]);
  const [description, setDescription] = useState("");
  const [alone, setAlone] = useState(false);
  const [result, setResult] = useState("");
  const [error, setError] = useState(null);
  const [sent, setSent] = useState(null);
  useEffect(() => {
    here().then(async (p) => {
      if (p) {
        setFromGps(true);
        setPoint({ lon: p.lon, lat: p.lat });
      } else {
        setPoint(await gridMiddle(user.unit.code).catch(() => null));
      }
    });
  }, []);
  useEffect(() => {
    if (!point) return;
    gridsAround(point)
      .then(setGrids)
      .catch(() => {});
    call(`/api/v1/locate?lon=${point.lon}&lat=${point.lat}`)
      .then(setLocated)
      .catch((e) => setLocated(e.status ? { error: e.message } : null));
  }, [point?.lon, point?.lat]);
  const chosen = category && stored.categories[category];
  const all = Object.values(stored.categories);
  async function submit(event) {
    event.preventDefault();
    setError(null);
    if (!chosen) return setError("请选择问题类别");
    if (!point) return setError("还不知道位置：请打开定位，或在地图上放图钉");
    if (alone && (before.length === 0 || after.length === 0 || !result.trim())) {
      return setError("自行处置需要处置前、处置后的照片和处置结果");
    }
    const op = {
      kind: "report_incident",
      incident_id: crypto.randomUUID(),
      category: chosen.code,
      location: { lon: point.lon, lat: point.lat, crs: "wgs84" },
      description: description.trim(),
      photos: before,
      occurred_at: new Date().toISOString(),
      ...(alone ? { handled: { result: result.trim(), photos: after } } : {}),
    };
    await act(sync, op, alone ? "自行处置" : "巡查上报");
    setSent(alone ? "已记录自行处置，联网后自动发送。" : "已记录上报，联网后自动发送。");
    setCategory(null);
    setBefore([]);
    setAfter([]);
    setDescription("");
    setResult("");
    setAlone(false);
  }
  return (
    <form class="patrol" onSubmit={submit}>
      <h2 class="title">巡查上报</h2>
      {sent && (
        <p class="ok" role="status">
          {sent}
        </p>
      )}
      <fieldset>
        <legend>问题类别</legend>
        <div class="pictures">
          {COMMON.filter((c) => stored.categories[c.code]).map((c) => (
            <button
              type="button"
              key={c.code}
              class={category === c.code ? "picture on" : "picture"}
              aria-pressed={category === c.code}
              onClick={() => {
                setCategory(c.code);
                setSent(null);
              }}
            >
              <Picture draw={c.draw} />
              <span>{c.short}</span>
            </button>
          ))}
        </div>
        <label>
          其他类别
          <select value={category ?? ""} onChange={(e) => setCategory(e.currentTarget.value || null)}>
            <option value="">请选择</option>
            {all.map((c) => (
              <option key={c.code} value={c.code}>
                {`${c.domainName ?? ""} · ${c.name}`}
              </option>
            ))}
          </select>
        </label>
        {chosen && <p class="small">{`已选：${chosen.name}`}</p>}
      </fieldset>
      <fieldset>
        <legend>位置</legend>
        <p class="small">
          {fromGps ? "已用手机定位（WGS-84）。" : "未取得定位，请拖动图钉到问题所在处。"}
          {located?.grid ? ` 所在网格：${located.grid.name}` : located?.error ? ` ${located.error}` : ""}
        </p>
        {point && (
          <PlaceMap
            point={point}
            grids={grids}
            highlight={located?.grid?.code}
            onMove={(p) => {
              setFromGps(false);
              setPoint(p);
            }}
            label="拖动图钉选择位置"
          />
        )}
        <button
          type="button"
          onClick={() =>
            here().then((p) => {
              if (p) {
                setFromGps(true);
                setPoint({ lon: p.lon, lat: p.lat });
              } else setError("取不到定位，请检查定位权限");
            })
          }
        >
          重新定位
        </button>
      </fieldset>
      <fieldset>
        <legend>照片与描述</legend>
        <PhotoPicker label="拍现场照片" keys={before} setKeys={setBefore} />
        <label>
          问题描述
          <textarea rows="3" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </label>
      </fieldset>
      {chosen?.self_handle && (
        <fieldset>
          <legend>自行处置</legend>
          <label class="check">
            <input type="checkbox" checked={alone} onChange={(e) => setAlone(e.currentTarget.checked)} />
            已当场处理完毕（自行处置）
          </label>
          {alone && (
            <>
              <label>
                处置结果
                <textarea rows="3" value={result} onInput={(e) => setResult(e.currentTarget.value)} />
              </label>
              <PhotoPicker label="拍处置后照片" keys={after} setKeys={setAfter} />
            </>
          )}
        </fieldset>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button class="primary big">{alone ? "提交自行处置" : "上报"}</button>
    </form>
  );
}
