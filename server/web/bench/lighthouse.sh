#!/usr/bin/env bash
# Lighthouse (12.2.3, its default mobile preset: a mid-range phone on a slow 4G link)
# against the phone pages of a running server, with Debian's Chromium. Lighthouse is not
# one of the pages' packages (it is large, and CI does not need it): npx fetches it.
#
#   server/web/bench/lighthouse.sh [http://127.0.0.1:8080]
#
# Prints each page's category scores and its main timings; the reports are left in
# $TMPDIR/gridlink-lighthouse/.
set -euo pipefail
base="${1:-http://127.0.0.1:8080}"
out="${TMPDIR:-/tmp}/gridlink-lighthouse"
mkdir -p "$out"
for page in m r; do
  CHROME_PATH="${CHROMIUM:-/usr/bin/chromium}" npx --yes lighthouse@12.2.3 "$base/$page/" \
    --only-categories=performance,accessibility,best-practices \
    --chrome-flags="--headless=new --no-sandbox --disable-gpu" \
    --output=json --output-path="$out/$page.json" --quiet
  node -e '
    const r = require(process.argv[1]);
    const scores = Object.fromEntries(Object.entries(r.categories).map(([k, v]) => [k, Math.round(v.score * 100)]));
    const timings = ["first-contentful-paint", "largest-contentful-paint", "total-blocking-time", "cumulative-layout-shift", "total-byte-weight"]
      .map((a) => `${a}: ${r.audits[a].displayValue}`);
    console.log(`/${process.argv[2]}/`, JSON.stringify(scores), timings.join(", "));
  ' "$out/$page.json" "$page"
done
