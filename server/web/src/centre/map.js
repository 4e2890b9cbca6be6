// The centre's map: outlines drawn from the server's own tiles (no internet basemap),
// live case markers coloured by state and light and grouped when dense, and picking a
// grid by clicking it.
import L from "leaflet";
import "leaflet/dist/leaflet.css";
import { t } from "../shared/i18n.js";

/** `text` safe to put inside HTML. */
function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A marker's round badge showing `text`, styled through the DOM rather than a `style`
 *  attribute, which the pages' Content-Security-Policy refuses. */
function badge(text, style) {
  const span = document.createElement("span");
  span.textContent = String(text);
  Object.assign(span.style, style);
  return span;
}

/** How each level's outline is drawn: line width, colour, fill. */
const LEVELS = {
  1: { width: 3, colour: "#12263f", fill: null },
  2: { width: 2.6, colour: "#1b3a6b", fill: null },
  3: { width: 2, colour: "#2c5ea8", fill: null },
  4: { width: 1.3, colour: "#4f82cf", fill: null },
  5: { width: 0.8, colour: "#7fa6de", fill: "rgba(127,166,222,0.07)" },
};

/** The colour of a case's marker: closed today grey, red and yellow by light, new blue. */
export function colourOf(item) {
  if (item.status === "closed" || item.status === "rejected" || item.status === "merged") return "#9e9e9e";
  if (item.light === "red") return "#e53935";
  if (item.light === "yellow") return "#f9a825";
  if (item.status === "reported" || item.status === "confirming") return "#1e88e5";
  return "#43a047";
}

/** The font size of each level's names (as centre.css draws them), for placing labels. */
const LABEL_PX = { 1: 16, 2: 16, 3: 14, 4: 12, 5: 10 };

/** A zoom at which a county's grids are drawn and can be told apart. */
const GRID_ZOOM = 14;

const SEVERITY = { "#e53935": 4, "#f9a825": 3, "#1e88e5": 2, "#43a047": 1, "#9e9e9e": 0 };

/** A tile layer whose tiles are canvases drawn from `/api/v1/map/tiles`, labels as text. */
const Outlines = L.GridLayer.extend({
  initialize(options) {
    L.setOptions(this, options);
    // Every name placed, across tiles: {z, box (world pixels), level, el, tile}.
    this.labels = [];
    this.on("tileunload", (event) => {
      this.labels = this.labels.filter((l) => l.tile !== event.tile);
    });
  },
  /** Places a unit's name unless it would cover another's: a larger unit's name (or an
   *  equal one placed first) wins, across tile edges too; a smaller one it covers goes. */
  place(tile, coords, f, x, y) {
    const px = LABEL_PX[f.level] ?? 10;
    const size = this.getTileSize();
    const [wx, wy] = [coords.x * size.x + x, coords.y * size.y + y];
    const half = (f.name.length * px) / 2;
    const box = { x0: wx - half, x1: wx + half, y0: wy - px / 2 - 2, y1: wy + px / 2 + 2 };
    const covered = this.labels.filter(
      (l) => l.z === coords.z && l.box.x0 < box.x1 && box.x0 < l.box.x1 && l.box.y0 < box.y1 && box.y0 < l.box.y1,
    );
    if (covered.some((l) => l.level <= f.level)) return;
    for (const l of covered) l.el.remove();
    this.labels = this.labels.filter((l) => !covered.includes(l));
    const el = L.DomUtil.create("span", `gl-label gl-label-${f.level}`, tile);
    el.textContent = f.name;
    el.style.left = `${x}px`;
    el.style.top = `${y}px`;
    this.labels.push({ z: coords.z, box, level: f.level, el, tile });
  },
  createTile(coords, done) {
    const tile = L.DomUtil.create("div", "gl-tile");
    const size = this.getTileSize();
    const ratio = window.devicePixelRatio || 1;
    const canvas = L.DomUtil.create("canvas", "", tile);
    canvas.width = size.x * ratio;
    canvas.height = size.y * ratio;
    canvas.style.width = `${size.x}px`;
    canvas.style.height = `${size.y}px`;
    const query = new URLSearchParams({ g: String(this.options.generation) });
    if (this.options.area) query.set("area", this.options.area);
    fetch(`/api/v1/map/tiles/${coords.z}/${coords.x}/${coords.y}?${query}`)
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`tile ${r.status}`))))
      .then((data) => {
        tile.glData = data;
        draw(canvas.getContext("2d"), data, (size.x * ratio) / data.extent, this.options.selected, this.options.heat);
        const scale = size.x / data.extent;
        // Larger units' names first; a name that would cover one already placed is left
        // out (the next zoom has room for it).
        const labelled = data.features.filter((f) => f.label).sort((a, b) => a.level - b.level);
        for (const f of labelled) this.place(tile, coords, f, f.label[0] * scale, f.label[1] * scale);
        done(null, tile);
      })
      .catch((e) => done(e, tile));
    return tile;
  },
  /** Draws the loaded tiles again from the data they hold (a grid was selected). */
  restyle(selected) {
    this.options.selected = selected;
    for (const { el } of Object.values(this._tiles)) {
      const canvas = el.querySelector("canvas");
      if (!el.glData || !canvas) continue;
      const ctx = canvas.getContext("2d");
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      draw(ctx, el.glData, canvas.width / el.glData.extent, selected, this.options.heat);
    }
  },
});

/** The heat of a unit's cases as a fill: pale yellow through orange to deep red. */
function heatColour(share) {
  const stops = [
    [255, 237, 160],
    [254, 178, 76],
    [240, 59, 32],
    [128, 0, 38],
  ];
  const at = Math.min(0.999, Math.max(0, share)) * (stops.length - 1);
  const [a, b] = [stops[Math.floor(at)], stops[Math.floor(at) + 1]];
  const f = at - Math.floor(at);
  const mix = a.map((v, i) => Math.round(v + (b[i] - v) * f));
  return `rgba(${mix.join(",")},0.72)`;
}

/** Cases per grid summed into every unit above it, with the largest count per level. */
function heatOf(cells) {
  const counts = new Map();
  // A unit's code is its grid's first digits: a county's 6, a township's 9, a community's 12.
  const spans = { 2: 6, 3: 9, 4: 12, 5: 15 };
  const max = Object.fromEntries(Object.keys(spans).map((level) => [level, 0]));
  for (const { code, count } of cells) {
    for (const [level, length] of Object.entries(spans)) {
      const unit = code.slice(0, length);
      const n = (counts.get(unit) ?? 0) + count;
      counts.set(unit, n);
      max[level] = Math.max(max[level], n);
    }
  }
  return { counts, max };
}

function draw(ctx, data, scale, selected, heat) {
  ctx.lineJoin = "round";
  // The heat fills the deepest level the tile draws (fills of larger units would cover it).
  const deepest = Math.max(...data.levels);
  // Deeper levels first, so that the outlines of larger units lie on top.
  const features = [...data.features].sort((a, b) => b.level - a.level);
  for (const f of features) {
    const style = LEVELS[f.level] || LEVELS[5];
    ctx.beginPath();
    for (const ring of f.rings) {
      ring.forEach(([x, y], i) => (i === 0 ? ctx.moveTo(x * scale, y * scale) : ctx.lineTo(x * scale, y * scale)));
      ctx.closePath();
    }
    const picked = f.code === selected;
    const hot = heat && f.level === deepest && f.level > 1 ? heat.counts.get(f.code) : undefined;
    if (hot) {
      ctx.fillStyle = heatColour(Math.sqrt(hot / Math.max(1, heat.max[f.level] ?? hot)));
      ctx.fill("evenodd");
    } else if (picked || (style.fill && !heat)) {
      ctx.fillStyle = picked ? "rgba(255,152,0,0.22)" : style.fill;
      ctx.fill("evenodd");
    }
    ctx.lineWidth = (picked ? 2.5 : style.width) * (scale * 8 > 1 ? window.devicePixelRatio || 1 : 1);
    ctx.strokeStyle = picked ? "#ef6c00" : style.colour;
    ctx.stroke();
  }
}

/** The map of one area. `onCase(id)` when a marker is clicked, `onGrid(located)` for a grid. */
export class CentreMap {
  constructor(element, { info, area, onCase, onGrid }) {
    const [w, s, e, n] = info.area.bounds;
    const bounds = L.latLngBounds([s, w], [n, e]);
    this.map = L.map(element, {
      preferCanvas: true,
      zoomSnap: 0.25,
      attributionControl: false,
      maxBounds: bounds.pad(0.5),
      maxZoom: Math.min(info.max_zoom, 19),
    });
    this.map.fitBounds(bounds);
    // A basemap only when the server names one: by default nothing comes from elsewhere.
    if (info.basemap) L.tileLayer(info.basemap, { maxZoom: 19, opacity: 0.6 }).addTo(this.map);
    this.info = info;
    this.area = area;
    this.onCase = onCase;
    this.onGrid = onGrid;
    this.selectedGrid = null;
    this.outlines = new Outlines({ generation: info.generation, area, selected: null, updateWhenZooming: false });
    this.outlines.addTo(this.map);
    this.renderer = L.canvas({ padding: 0.2 });
    this.workers = L.layerGroup().addTo(this.map);
    this.markers = L.layerGroup().addTo(this.map);
    this.cases = new Map();
    this.groups = null;
    this.onView = null;
    // How many cases a view shows one by one before the server counts them by unit.
    this.limit = 500;
    this.picking = null;
    this.map.on("click", (event) => this.clicked(event.latlng));
    this.map.on("zoomend moveend", () => {
      this.redraw();
      this.onView?.();
    });
  }

  /** The view with a margin, as `/api/v1/map/cases` takes it: `west,south,east,north`. */
  bbox() {
    const b = this.map.getBounds().pad(0.1);
    const clamp = (v, limit) => Math.max(-limit, Math.min(limit, v)).toFixed(5);
    return [clamp(b.getWest(), 180), clamp(b.getSouth(), 90), clamp(b.getEast(), 180), clamp(b.getNorth(), 90)].join(",");
  }

  /** Whether the view shows counts by unit rather than each case. */
  grouped() {
    return this.groups !== null;
  }

  /** Shows a view as the server gave it: `groups` (counts by unit; null when the cases
   *  come one by one) and the cases one by one, a Map of id → case. */
  setView(groups, cases) {
    this.groups = groups;
    this.cases = cases;
    this.redraw();
  }

  /** Shows the workers seen on duty lately (from `/api/v1/workers/positions`). */
  setWorkers(workers) {
    this.workers.clearLayers();
    for (const w of workers) {
      const icon = L.divIcon({ className: "gl-worker", html: "<span></span>", iconSize: [14, 14] });
      L.marker([w.lat, w.lon], { icon, keyboard: false })
        .bindTooltip(`${w.name || w.login} · ${w.at.slice(11, 16)}`)
        .addTo(this.workers);
    }
  }

  /** Draws the markers: one per unit when the server counted them, else one per case,
   *  grouping those closer than 28 pixels when more than 200 show. */
  redraw() {
    this.markers.clearLayers();
    if (this.groups) {
      for (const group of this.groups) this.groupMarker(group);
      return;
    }
    const view = this.map.getBounds().pad(0.1);
    const visible = [...this.cases.values()].filter((c) => c.location && view.contains([c.location.lat, c.location.lon]));
    if (visible.length <= 200) {
      for (const c of visible) this.marker(c);
      return;
    }
    const cells = new Map();
    for (const c of visible) {
      const p = this.map.latLngToLayerPoint([c.location.lat, c.location.lon]);
      const key = `${Math.floor(p.x / 28)}:${Math.floor(p.y / 28)}`;
      const cell = cells.get(key) || { items: [], colour: "#9e9e9e", lat: 0, lon: 0 };
      cell.items.push(c);
      cell.lat += c.location.lat;
      cell.lon += c.location.lon;
      const colour = colourOf(c);
      if (SEVERITY[colour] > SEVERITY[cell.colour]) cell.colour = colour;
      cells.set(key, cell);
    }
    for (const cell of cells.values()) {
      if (cell.items.length === 1) {
        this.marker(cell.items[0]);
        continue;
      }
      const at = [cell.lat / cell.items.length, cell.lon / cell.items.length];
      const icon = L.divIcon({
        className: "gl-cluster",
        html: badge(cell.items.length, { background: cell.colour }),
        iconSize: [30, 30],
      });
      L.marker(at, { icon, keyboard: false })
        .on("click", () => this.map.setView(at, this.map.getZoom() + 2))
        .addTo(this.markers);
    }
  }

  /** A marker standing for a unit's live cases: its size by how many, its colour by
   *  the worst light among them, its tooltip the counts by kind. */
  groupMarker(group) {
    const { counts } = group;
    const colour = counts.red ? "#e53935" : counts.yellow ? "#f9a825" : counts.new ? "#1e88e5" : counts.in_progress ? "#43a047" : "#9e9e9e";
    const size = Math.round(26 + Math.min(22, Math.log10(group.total + 1) * 9));
    const icon = L.divIcon({
      className: "gl-cluster gl-group",
      html: badge(group.total, { background: colour, width: `${size}px`, height: `${size}px`, lineHeight: `${size}px` }),
      iconSize: [size, size],
    });
    const lines = [
      ["legendNew", counts.new],
      ["legendOpen", counts.in_progress],
      ["legendYellow", counts.yellow],
      ["legendRed", counts.red],
      ["legendClosed", counts.ended_today],
    ]
      .filter(([, n]) => n > 0)
      .map(([key, n]) => `${t(key)} ${n}`);
    L.marker([group.lat, group.lon], { icon, keyboard: false })
      .bindTooltip(`<b>${escape(group.name)}</b><br>${lines.join("<br>")}`)
      .on("click", () => this.map.setView([group.lat, group.lon], this.map.getZoom() + 2))
      .addTo(this.markers);
  }

  marker(c) {
    const m = L.circleMarker([c.location.lat, c.location.lon], {
      renderer: this.renderer,
      radius: c.id === this.selectedCase ? 10 : 7,
      color: c.id === this.selectedCase ? "#000" : "#fff",
      weight: 2,
      fillColor: colourOf(c),
      fillOpacity: 0.95,
      bubblingMouseEvents: false,
    });
    m.bindTooltip(`${c.code} · ${c.description || ""}`.slice(0, 60));
    m.on("click", (event) => (this.picking ? this.clicked(event.latlng) : this.onCase(c.id)));
    m.addTo(this.markers);
  }

  /** Highlights a case and brings it into view. */
  focusCase(c) {
    this.selectedCase = c?.id ?? null;
    // Close enough to see the case's grid and its neighbours.
    if (c?.location) this.map.setView([c.location.lat, c.location.lon], Math.max(this.map.getZoom(), GRID_ZOOM));
    this.redraw();
  }

  /** Fills each unit by its cases (`/api/v1/stats/heat`'s cells), or no heat when null;
   *  the markers give way to it. */
  setHeat(cells) {
    this.outlines.options.heat = cells ? heatOf(cells) : null;
    this.outlines.restyle(this.selectedGrid);
    if (cells) this.markers.remove();
    else this.markers.addTo(this.map);
  }

  /** Outlines the grid `code` (null: none). */
  selectGrid(code) {
    this.selectedGrid = code;
    // Not GridLayer.redraw(): at a fractional zoom it asks for tiles of that zoom.
    this.outlines.restyle(code);
  }

  /** The next click on the map picks a grid: resolves to `/api/v1/locate`'s answer. */
  pickGrid(near) {
    this.element().classList.add("gl-picking");
    if (near && this.map.getZoom() < GRID_ZOOM) this.map.setView([near.lat, near.lon], GRID_ZOOM);
    return new Promise((resolve, reject) => {
      this.picking = { resolve, reject };
    });
  }

  cancelPick() {
    this.picking?.reject(new Error("cancelled"));
    this.picking = null;
    this.element().classList.remove("gl-picking");
  }

  element() {
    return this.map.getContainer();
  }

  async clicked(latlng) {
    const url = `/api/v1/locate?lon=${latlng.lng.toFixed(7)}&lat=${latlng.lat.toFixed(7)}`;
    const located = await fetch(url).then((r) => (r.ok ? r.json() : null));
    if (this.picking) {
      const { resolve } = this.picking;
      this.picking = null;
      this.element().classList.remove("gl-picking");
      if (located) {
        this.selectGrid(located.grid.code);
        // Where it was clicked too: a call filed here is placed at that point.
        resolve({ ...located, at: { lon: latlng.lng, lat: latlng.lat } });
      }
      return;
    }
    if (located && this.covers(located.grid.code)) {
      this.selectGrid(located.grid.code);
      this.onGrid(located);
    }
  }

  /** Whether a grid lies in the map's area (a code starts with its units' significant digits). */
  covers(code) {
    const digits = { 1: 4, 2: 6, 3: 9, 4: 12, 5: 15 }[this.info.area.level] ?? 0;
    return code.startsWith(this.info.area.code.slice(0, digits));
  }

  destroy() {
    this.map.remove();
  }
}
