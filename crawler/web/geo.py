"""The overview's map: Natural Earth's country shapes (world-atlas's TopoJSON, shipped in
crawler/web/data with its licence) drawn as one server-side SVG of the region raqib follows.
No tile server, no map library: the page gets a few kilobytes of paths."""
from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).parent / "data" / "countries-50m.json"
# The region: Syria and its neighbours, Iraq, the Gulf's north, Turkey's south, Iran's west.
BBOX = (29.0, 26.5, 54.0, 40.5)          # lon min, lat min, lon max, lat max
WIDTH = 760


def _scale():
    lon0, lat0, lon1, lat1 = BBOX
    k = math.cos(math.radians((lat0 + lat1) / 2))
    sx = WIDTH / ((lon1 - lon0) * k)
    height = (lat1 - lat0) * sx
    return k, sx, height


def project(lon: float, lat: float) -> tuple[float, float]:
    k, sx, height = _scale()
    return (lon - BBOX[0]) * k * sx, (BBOX[3] - lat) * sx


def _arcs(topo: dict) -> list[list[tuple[float, float]]]:
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    out = []
    for arc in topo["arcs"]:
        x = y = 0
        pts = []
        for dx, dy in arc:
            x += dx
            y += dy
            pts.append((x * sx + tx, y * sy + ty))
        out.append(pts)
    return out


def _ring(arcs, indexes) -> list[tuple[float, float]]:
    pts: list[tuple[float, float]] = []
    for i in indexes:
        arc = arcs[i] if i >= 0 else arcs[~i][::-1]
        pts.extend(arc[1:] if pts else arc)
    return pts


def _near(ring) -> bool:
    lon0, lat0, lon1, lat1 = BBOX
    return any(lon0 - 5 <= x <= lon1 + 5 and lat0 - 5 <= y <= lat1 + 5 for x, y in ring)


@lru_cache(maxsize=1)
def country_paths() -> tuple[tuple[str, str], ...]:
    """(country name, SVG path) for every country with a part in the region."""
    topo = json.loads(DATA.read_text(encoding="utf-8"))
    arcs = _arcs(topo)
    out = []
    for geom in topo["objects"]["countries"]["geometries"]:
        polys = geom.get("arcs") or []
        if geom.get("type") == "Polygon":
            polys = [polys]
        parts = []
        for poly in polys:
            for ring_idx in poly:
                ring = _ring(arcs, ring_idx)
                if not _near(ring):
                    continue
                path = _path(ring)
                if path:
                    parts.append(path)
        if parts:
            out.append(((geom.get("properties") or {}).get("name", ""), "".join(parts)))
    return tuple(out)


def _clip(points: list[tuple[float, float]], w: float, h: float, m: float = 8.0) -> list[tuple[float, float]]:
    """Sutherland-Hodgman against the map's frame (with a margin): Russia need not travel."""
    edges = [(lambda p: p[0] >= -m, lambda a, b: _cut_x(a, b, -m)), (lambda p: p[0] <= w + m, lambda a, b: _cut_x(a, b, w + m)),
             (lambda p: p[1] >= -m, lambda a, b: _cut_y(a, b, -m)), (lambda p: p[1] <= h + m, lambda a, b: _cut_y(a, b, h + m))]
    for inside, cut in edges:
        if not points:
            break
        out = []
        for i, cur in enumerate(points):
            prev = points[i - 1]
            if inside(cur):
                if not inside(prev):
                    out.append(cut(prev, cur))
                out.append(cur)
            elif inside(prev):
                out.append(cut(prev, cur))
        points = out
    return points


def _cut_x(a, b, x):
    t = (x - a[0]) / (b[0] - a[0])
    return x, a[1] + t * (b[1] - a[1])


def _cut_y(a, b, y):
    t = (y - a[1]) / (b[1] - a[1])
    return a[0] + t * (b[0] - a[0]), y


def _path(ring) -> str:
    w, h = size()
    points = _clip([project(lon, lat) for lon, lat in ring], w, h)
    if len(points) < 3:
        return ""
    cmds, last = [], None
    for x, y in points:
        pt = (round(x), round(y))
        if last is not None and abs(pt[0] - last[0]) < 1.5 and abs(pt[1] - last[1]) < 1.5:
            continue
        cmds.append(("M" if last is None else "L") + f"{pt[0]:g} {pt[1]:g}")
        last = pt
    return "".join(cmds) + "Z"


def size() -> tuple[int, int]:
    _, _, height = _scale()
    return WIDTH, int(round(height))


def dots(cells: list[tuple[float, float, int]]) -> list[dict]:
    """Places with articles as circles (area by count) where they fall in the region."""
    if not cells:
        return []
    top = max(n for _, _, n in cells)
    w, h = size()
    out = []
    for lon, lat, n in cells:
        x, y = project(lon, lat)
        if 0 <= x <= w and 0 <= y <= h:
            out.append({"x": round(x, 1), "y": round(y, 1), "r": round(3 + 14 * math.sqrt(n / top), 1), "n": n})
    return sorted(out, key=lambda d: -d["r"])
