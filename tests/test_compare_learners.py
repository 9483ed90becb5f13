"""scripts/compare_learners.py: the quick comparison end to end (real runs, real files), its input checks,
and the curve arithmetic of its plots."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "compare_learners.py"


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("compare_learners", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_comparison_writes_tables_plots_and_replayable_champions(tmp_path):
    out = tmp_path / "cmp"
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--learners", "ga,es", "--seeds", "1", "--unseen",
                           "2", "--generalist-car-steps", "5000", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "[4/4]" in done.stdout
    data = json.loads((out / "comparison.json").read_text())
    cells = {(c["algo"], c["setting"]) for c in data["cells"]}
    assert cells == {("ga", "track"), ("es", "track"), ("ga", "generalist"), ("es", "generalist")}
    for cell in data["cells"]:
        steps = [point[0] for point in cell["curve"]]
        assert steps == sorted(steps) and steps[-1] == cell["car_steps"]
        budget = data["meta"]["car_steps"] if cell["setting"] == "track" else 5000
        assert cell["car_steps"] >= budget  # only the budget stopped the run
        assert 0 <= cell["unseen_laps"] <= 2
        assert (Path(cell["folder"]) / "champion.npz").is_file()
    track = [c for c in data["cells"] if c["setting"] == "track"]
    assert all(c["first_lap_car_steps"] is not None for c in track)  # the oval is lapped within the budget
    table = (out / "comparison.md").read_text()
    assert "| track | GA |" in table and "| generalist | OpenAI-ES |" in table
    for name in ("progress_car_steps.png", "progress_seconds.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    replay = subprocess.run([sys.executable, "-m", "cars", "drive", "--champion", track[0]["folder"] + "/champion.npz",
                             "--track", "oval", "--headless"], capture_output=True, text=True, timeout=60)
    assert replay.returncode == 0, replay.stderr


@pytest.mark.parametrize("argv, words", [
    (["--learners", "ga,nope"], ["nope"]),
    (["--settings", "moon"], ["moon"]),
    (["--car-steps", "0"], ["--car-steps"]),
    (["--seeds", "0"], ["--seeds"]),
])
def test_bad_arguments_print_one_line_and_exit_2(compare, argv, words, tmp_path, capsys):
    assert compare.main([*argv, "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert all(word in err[0] for word in words)
    assert not (tmp_path / "x").exists()


def test_best_at_steps_through_generations_and_starts_at_zero(compare):
    x = np.array([100.0, 300.0, 600.0])
    best = np.array([0.2, 0.1, 1.5])  # a later generation may score lower: the best known stays
    np.testing.assert_array_equal(compare.best_at(x, best, np.array([50, 100, 299, 300, 599, 1000])),
                                  [0.0, 0.2, 0.2, 0.2, 0.2, 1.5])


def test_a_learner_config_over_the_generalist_setting(compare):
    es = compare.cell_config("es", "generalist", 3, 1000, None)
    assert es.algorithm.name == "es" and es.algorithm.car_steps == 1000 and es.seed == 3
    assert es.track.generated == 2 and es.fitness.aggregate == "worst" and es.es.sigma == 0.5
    ga = compare.cell_config("ga", "track", 1, 1000, "oval")
    assert ga.track.names == ("oval",) and ga.evolution.generations == 1_000_000
