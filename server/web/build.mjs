// Builds the pages into dist/, which is committed and embedded in the gridlink binary
// (server/build.rs), so that a clone serves them with no npm step. `--check` builds into
// a temporary directory and fails if the result differs from what is committed: CI runs
// it, so dist/ is always what the sources and the lockfile make.
import { build } from "esbuild";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const check = process.argv.includes("--check");
const here = new URL(".", import.meta.url).pathname;
const out = check ? mkdtempSync(join(tmpdir(), "gridlink-web-")) : join(here, "dist");

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// Each page is one HTML file and one bundle of script and style; the phone pages also
// have a service worker (one classic script: module workers are not everywhere yet), a
// web app manifest, and the icons they share.
const pages = [
  { name: "centre", entry: "src/centre/main.jsx", html: "src/centre/index.html" },
  { name: "worker", entry: "src/worker/main.jsx", html: "src/worker/index.html", sw: "src/worker/sw.js", manifest: "src/worker/manifest.webmanifest" },
  { name: "resident", entry: "src/resident/main.jsx", html: "src/resident/index.html", sw: "src/resident/sw.js", manifest: "src/resident/manifest.webmanifest" },
];
const shared = ["src/phone/icon.svg", "src/phone/icon-192.png", "src/phone/icon-512.png"];

for (const page of pages) {
  await build({
    entryPoints: { [page.name]: join(here, page.entry) },
    bundle: true,
    minify: true,
    format: "esm",
    target: ["chrome100", "firefox100", "safari15"],
    jsx: "automatic",
    jsxImportSource: "preact",
    outdir: out,
    // The charts load when the statistics view opens, as a chunk of their own.
    splitting: true,
    chunkNames: "[name]-[hash]",
    legalComments: "linked",
    logLevel: "warning",
    charset: "utf8",
    // Leaflet's few small images go inline, so that a page is one script and one sheet.
    loader: { ".png": "dataurl", ".svg": "dataurl" },
  });
  cpSync(join(here, page.html), join(out, `${page.name}.html`));
  if (page.sw) {
    await build({
      entryPoints: { [`${page.name}-sw`]: join(here, page.sw) },
      bundle: true,
      minify: true,
      format: "iife",
      target: ["chrome100", "firefox100", "safari15"],
      outdir: out,
      legalComments: "linked",
      logLevel: "warning",
      charset: "utf8",
    });
  }
  if (page.manifest) cpSync(join(here, page.manifest), join(out, `${page.name}.webmanifest`));
}
for (const file of shared) cpSync(join(here, file), join(out, file.split("/").pop()));

if (check) {
  const committed = join(here, "dist");
  const names = (dir) => readdirSync(dir).sort();
  const differ = [];
  const ours = names(out);
  const theirs = names(committed);
  for (const name of new Set([...ours, ...theirs])) {
    if (!ours.includes(name) || !theirs.includes(name)) {
      differ.push(name);
    } else if (!readFileSync(join(out, name)).equals(readFileSync(join(committed, name)))) {
      differ.push(name);
    }
  }
  rmSync(out, { recursive: true, force: true });
  if (differ.length > 0) {
    console.error(`server/web/dist is not what the sources build: ${differ.join(", ")}; run \`npm run build\` in server/web and commit dist/`);
    process.exit(1);
  }
  console.log("server/web/dist matches its sources");
}
