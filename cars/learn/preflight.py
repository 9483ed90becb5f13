"""Before a run or a drive starts: will it fit in memory, and can its cars fit on its roads?

Settings are validated one by one (cars.sim.settings); some combinations pass every rule and still
cannot run: 100,000 cars with eight hidden layers of 1024 need terabytes, a long track with 2000-unit
rays needs a ray table of gigabytes, a car wider than the road crashes before it moves. These are
refused here, in one line with the estimate, before any file or folder is made.

The estimate counts the big arrays, measured on the real code (peak resident memory of one
generation, minus the interpreter's):
  learner     about GA_BYTES_PER_GENE bytes per gene of the population (genomes, the PopulationNet copy,
              the rows it gathers per step, the float64 random draws of selection and mutation);
              CMA-ES also keeps CMA_MATRICES matrices of G x G float64 (covariance, eigenvectors, eigh).
  ray casting per car CAST_BYTES x candidates x rays (the (candidates, rays, cars) work arrays).
  track       TABLE_BYTES x points x candidates to build a track's candidate wall table.
where the candidates (wall segments a ray of the sensor length may hit from one piece of road) are
bounded by the track's point spacing: 2 * (3 * ray length / mean spacing) + 8, at most all 2K walls.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Iterable

from cars.learn.brain import OUTPUTS
from cars.learn.config import Config, ConfigError, learner_section
from cars.sim.track import Track

BASE_BYTES = 200 << 20  # Python, numpy, the modules
GA_BYTES_PER_GENE = 40
CMA_MATRICES = 5
CAST_BYTES = 16
TABLE_BYTES = 300
GENERATED_TRACK_POINTS = 600  # procedural tracks have a few hundred points (cars.sim.trackgen)
GENERATED_TRACK_SPACING = 12.0


class DoesNotFit(ConfigError):
    """Settings that pass every rule but cannot run on this machine (one line, with the estimate)."""


def genome_size(config: Config) -> int:
    """Weights and biases of the config's brain (engine genome layout), without building it."""
    sizes = [config.sensors.rays + 1, *config.brain.hidden, len(OUTPUTS)]
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def candidates(points: int, mean_spacing: float, ray_length: float) -> int:
    """An upper estimate of the candidate walls per piece of road (see the module docstring)."""
    return int(min(2 * points, 2 * math.ceil(3 * ray_length / max(mean_spacing, 1e-9)) + 8))


def track_shapes(tracks: Iterable[Track], generated: int) -> list[tuple[int, float]]:
    shapes = [(len(t.centerline), t.length / len(t.centerline)) for t in tracks]
    return shapes + [(GENERATED_TRACK_POINTS, GENERATED_TRACK_SPACING)] * min(generated, 1)


def estimate_bytes(config: Config, tracks: Iterable[Track], *, cars: int | None = None) -> dict[str, int]:
    """The estimated peak memory of a run (or, with `cars`, of a drive of that many cars), by part."""
    section = learner_section(config)
    population = cars if cars is not None else int(getattr(section, "population", 1)) + 1
    genes = genome_size(config)
    shapes = track_shapes(tracks, config.track.generated) or [(GENERATED_TRACK_POINTS, GENERATED_TRACK_SPACING)]
    widest = max(candidates(k, spacing, config.sensors.length) for k, spacing in shapes)
    parts = {
        "brains": population * genes * GA_BYTES_PER_GENE,
        "ray casting": population * widest * (CAST_BYTES * config.sensors.rays + 24),
        "track tables": max(k * candidates(k, s, config.sensors.length) * TABLE_BYTES for k, s in shapes),
        "the program": BASE_BYTES,
    }
    if cars is None and config.algorithm.name == "cmaes":
        parts["covariance"] = CMA_MATRICES * 8 * genes * genes
    return parts


def available_bytes() -> int | None:
    """Memory this process may still use: MemAvailable, capped by a cgroup (container) limit; None if unknown."""
    found: list[int] = []
    try:
        text = Path("/proc/meminfo").read_text()
        match = re.search(r"^MemAvailable:\s+(\d+) kB", text, re.M)
        if match:
            found.append(int(match.group(1)) * 1024)
    except OSError:
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        if limit.isdigit():
            found.append(int(limit) - used)
    except (OSError, ValueError):
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError, AttributeError):
            return None
    return max(0, min(found))


def size_text(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EiB"  # pragma: no cover


def check_fits(parts: dict[str, int], what: str, advice: str, available: int | None = None) -> None:
    """DoesNotFit when the estimate exceeds the memory available (`what` says what needs it)."""
    available = available_bytes() if available is None else available
    total = sum(parts.values())
    if available is None or total <= available:
        return
    biggest = ", ".join(f"{name} {size_text(size)}" for name, size in sorted(parts.items(), key=lambda p: -p[1])[:2])
    raise DoesNotFit(f"{what} need about {size_text(total)} of memory ({biggest}), more than the "
                     f"{size_text(available)} available; {advice}")


def check_cars_fit_roads(config: Config, tracks: Iterable[Track], source: str) -> None:
    """A car at least as wide as the road touches both walls where it stands."""
    for track in tracks:
        if config.car.width >= track.width:
            raise DoesNotFit(f"{source}: car.width {config.car.width:g} does not fit on track {track.name} "
                             f"(road width {track.width:g}); the car would crash where it starts")


def check_run_fits(config: Config, tracks: list[Track], source: str, available: int | None = None) -> None:
    """Refuse a run that cannot work on this machine, before anything is written."""
    check_cars_fit_roads(config, tracks, source)
    section = learner_section(config)
    population = int(getattr(section, "population", 1))
    count = len(tracks) + config.track.generated
    what = (f"{source}: {population:,} brains of {genome_size(config):,} weights ({config.sensors.rays} rays of "
            f"length {config.sensors.length:g}) on {count} track{'s' if count != 1 else ''}")
    check_fits(estimate_bytes(config, tracks), what,
               "lower the population, brain.hidden, sensors.rays or sensors.length", available)


def check_drive_fits(config: Config, track: Track, source: str, available: int | None = None) -> None:
    """Refuse a drive whose car cannot fit the road or whose ray tables cannot fit in memory."""
    check_cars_fit_roads(config, [track], source)
    what = (f"{source}: rays of length {config.sensors.length:g} on track {track.name} "
            f"({len(track.centerline):,} points)")
    check_fits(estimate_bytes(config, [track], cars=1), what, "drive a simpler track", available)
