"""Regenerate the shipped tracks in cars/tracks/ from the shape definitions below.

    python scripts/make_tracks.py            # writes cars/tracks/*.json
    python scripts/make_tracks.py --png DIR  # also draws each track to DIR/<name>.png

Each track is built from a few shape primitives (arcs and straights) or from sparse control points
smoothed by a closed Catmull-Rom spline, resampled to a point every ~12 units, validated by
cars.sim.track.Track, and written with coordinates rounded to 0.01.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from cars.sim import geometry  # noqa: E402
from cars.sim.track import TRACKS_DIR, Track, load_track, track_json  # noqa: E402

SPACING = 12.0


def rounded_polygon(vertices: list[tuple[float, float]], radii: float | list[float]) -> np.ndarray:
    """Closed path along a polygon whose corner i is replaced by a circular arc of radius radii[i].

    Corner at v with unit edge directions a (in) and b (out) and signed turn phi (> 0 clockwise on
    screen): the arc is tangent to both edges at v - a t and v + b t with t = r tan(|phi| / 2), and
    its centre lies r along the normal towards the turn. The path starts mid-way along edge 0 -> 1.
    """
    p = np.array(vertices, dtype=np.float64)
    r = np.broadcast_to(np.asarray(radii, dtype=np.float64), (len(p),))
    a = p - np.roll(p, 1, axis=0)
    a /= np.hypot(a[:, 0], a[:, 1])[:, None]
    b = np.roll(a, -1, axis=0)
    phi = np.arctan2(geometry.cross2(a, b), np.sum(a * b, axis=1))
    t = r * np.tan(np.abs(phi) / 2)
    edge = geometry.segment_lengths(p)
    if np.any(t + np.roll(t, -1) > edge + 1e-9):
        raise ValueError(f"corner radii too large for the edges: tangents {np.round(t, 1)}, edges {np.round(edge, 1)}")
    pieces = [(p[:1] + p[1:2]) / 2]
    for i in list(range(1, len(p))) + [0]:
        s = p[i] - a[i] * t[i]
        centre = s + r[i] * np.sign(phi[i]) * np.array([-a[i, 1], a[i, 0]])
        start = np.arctan2(*(s - centre)[::-1])
        u = np.linspace(0.0, 1.0, max(2, int(abs(phi[i]) * r[i] / 4)))
        pieces.append(centre + r[i] * np.stack([np.cos(start + u * phi[i]), np.sin(start + u * phi[i])], axis=1))
    path = np.concatenate(pieces)
    keep = np.concatenate([[True], np.hypot(*np.diff(path, axis=0).T) > 1e-9])
    return geometry.resample_closed(path[keep], SPACING)


def smooth(control: list[tuple[float, float]]) -> np.ndarray:
    return geometry.smooth_closed(np.array(control, dtype=np.float64), SPACING)


def oval() -> Track:
    """Stadium: two long straights and two wide half circles. The default, learnable in a few generations."""
    return Track("Oval", 85, rounded_polygon([(140, 190), (1260, 190), (1260, 710), (140, 710)], 260))


def hairpins() -> Track:
    """A fast top straight, then a serpentine of three 180-degree hairpins (radius 60) back west."""
    r, top, low, floor = 60, 330, 700, 790
    legs = [1000, 880, 760, 640]  # x of the vertical legs, 2 r apart; each hairpin joins two of them
    vertices = [(150, 100), (1250, 100), (1250, floor), (legs[0], floor),
                (legs[0], top), (legs[1], top), (legs[1], low), (legs[2], low),
                (legs[2], top), (legs[3], top), (legs[3], floor), (150, floor)]
    radii = [100, 100, 100, r, r, r, r, r, r, r, r, 100]
    return Track("Hairpins", 64, rounded_polygon(vertices, radii))


def sbends() -> Track:
    """A zigzag of linked S-bends along the top and the right side, a long sweeping bottom."""
    vertices = [(150, 230), (380, 110), (590, 260), (800, 110), (1010, 260), (1270, 200),
                (1160, 420), (1290, 600), (1200, 790), (200, 790)]
    radii = [120, 140, 140, 140, 140, 80, 100, 110, 120, 150]
    return Track("S-bends", 70, rounded_polygon(vertices, radii))


def long() -> Track:
    """A long circuit mixing straights, fast sweepers, a chicane and slow corners."""
    vertices = [(220, 100), (1000, 100), (1300, 230), (1280, 460), (1010, 420), (860, 560),
                (1250, 660), (1280, 820), (700, 820), (560, 620), (400, 800), (110, 780),
                (110, 420), (380, 380), (380, 250), (110, 230)]
    radii = [80, 150, 100, 70, 90, 80, 80, 80, 80, 80, 80, 90, 80, 60, 60, 50]
    return Track("Long", 60, rounded_polygon(vertices, radii))


def city() -> Track:
    """Blocks of a city grid: right-angle corners rounded to radius 45, width 60."""
    vertices = [(150, 100), (650, 100), (650, 300), (1000, 300), (1000, 100), (1250, 100), (1250, 800),
                (900, 800), (900, 550), (550, 550), (550, 800), (150, 800)]
    return Track("City", 60, rounded_polygon(vertices, 45))


def kidney() -> Track:
    """A smooth bean shape whose inward dent turns the other way, from a Catmull-Rom spline."""
    control = [(700, 140), (1100, 130), (1290, 380), (1180, 700), (930, 790), (770, 640),
               (630, 640), (470, 790), (220, 710), (110, 430), (280, 160)]
    return Track("Kidney", 80, smooth(control))


TRACKS = {"oval": oval, "hairpins": hairpins, "sbends": sbends, "long": long, "city": city, "kidney": kidney}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--png", type=Path, help="also draw each track into this folder")
    parser.add_argument("only", nargs="*", help="track names to rebuild (default all)")
    args = parser.parse_args()
    for name, build in TRACKS.items():
        if args.only and name not in args.only:
            continue
        track = build()
        path = TRACKS_DIR / f"{name}.json"
        path.write_text(track_json(track, decimals=2), encoding="utf-8")
        track = load_track(path)
        print(f"{name:10s} width {track.width:g}  points {len(track.centerline):4d}  length {track.length:6.0f}  "
              f"checkpoints {len(track.checkpoints):3d}  bounds {tuple(round(v) for v in track.bounds())}")
        if args.png:
            draw(track, args.png / f"{name}.png")


def draw(track: Track, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(14, 9), dpi=70)
    ax.fill(track.left_wall[:, 0], track.left_wall[:, 1], color="0.8")
    ax.fill(track.right_wall[:, 0], track.right_wall[:, 1], color="white")
    for wall, colour in ((track.left_wall, "tab:blue"), (track.right_wall, "tab:red")):
        closed = np.concatenate([wall, wall[:1]])
        ax.plot(closed[:, 0], closed[:, 1], color=colour, lw=1.5)
    ax.plot(*np.concatenate([track.centerline, track.centerline[:1]]).T, color="0.5", lw=0.5, ls="--")
    for i, (a, b) in enumerate(track.checkpoints):
        ax.plot([a[0], b[0]], [a[1], b[1]], color="green" if i else "black", lw=3 if i == 0 else 0.5)
    x, y = track.start_position
    ax.arrow(x, y, 40 * np.cos(track.start_heading), 40 * np.sin(track.start_heading), width=6, color="black")
    ax.set_xlim(0, 1400)
    ax.set_ylim(900, 0)
    ax.set_aspect("equal")
    ax.set_title(f"{track.name}: width {track.width:g}, length {track.length:.0f}")
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
