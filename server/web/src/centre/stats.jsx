// The statistics view (统计评价): the figures of the caller's area over a period, grouped,
// scored and ranked (`/api/v1/stats`), a chart of one figure across the groups, a CSV of
// each table, and the heat of where cases cluster drawn on the centre's map.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, Problem, session } from "../shared/api.js";
import { t } from "../shared/i18n.js";

/** The figures the summary shows, in order; rates as percentages. */
const SUMMARY = [
  "reported",
  "registered",
  "closed",
  "closure_rate",
  "on_time_closure_rate",
  "rework_rate",
  "overdue_now",
  "satisfaction_rate",
  "self_handled_share",
  "on_time_dispatch_rate",
  "extensions",
  "parked",
];
/** The columns of the ranking table. */
const COLUMNS = ["reported", "closure_rate", "on_time_closure_rate", "rework_rate", "satisfaction_rate"];
/** The figures a chart may show. */
const CHARTABLE = [
  "reported",
  "closed",
  "closure_rate",
  "on_time_closure_rate",
  "rework_rate",
  "satisfaction_rate",
  "handle_hours_mean",
  "handle_hours_p90",
];
const GROUPINGS = ["area", "category", "department", "handler", "day", "week", "month"];
const PERIODS = ["today", "week", "month", "year"];

/** A figure's value as shown: rates in per cent, hours with two places, counts whole. */
export function shown(name, figure) {
  const v = figure?.value;
  if (v === null || v === undefined) return "–";
  if (name.endsWith("_rate") || name.endsWith("_share")) return `${(v * 100).toFixed(1)}%`;
  if (name.includes("_hours_")) return v.toFixed(2);
  return String(v);
}

/** The local (browser) start of a period, and now. */
function periodOf(kind, custom) {
  const now = new Date();
  if (kind === "custom" && custom.from && custom.to) {
    const to = new Date(`${custom.to}T00:00:00`);
    to.setDate(to.getDate() + 1);
    return [new Date(`${custom.from}T00:00:00`), to];
  }
  const from = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  if (kind === "week") from.setDate(from.getDate() - ((from.getDay() + 6) % 7));
  if (kind === "month") from.setDate(1);
  if (kind === "year") from.setMonth(0, 1);
  return [from, now];
}

/** The query of the view's settings. */
function queryOf(settings) {
  const [from, to] = periodOf(settings.period, settings.custom);
  const query = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), by: settings.by });
  if (settings.category) query.set("category", settings.category);
  return query;
}

/** Downloads `path` as CSV with the session's token, named `name`. */
async function downloadCsv(path, name) {
  const response = await fetch(path, { headers: { Accept: "text/csv", Authorization: `Bearer ${session()?.token}` } });
  if (!response.ok) throw new Problem(response.status, await response.json().catch(() => ({})));
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The statistics screen: the controls and the ranking on the left, the summary and the
 *  chart on the right, the heat on the centre's `map` between them. */
export function StatsScreen({ map, categories, version }) {
  const stats = useStats(map, categories, version);
  return (
    <>
      <aside class="left">
        <StatsControls stats={stats} />
      </aside>
      <aside class="right">
        <StatsSummary stats={stats} />
      </aside>
    </>
  );
}

/** The view's settings, its figures and the heat on `map`, read again when a setting changes. */
function useStats(map, categories, version) {
  const [settings, setSettings] = useState({ period: "month", custom: {}, by: "area", category: "", figure: "reported" });
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  // Cases change as the day goes on: read again after a change, at most every 10 s.
  const [tick, setTick] = useState(0);
  const last = useRef(0);
  useEffect(() => {
    if (!last.current) return undefined;
    const timer = setTimeout(() => setTick((n) => n + 1), Math.max(0, last.current + 10_000 - Date.now()));
    return () => clearTimeout(timer);
  }, [version]);
  useEffect(() => {
    let gone = false;
    last.current = Date.now();
    const query = queryOf(settings);
    setError(null);
    api(`/api/v1/stats?${query}`)
      .then((answer) => !gone && setData(answer))
      .catch((e) => !gone && setError(e));
    query.delete("by");
    api(`/api/v1/stats/heat?${query}`)
      .then((heat) => !gone && map.current?.setHeat(heat.cells))
      .catch(() => {});
    return () => {
      gone = true;
    };
  }, [settings.period, settings.custom.from, settings.custom.to, settings.by, settings.category, tick]);
  useEffect(() => () => map.current?.setHeat(null), []);
  const change = (patch) => setSettings((s) => ({ ...s, ...patch }));
  const classes = (categories?.domains ?? []).flatMap((d) => d.classes ?? []);
  return { settings, change, data, error, classes };
}

function StatsControls({ stats }) {
  const { settings, change, data, error, classes } = stats;
  const [failed, setFailed] = useState(null);
  const csv = () => {
    setFailed(null);
    downloadCsv(`/api/v1/stats?${queryOf(settings)}`, `stats-${settings.by}.csv`).catch(setFailed);
  };
  const heatCsv = () => {
    const query = queryOf(settings);
    query.delete("by");
    downloadCsv(`/api/v1/stats/heat?${query}`, "heat.csv").catch(setFailed);
  };
  return (
    <div class="stats-controls" aria-label={t("stats")}>
      <div class="period" role="group" aria-label={t("period")}>
        {[...PERIODS, "custom"].map((p) => (
          <button key={p} type="button" aria-pressed={settings.period === p} onClick={() => change({ period: p })}>
            {t(`period.${p}`)}
          </button>
        ))}
      </div>
      {settings.period === "custom" && (
        <div class="custom">
          <input type="date" aria-label={t("from")} value={settings.custom.from ?? ""} onChange={(e) => change({ custom: { ...settings.custom, from: e.currentTarget.value } })} />
          <input type="date" aria-label={t("to")} value={settings.custom.to ?? ""} onChange={(e) => change({ custom: { ...settings.custom, to: e.currentTarget.value } })} />
        </div>
      )}
      <label>
        {t("groupBy")}
        <select value={settings.by} onChange={(e) => change({ by: e.currentTarget.value })}>
          {GROUPINGS.map((g) => (
            <option key={g} value={g}>
              {t(`by.${g}`)}
            </option>
          ))}
        </select>
      </label>
      <label>
        {t("category")}
        <select value={settings.category} onChange={(e) => change({ category: e.currentTarget.value })}>
          <option value="">{t("allCategories")}</option>
          {classes.map((c) => (
            <option key={c.code} value={c.code}>
              {c.name}
            </option>
          ))}
        </select>
      </label>
      {error && <p class="error">{error.message}</p>}
      {failed && <p class="error">{failed.message}</p>}
      {data && <Ranking data={data} />}
      <div class="downloads">
        <button type="button" onClick={csv}>
          {t("downloadCsv")}
        </button>
        <button type="button" onClick={heatCsv}>
          {t("downloadHeat")}
        </button>
      </div>
    </div>
  );
}

/** The groups, ranked ones first, with their score and sample beside the rank. */
function Ranking({ data }) {
  const periods = ["day", "week", "month"].includes(data.by);
  if (data.groups.length === 0) return <p class="empty">{t("noCases")}</p>;
  return (
    <table class="ranking" aria-label={t("ranking")}>
      <thead>
        <tr>
          {!periods && <th>{t("rank")}</th>}
          <th>{t(periods ? "periodName" : "name")}</th>
          <th>{t("score")}</th>
          <th>{t("sample")}</th>
          {COLUMNS.map((c) => (
            <th key={c}>{t(`figure.${c}`)}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {data.groups.map((g) => (
          <tr key={g.key} data-key={g.key}>
            {!periods && <td>{g.score.rank ?? <span title={t("tooSmall", { n: data.min_sample })}>–</span>}</td>}
            <td>{g.name}</td>
            <td>{g.score.value?.toFixed(1) ?? "–"}</td>
            <td>{g.score.sample}</td>
            {COLUMNS.map((c) => (
              <td key={c} data-figure={c}>
                {shown(c, g.figures[c])}
              </td>
            ))}
          </tr>
        ))}
      </tbody>
      {data.groups_total > data.groups.length && (
        <caption>{t("moreGroups", { n: data.groups.length, total: data.groups_total })}</caption>
      )}
    </table>
  );
}

/** The whole scope's figures and a chart of one figure across the groups. */
function StatsSummary({ stats }) {
  const { settings, change, data } = stats;
  if (!data) return <div class="panel">{t("loading")}</div>;
  const total = data.total.figures;
  return (
    <div class="panel stats-summary">
      <h3>
        {data.area?.name} · {t(`period.${settings.period}`)}
      </h3>
      <dl class="summary" aria-label={t("summary")}>
        {SUMMARY.map((name) => (
          <div key={name} class="cell" data-figure={name}>
            <dt>{t(`figure.${name}`)}</dt>
            <dd title={total[name]?.denominator !== undefined ? `${total[name].numerator ?? ""} / ${total[name].denominator}` : ""}>
              {shown(name, total[name])}
            </dd>
          </div>
        ))}
        <div class="cell" data-figure="score">
          <dt>{t("score")}</dt>
          <dd>{data.total.score.value?.toFixed(1) ?? "–"}</dd>
        </div>
      </dl>
      <label>
        {t("chartOf")}
        <select value={settings.figure} onChange={(e) => change({ figure: e.currentTarget.value })}>
          {CHARTABLE.map((f) => (
            <option key={f} value={f}>
              {t(`figure.${f}`)}
            </option>
          ))}
        </select>
      </label>
      <Chart data={data} figure={settings.figure} />
      <div class="heat-legend">
        <span>{t("heatLegend")}</span>
        <span class="ramp" />
        <span class="ends">
          <span>{t("fewer")}</span>
          <span>{t("more")}</span>
        </span>
      </div>
      <p class="hint">{t("formulas")}</p>
    </div>
  );
}

/** A bar chart (a line over periods) of `figure` across the groups. */
function Chart({ data, figure }) {
  const canvas = useRef(null);
  const chart = useRef(null);
  useEffect(() => {
    let gone = false;
    const periods = ["day", "week", "month"].includes(data.by);
    const groups = data.groups.slice(0, 40);
    const values = groups.map((g) => {
      const v = g.figures[figure]?.value;
      return v === null || v === undefined ? null : figure.endsWith("_rate") ? v * 100 : v;
    });
    import("./chart.js").then(({ draw }) => {
      if (gone || !canvas.current) return;
      chart.current?.destroy();
      chart.current = draw(canvas.current, {
        kind: periods ? "line" : "bar",
        labels: groups.map((g) => g.name),
        label: t(`figure.${figure}`),
        values,
      });
    });
    return () => {
      gone = true;
    };
  }, [data, figure]);
  useEffect(() => () => chart.current?.destroy(), []);
  return (
    <div class="chart">
      <canvas ref={canvas} aria-label={t("chart")} />
    </div>
  );
}
