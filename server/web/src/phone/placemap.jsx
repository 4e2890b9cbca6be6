// A small map for a phone: the grids around a point, drawn as SVG from the server's own
// geometry (no basemap to download, so it works on a poor connection and from the
// cache), the point as a pin that may be dragged, and optionally where the phone is.
import { useEffect, useRef, useState } from "preact/hooks";

/** Half the height of the view at zoom 1, in degrees of latitude (about 450 m). */
const SPAN = 0.004;
const W = 360;
const H = 260;

/** The GeoJSON features of the grids within `pad` degrees of a point. */
export async function gridsAround(point, pad = 0.01) {
  const bbox = [point.lon - pad, point.lat - pad, point.lon + pad, point.lat + pad].map((v) => v.toFixed(6)).join(",");
  const response = await fetch(`/api/v1/grids?bbox=${bbox}`);
  if (!response.ok) throw new Error(`grids: HTTP ${response.status}`);
  return (await response.json()).features ?? [];
}

function rings(geometry) {
  if (!geometry) return [];
  return geometry.type === "MultiPolygon" ? geometry.coordinates.flat() : geometry.coordinates;
}

/**
 * The map. `point` {lon, lat} is the pin; `grids` the features to draw; `highlight` a
 * grid code to fill; `me` the phone's position; `onMove(point)` makes the pin draggable.
 */
export function PlaceMap({ point, grids = [], highlight, me, onMove, label }) {
  const [zoom, setZoom] = useState(1);
  const [centre, setCentre] = useState(point);
  const [dragging, setDragging] = useState(null);
  const svg = useRef(null);
  useEffect(() => {
    if (!dragging) setCentre(point);
  }, [point?.lon, point?.lat]);
  if (!point || !centre) return null;
  const half = SPAN / zoom;
  const k = H / 2 / half;
  const cos = Math.cos((centre.lat * Math.PI) / 180);
  const x = (lon) => W / 2 + (lon - centre.lon) * cos * k;
  const y = (lat) => H / 2 - (lat - centre.lat) * k;
  const back = (px, py) => ({ lon: centre.lon + (px - W / 2) / (cos * k), lat: centre.lat - (py - H / 2) / k });
  const path = (g) =>
    rings(g)
      .map((ring) => `M${ring.map(([lon, lat]) => `${x(lon).toFixed(1)},${y(lat).toFixed(1)}`).join("L")}Z`)
      .join("");
  const local = (event) => {
    const box = svg.current.getBoundingClientRect();
    return [((event.clientX - box.left) / box.width) * W, ((event.clientY - box.top) / box.height) * H];
  };
  const pin = dragging ?? point;
  const down = (event) => {
    if (!onMove) return;
    event.preventDefault();
    svg.current.setPointerCapture?.(event.pointerId);
    setDragging(back(...local(event)));
  };
  const move = (event) => dragging && setDragging(back(...local(event)));
  const up = () => {
    if (!dragging) return;
    const at = dragging;
    setDragging(null);
    onMove(at);
  };
  return (
    <div class="placemap">
      <svg
        ref={svg}
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={label ?? "地图"}
        onPointerDown={down}
        onPointerMove={move}
        onPointerUp={up}
        onPointerCancel={up}
      >
        <rect width={W} height={H} class="pm-ground" />
        {grids.map((f) => (
          <path key={f.properties?.code} d={path(f.geometry)} class={f.properties?.code === highlight ? "pm-grid pm-mine" : "pm-grid"} />
        ))}
        {grids.map((f) => {
          const all = rings(f.geometry).flat();
          if (!all.length) return null;
          const lx = x(all.reduce((s, p) => s + p[0], 0) / all.length);
          const ly = y(all.reduce((s, p) => s + p[1], 0) / all.length);
          // A name that would run off the edge is left out rather than cut.
          const half = ((f.properties?.name ?? "").length * 11) / 2;
          if (lx - half < 2 || lx + half > W - 2 || ly < 12 || ly > H - 4) return null;
          return (
            <text key={`n${f.properties?.code}`} x={lx} y={ly} class="pm-name">
              {f.properties?.name}
            </text>
          );
        })}
        {me && <circle cx={x(me.lon)} cy={y(me.lat)} r="7" class="pm-me" />}
        <g transform={`translate(${x(pin.lon)},${y(pin.lat)})`} class="pm-pin">
          <path d="M0 0C-3-8-11-13-11-21a11 11 0 0 1 22 0c0 8-8 13-11 21z" />
          <circle cy="-21" r="4" fill="#fff" />
        </g>
      </svg>
      <div class="pm-zoom">
        <button type="button" aria-label="放大" onClick={() => setZoom((z) => Math.min(z * 2, 16))}>
          +
        </button>
        <button type="button" aria-label="缩小" onClick={() => setZoom((z) => Math.max(z / 2, 0.25))}>
          −
        </button>
      </div>
    </div>
  );
}
