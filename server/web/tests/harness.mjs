// What the browser tests stand on: a real `gridlink serve --demo` on a free port with a
// fresh database, Debian's Chromium driven by playwright-core, and the reference phone.
import { spawn, execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";

export const SHOTS = new URL("../test-results/", import.meta.url).pathname;

function need(path, what) {
  if (!path || !existsSync(path)) {
    throw new Error(`${what} not found at ${path}: build it (cargo build -p gridlink -p mobile-api-tests --bins) or set its variable`);
  }
  return path;
}

const target = process.env.CARGO_TARGET_DIR || new URL("../../../target", import.meta.url).pathname;
export const GRIDLINK = process.env.GRIDLINK_BIN || join(target, "debug", "gridlink");
export const PHONE = process.env.GRIDLINK_PHONE_BIN || join(dirname(GRIDLINK), "phone");

/** Starts `gridlink serve --demo` on a free loopback port; resolves once it listens. */
export async function startServer(extra = []) {
  const dir = mkdtempSync(join(tmpdir(), "gridlink-pages-"));
  const args = ["serve", "--demo", "--bind", "127.0.0.1:0", "--database", `sqlite://${join(dir, "gridlink.db")}`, ...extra];
  const child = spawn(need(GRIDLINK, "the gridlink binary"), args, {
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stderr.on("data", (chunk) => (log += chunk));
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start within 180 s:\n${log}`)), 180_000);
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const found = out.match(/listening on (http:\/\/\S+)/);
      if (found) {
        clearTimeout(timer);
        resolve(found[1].replace(/\/$/, ""));
      }
    });
    child.on("exit", (code) => reject(new Error(`the server exited (${code}):\n${log}`)));
  });
  return {
    base,
    log: () => log,
    // Stops the server and removes its database, so that test runs leave nothing behind.
    stop: async () => {
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : (child.on("exit", resolve), child.kill("SIGTERM"))));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Debian's Chromium, headless, with nothing reaching outside the machine. Every page
 *  of every context it opens is watched for Content-Security-Policy violations (which
 *  Chromium reports on the console): closing the browser fails if there was one. */
export async function startBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const violations = [];
  const watch = (context) => {
    context.on("console", (message) => {
      if (message.text().includes("Content Security Policy")) violations.push(`${message.location().url}: ${message.text()}`);
    });
    return context;
  };
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (...args) => watch(await newContext(...args));
  const close = browser.close.bind(browser);
  browser.close = async (...args) => {
    await close(...args);
    if (violations.length > 0) throw new Error(`the pages broke their Content-Security-Policy:\n${violations.join("\n")}`);
  };
  browser.cspViolations = violations;
  return browser;
}

/** JSON over HTTP against the server. */
export async function call(base, path, { method = "GET", body, token } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, body: json };
}

export async function token(base, login) {
  const { status, body } = await call(base, "/api/v1/auth/login", { method: "POST", body: { login, password: "demo" } });
  if (status !== 200) throw new Error(`login ${login}: ${status} ${JSON.stringify(body)}`);
  return body.token;
}

/** A point inside the `n`-th grid of an area, and that grid's code (from the server's own geometry). */
export async function pointIn(base, n, area) {
  const info = await call(base, `/api/v1/map${area ? `?area=${area}` : ""}`);
  const [w, s, e, north] = info.body.area.bounds;
  const grids = await call(base, `/api/v1/grids?bbox=${w},${s},${e},${north}`);
  const features = grids.body.features.filter((f) => !area || f.properties.code.startsWith(area));
  // The middle of the grid's box, if it lies in the grid; else the next grid's.
  for (let i = 0; i < features.length; i += 1) {
    const { geometry, properties } = features[(n + i) % features.length];
    const rings = geometry.type === "MultiPolygon" ? geometry.coordinates.map((p) => p[0]) : [geometry.coordinates[0]];
    const points = rings.flat();
    const lons = points.map((p) => p[0]);
    const lats = points.map((p) => p[1]);
    const lon = (Math.min(...lons) + Math.max(...lons)) / 2;
    const lat = (Math.min(...lats) + Math.max(...lats)) / 2;
    const located = await call(base, `/api/v1/locate?lon=${lon}&lat=${lat}`);
    if (located.status === 200 && located.body.grid.code === properties.code && !located.body.snapped) {
      return { lon, lat, grid: located.body.grid.code, chain: located.body.chain };
    }
  }
  throw new Error("no grid holds the middle of its own box");
}

/** Runs the reference phone: takes and completes the task of case `code`. */
export function phoneCompletes(base, grid, code, at) {
  return new Promise((resolve, reject) => {
    execFile(
      need(PHONE, "the reference phone"),
      ["--base", base, "--login", `worker-${grid}`, "complete", "--case", code, "--result", "已更换井盖", ...(at ? ["--at", `${at.lon},${at.lat}`] : [])],
      { timeout: 60_000 },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout.trim())),
    );
  });
}

export async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** How many pixels of the map's outline canvases are drawn (not transparent). */
export function drawnPixels(page) {
  return page.evaluate(() => {
    let drawn = 0;
    for (const canvas of document.querySelectorAll(".gl-tile canvas")) {
      const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 3; i < data.length; i += 4) if (data[i] > 0) drawn += 1;
    }
    return drawn;
  });
}
