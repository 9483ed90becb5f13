"""Procedural tracks: seeded, deterministic, varied, always valid and drivable."""

from __future__ import annotations

import numpy as np

from cars.sim import trackgen
from cars.sim.track import Track, load_track, save_track


def test_same_seed_same_track_and_different_seeds_differ():
    a, b = trackgen.generate_track(7), trackgen.generate_track(7)
    np.testing.assert_array_equal(a.centerline, b.centerline)
    assert a.width == b.width and a.name == b.name == "Generated 7"
    c = trackgen.generate_track(8)
    assert c.centerline.shape != a.centerline.shape or not np.allclose(c.centerline, a.centerline)


def test_fifty_seeds_all_valid_drivable_and_inside_the_world(tmp_path):
    lengths, directions = [], []
    for seed in range(50):
        track = trackgen.generate_track(seed)
        assert trackgen.WIDTH_RANGE[0] <= track.width <= trackgen.WIDTH_RANGE[1]
        xmin, ymin, xmax, ymax = track.bounds()
        assert xmin >= 700 - 600 - 1e-6 and xmax <= 700 + 600 + 1e-6, (seed, track.bounds())
        assert ymin >= 450 - 400 - 1e-6 and ymax <= 450 + 400 + 1e-6, (seed, track.bounds())
        assert trackgen.drivable(track.centerline, track.width), seed
        again = Track.from_dict(track.to_dict())  # what `cars tracks --generate` writes loads back
        assert again.length == track.length
        lengths.append(track.length)
        area = np.sum(track.centerline[:, 0] * np.roll(track.centerline[:, 1], -1)
                      - np.roll(track.centerline[:, 0], -1) * track.centerline[:, 1])
        directions.append(area > 0)
    assert np.std(lengths) > 200  # variety, not one shape
    assert 10 < sum(directions) < 40  # both clockwise and anticlockwise
    save_track(trackgen.generate_track(3), tmp_path / "g.json")
    assert load_track(tmp_path / "g.json").name == "Generated 3"


def test_options_fix_width_and_bends():
    track = trackgen.generate_track(1, width=55, bends=6)
    assert track.width == 55


def test_drivable_rejects_tight_bends_and_close_stretches():
    angle = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    circle = np.stack([700 + 300 * np.cos(angle), 450 + 300 * np.sin(angle)], axis=1)
    assert trackgen.drivable(circle, 80)
    assert not trackgen.drivable(circle, 500)  # radius 300 < 0.75 * 500
    # a long thin stadium: its straights are 60 apart, road 60 wide -> too close
    assert not trackgen.drivable(np.concatenate([np.c_[np.linspace(0, 600, 50), np.zeros(50)],
                                                 np.c_[600 + 30 * np.sin(angle[:60]), 30 - 30 * np.cos(angle[:60])],
                                                 np.c_[np.linspace(600, 0, 50), np.full(50, 60)],
                                                 np.c_[-30 * np.sin(angle[:60]), 30 + 30 * np.cos(angle[:60])]]), 60)


def test_relax_bends_rounds_a_sharp_corner():
    square = np.concatenate([np.c_[np.arange(0, 400, 12.0), np.zeros(34)],
                             np.c_[np.full(34, 408.0), np.arange(0, 408, 12.0)],
                             np.c_[np.arange(408, 0, -12.0), np.full(34, 408.0)],
                             np.c_[np.zeros(34), np.arange(408, 0, -12.0)]])
    assert trackgen.curvature_radius(square).min() < 20
    relaxed = trackgen.relax_bends(square, 60)
    assert trackgen.curvature_radius(relaxed).min() >= 0.75 * 60
    middle = (relaxed[:, 0] > 150) & (relaxed[:, 0] < 250) & (relaxed[:, 1] < 100)
    assert middle.sum() >= 7
    np.testing.assert_allclose(relaxed[middle, 1], 0.0, atol=1e-9)  # away from the corners nothing moves
