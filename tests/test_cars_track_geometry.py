"""Shared 2D helpers of cars.sim.geometry against hand-computed cases and slow references."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from cars.sim import geometry


def slow_cross(s, t) -> bool:
    """Exact (rational) reference: do closed segments s and t share a point?"""
    p1, p2, q1, q2 = [tuple(map(Fraction, v)) for v in (s[:2], s[2:], t[:2], t[2:])]

    def orient(a, b, c):
        v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        return (v > 0) - (v < 0)

    def on(a, b, c):  # c collinear with ab: inside its box?
        return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])

    o1, o2, o3, o4 = orient(p1, p2, q1), orient(p1, p2, q2), orient(q1, q2, p1), orient(q1, q2, p2)
    if o1 != o2 and o3 != o4 and o1 * o2 <= 0 and o3 * o4 <= 0:
        return True
    return ((o1 == 0 and on(p1, p2, q1)) or (o2 == 0 and on(p1, p2, q2))
            or (o3 == 0 and on(q1, q2, p1)) or (o4 == 0 and on(q1, q2, p2)))


@pytest.mark.parametrize("a, b, expected", [
    ((0, 0, 10, 10), (0, 10, 10, 0), True),     # X
    ((0, 0, 10, 0), (0, 5, 10, 5), False),      # parallel
    ((0, 0, 10, 0), (10, 0, 10, 10), True),     # touch at an end point
    ((0, 0, 10, 0), (5, 0, 15, 0), True),       # collinear overlap
    ((0, 0, 10, 0), (11, 0, 20, 0), False),     # collinear apart
    ((0, 0, 10, 0), (5, 1, 5, 10), False),      # T that stops short
])
def test_segments_cross_hand_cases(a, b, expected):
    got = geometry.segments_cross(np.array([a], float), np.array([b], float))
    assert got.shape == (1, 1) and bool(got[0, 0]) is expected and slow_cross(a, b) is expected


def test_segments_cross_matches_exact_reference_on_random_integer_segments():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 12, size=(40, 4)).astype(float)  # small grid: many touching/collinear cases
    b = rng.integers(0, 12, size=(30, 4)).astype(float)
    a = a[np.any(a[:, :2] != a[:, 2:], axis=1)]
    b = b[np.any(b[:, :2] != b[:, 2:], axis=1)]
    got = geometry.segments_cross(a, b)
    expected = np.array([[slow_cross(s, t) for t in b] for s in a])
    np.testing.assert_array_equal(got, expected)
    assert 0 < expected.sum() < expected.size


def test_first_crossing_skips_neighbours_and_finds_a_loop():
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
    assert geometry.first_crossing(geometry.closed_segments(square), geometry.closed_segments(square), True) is None
    bow = np.array([[0, 0], [10, 10], [10, 0], [0, 10]], float)  # bow tie: segments 0 and 2 cross
    segs = geometry.closed_segments(bow)
    assert geometry.first_crossing(segs, segs, True, block=1) == (0, 2)
    assert geometry.first_crossing(segs[:1], segs[2:3], False) == (0, 0)


def test_offset_closed_is_mitred_and_capped():
    square = np.array([[0, 0], [100, 0], [100, 100], [0, 100]], float)  # clockwise on screen
    left = geometry.offset_closed(square, 10)
    np.testing.assert_allclose(left, [[-10, -10], [110, -10], [110, 110], [-10, 110]])  # outside
    spike = np.array([[0, 0], [100, 0], [0, 10], [-50, 5]], float)  # ~180-degree turn at vertex 1
    moved = np.hypot(*(geometry.offset_closed(spike, 10, miter_limit=2.0) - spike).T)
    assert moved.max() <= 20 + 1e-9


def test_point_segment_distances():
    segs = np.array([[0, 0, 10, 0], [0, 0, 0, 10]], float)
    pts = np.array([[5, 3], [-3, -4], [12, 0]], float)
    np.testing.assert_allclose(geometry.point_segment_distances(pts, segs), [[3, 5], [5, 5], [2, 12]])


def test_resample_and_catmull_rom():
    control = np.array([[0, 0], [300, 0], [300, 200], [0, 200]], float)
    even = geometry.resample_closed(control, 10)
    assert len(even) == 100
    np.testing.assert_allclose(geometry.segment_lengths(even), 10)
    dense = geometry.catmull_rom_closed(control, samples=16)
    np.testing.assert_allclose(dense[::16], control)  # passes through every control point
    smooth = geometry.smooth_closed(control, 12)
    assert np.ptp(geometry.segment_lengths(smooth)) < 0.5
    # no sharp corners: consecutive directions turn by a few degrees at most
    d = np.roll(smooth, -1, axis=0) - smooth
    turn = np.angle(np.exp(1j * np.diff(np.arctan2(d[:, 1], d[:, 0]))))
    assert np.abs(turn).max() < np.radians(15)


@pytest.mark.parametrize("block", [1, 3, 32])
def test_blocked_first_crossing_agrees_with_all_pairs(block):
    rng = np.random.default_rng(block)
    outcomes = set()
    for _ in range(20):
        k = int(rng.integers(5, 60))
        angle = np.sort(rng.uniform(0, 2 * np.pi, k))
        radius = rng.uniform(50, 100, k) * (1 + (rng.random(k) < 0.2) * rng.uniform(-0.9, 2, k))
        loop = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
        if rng.random() < 0.3:  # shuffle a few points: more crossings
            i, j = rng.integers(0, k, 2)
            loop[[i, j]] = loop[[j, i]]
        segs = geometry.closed_segments(loop)
        full = geometry.segments_cross(segs, segs)
        rows, cols = np.indices(full.shape)
        gap = (cols - rows) % k
        full &= (cols > rows) & (gap != 1) & (gap != k - 1)
        got = geometry.first_crossing(segs, segs, same=True, block=block)
        expected = [tuple(map(int, p)) for p in np.argwhere(full)]
        assert (got is None) == (not expected)
        outcomes.add(got is None)
        if got is not None:
            assert got in expected
        other = segs[::-1] + 5.0
        got = geometry.first_crossing(segs, other, same=False, block=block)
        assert (got is None) == (not geometry.segments_cross(segs, other).any())
    assert outcomes == {True, False}  # both simple and crossing loops were drawn
