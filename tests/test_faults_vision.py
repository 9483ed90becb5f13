"""Fault injection for digit-benchmark and digit-draw: hostile numbers, training that diverges, Ctrl-C at several
moments (in process, and in a real process after a marker line), a gzip file that unpacks to too much, and
output locations that cannot be written. Every case ends in one readable line and a known exit code, with
nothing lost and no non-finite weight saved. No assertion depends on timing: signals are sent at chosen
points of the code, or after a marker line has been read.
"""

import gzip
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import engine
import vision.benchmark
import vision.train
from vision.benchmark import main
from vision.data import CACHE_FILE, IDX_FILES, ArraySpec, LocalIdxSource, array_sha256, load_mnist
from vision.errors import DataError
from vision.idx import encode_idx, read_idx

ROOT = Path(__file__).resolve().parent.parent


def _synthetic_digits(n, rng):
    labels = rng.integers(0, 10, n).astype(np.uint8)
    pixels = rng.integers(0, 60, (n, 28, 28), dtype=np.uint8)
    pixels[np.arange(n)[:, None], (3 + 2 * labels)[:, None], np.arange(5, 23)] = 255
    return pixels, labels


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    rng = np.random.default_rng(0)
    (x_train, y_train), (x_test, y_test) = _synthetic_digits(700, rng), _synthetic_digits(100, rng)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    data_dir = tmp_path_factory.mktemp("data")
    np.savez(data_dir / CACHE_FILE, **arrays)
    return data_dir, {name: ArraySpec(a.shape, array_sha256(a)) for name, a in arrays.items()}


def _run(synthetic, out, *flags):
    data_dir, spec = synthetic
    return main(["--data-dir", str(data_dir), "--out", str(out), "--epochs", "2", "--no-progress", *flags], _spec=spec)


def _one_error_line(capsys, prefix="digit-benchmark: error: "):
    err = capsys.readouterr().err.strip("\n")
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(prefix), err
    return lines[0]


def _check_run_folder(out, json_copy=None):
    """Every model file in the run folder is in the report, loads, and holds only finite weights; returns the
    report (report.json and the --json copy are identical)."""
    report = json.loads((out / "report.json").read_text())
    if json_copy is not None:
        assert json.loads(json_copy.read_text()) == report
    saved = sorted(p.stem for p in out.glob("*.npz"))
    assert saved == sorted(report["models"])
    for name in saved:
        model = engine.load(out / f"{name}.npz")
        assert all(np.isfinite(p.data).all() for p in model.parameters())
    return report


# --- numbers out of range: one line, exit code 2, nothing created ---------------------------------------------
HOSTILE_FLAGS = [
    ("--lr", "1e308"), ("--lr", "nan"), ("--lr", "inf"), ("--lr", "-inf"), ("--lr", "0"), ("--lr", "10.5"),
    ("--epochs", "0"), ("--epochs", "1001"), ("--epochs", "1.5"), ("--epochs", "1e3"),
    ("--batch-size", "0"), ("--batch-size", "4097"), ("--batch-size", "99999999999"),
    ("--seed", "-1"), ("--seed", "4294967296"), ("--seed", "one"),
    ("--weight-decay", "-0.1"), ("--weight-decay", "nan"), ("--weight-decay", "2"),
    ("--patience", "0"), ("--patience", "1001"), ("--shards", "0"), ("--shards", "65"),
    ("--limit", "0"), ("--limit", "-5"), ("--limit", "100000"),
]


@pytest.mark.parametrize("flag, value", HOSTILE_FLAGS)
def test_out_of_range_numbers_give_one_line_and_exit_code_2(flag, value, synthetic, tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(synthetic, out, flag, value) == 2
    line = _one_error_line(capsys)
    assert f"argument {flag}:" in line and ("expected" in line or "only" in line)
    assert not out.exists()


def test_the_config_refuses_what_the_flags_refuse():
    with pytest.raises(ValueError, match=r"TrainConfig.lr: expected a number in \(0, 10\], got 1e\+308"):
        vision.train.TrainConfig(epochs=1, lr=1e308)
    with pytest.raises(ValueError, match="TrainConfig.seed: expected an integer from 0 to 4294967295, got -1"):
        vision.train.TrainConfig(epochs=1, seed=-1)


# --- training that diverges ----------------------------------------------------------------------------------
def _poison_after(monkeypatch, calls, model_name=None, what="loss"):
    """Make the data-parallel step return a NaN loss (or plant an inf weight) on its ``calls``-th call."""
    count = {"n": 0}
    real = vision.train.DataParallel

    class Poisoned(real):
        def forward_backward(self, x, y):
            loss, logits = super().forward_backward(x, y)
            count["n"] += 1
            if count["n"] == calls:
                if what == "loss":
                    return float("nan"), logits
                self.model.parameters()[0].data[0] = np.inf  # as if the update had overflowed
            return loss, logits

    monkeypatch.setattr(vision.train, "DataParallel", Poisoned)


def test_nan_loss_in_the_first_epoch_stops_the_run_and_saves_nothing_of_it(synthetic, tmp_path, capsys, monkeypatch):
    _poison_after(monkeypatch, calls=2)
    out = tmp_path / "run"
    assert _run(synthetic, out, "--json", str(tmp_path / "copy.json")) == 2
    line = _one_error_line(capsys)
    assert "mlp: training diverged: the training loss became nan at epoch 1, batch 2" in line
    assert "learning rate 0.002 is probably too high" in line and "nothing of it was saved" in line
    report = _check_run_folder(out, tmp_path / "copy.json")
    assert report["models"] == {} and report["diverged"]["model"] == "mlp"
    assert "Diverged" in (out / "report.md").read_text()


def test_nan_loss_later_keeps_the_last_finite_epochs(synthetic, tmp_path, capsys, monkeypatch):
    steps_per_epoch = -(-630 // 128)  # 700 digits minus 70 for validation, batch 128
    _poison_after(monkeypatch, calls=2 * steps_per_epoch + 1)  # mlp: 2 good epochs; cnn: NaN at its first step
    out = tmp_path / "run"
    assert _run(synthetic, out, "--epochs", "3") == 2
    line = _one_error_line(capsys)
    assert "mlp: training diverged: the training loss became nan at epoch 3, batch 1" in line
    assert "kept its best of 2 finite epoch(s)" in line
    report = _check_run_folder(out)
    assert list(report["models"]) == ["mlp"] and report["models"]["mlp"]["epochs"] == 2


def test_an_infinite_weight_is_caught_before_it_is_saved(synthetic, tmp_path, capsys, monkeypatch):
    _poison_after(monkeypatch, calls=5, what="weight")  # the last step of epoch 1: only the weight check sees it
    out = tmp_path / "run"
    assert _run(synthetic, out, "--models", "cnn") == 2
    line = _one_error_line(capsys)
    assert "cnn: training diverged: a weight became non-finite during epoch 1" in line
    assert not (out / "cnn.npz").exists()
    _check_run_folder(out)


# --- Ctrl-C at chosen moments, in process ----------------------------------------------------------------------
def _interrupt_during(monkeypatch, module, name, times=1, nth=1):
    """Wrap ``module.name`` so that its ``nth`` call presses Ctrl-C (``times`` times) just before doing its work."""
    real = getattr(module, name)
    calls = {"n": 0}

    def pressed(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == nth:
            for _ in range(times):
                os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, pressed)


@pytest.mark.parametrize("moment, target, times, nth, models", [
    ("evaluating the last model", "evaluate", 1, 2, "mlp,cnn"),
    ("evaluating the last model, Ctrl-C pressed three times", "evaluate", 3, 2, "mlp,cnn"),
    ("evaluating the first model", "evaluate", 1, 1, "mlp,cnn"),
    ("plotting", "plot_confusion_matrices", 1, 1, "mlp,cnn"),
    ("writing the report", "write_report", 1, 1, "mlp"),
])
def test_ctrl_c_after_training_still_writes_the_report_of_every_completed_model(
        moment, target, times, nth, models, synthetic, tmp_path, capsys, monkeypatch):
    _interrupt_during(monkeypatch, vision.benchmark, target, times, nth)
    out, json_copy = tmp_path / "run", tmp_path / "copy.json"
    assert _run(synthetic, out, "--json", str(json_copy), "--models", models) == 130
    report = _check_run_folder(out, json_copy)
    expected = ["mlp"] if (target == "evaluate" and nth == 1) else models.split(",")
    # A report being written is finished first: it then describes the complete run.
    assert list(report["models"]) == expected and report["interrupted"] is (target != "write_report")
    assert "interrupted" in capsys.readouterr().err
    if target == "plot_confusion_matrices":  # the plot under way and those after it are skipped, left no trace
        assert set(report["files"]) == {"learning_curves", "model_mlp", "model_cnn"}
        assert sorted(p.name for p in out.iterdir() if p.suffix == ".png") == ["learning_curves.png"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_ctrl_c_while_the_second_model_trains_keeps_the_first(synthetic, tmp_path, monkeypatch):
    count = {"n": 0}
    real = vision.train.DataParallel

    class PressedDuringCnn(real):
        def forward_backward(self, x, y):
            count["n"] += 1
            if count["n"] == 12:  # mlp: 2 epochs of 5 steps; this is the cnn's second step
                os.kill(os.getpid(), signal.SIGINT)
            return super().forward_backward(x, y)

    monkeypatch.setattr(vision.train, "DataParallel", PressedDuringCnn)
    out = tmp_path / "run"
    assert _run(synthetic, out) == 130
    assert list(_check_run_folder(out)["models"]) == ["mlp"]


# --- Ctrl-C in a real process, after a marker line -------------------------------------------------------------
CHILD = ("import json, sys; from vision.benchmark import main; from vision.data import ArraySpec; "
         "spec = {k: ArraySpec(tuple(v[0]), v[1]) for k, v in json.load(open(sys.argv[1])).items()}; "
         "sys.exit(main(sys.argv[2:], _spec=spec))")


def run_until_marker(argv, marker, timeout=120):
    """Start ``argv``, read its output until a line contains ``marker``, send SIGINT, wait for the end.
    Returns (exit code, all stdout, stderr)."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = []
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            process.send_signal(signal.SIGINT)
            break
    out, err = process.communicate(timeout=timeout)
    return process.returncode, "".join(seen) + out, err


@pytest.mark.parametrize("marker, models", [("mlp: test accuracy", "mlp"), ("mlp epoch  1/", "mlp,cnn")])
def test_ctrl_c_in_a_real_process(marker, models, synthetic, tmp_path):
    data_dir, spec = synthetic
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps({k: [list(v.shape), v.sha256] for k, v in spec.items()}))
    out, json_copy = tmp_path / "run", tmp_path / "copy.json"
    code, stdout, err = run_until_marker(
        [sys.executable, "-c", CHILD, str(spec_file), "--data-dir", str(data_dir), "--out", str(out),
         "--epochs", "2", "--no-progress", "--json", str(json_copy), "--models", models], marker)
    assert marker in stdout
    assert code in (0, 130), err  # 0 only if the run ended before the signal arrived
    assert "Traceback" not in err
    report = _check_run_folder(out, json_copy)
    assert report["interrupted"] is (code == 130)
    if marker.endswith("test accuracy"):
        assert list(report["models"]) == ["mlp"]  # it was complete when Ctrl-C came


# --- data that unpacks to more than it can be ----------------------------------------------------------------
def test_idx_reading_stops_at_the_expected_size(tmp_path):
    bomb = tmp_path / "labels.gz"
    bomb.write_bytes(gzip.compress(encode_idx(np.zeros(3_000_000, np.uint8)), compresslevel=9))
    assert bomb.stat().st_size < 10_000
    with pytest.raises(DataError, match=r"labels.gz: unpacks to more than the 10,008 bytes"):
        read_idx(bomb, max_bytes=10_008)
    plain = tmp_path / "labels"
    plain.write_bytes(encode_idx(np.zeros(20_000, np.uint8)))
    with pytest.raises(DataError, match=r"labels: holds more than the 10,008 bytes"):
        read_idx(plain, max_bytes=10_008)
    assert read_idx(plain, max_bytes=20_008).shape == (20_000,)


def _idx_folder(folder, labels_bomb):
    folder.mkdir()
    small = {"x_train": np.zeros((3, 28, 28), np.uint8), "y_train": np.zeros(3, np.uint8),
             "x_test": np.zeros((2, 28, 28), np.uint8), "y_test": np.zeros(2, np.uint8)}
    for file, (array, _, _, _) in IDX_FILES.items():
        data = small[array] if not (labels_bomb and array == "y_test") else np.zeros(50_000_000, np.uint8)
        (folder / file).write_bytes(gzip.compress(encode_idx(data), compresslevel=1))
    return folder


def test_a_gzip_bomb_among_the_idx_files_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    folder = _idx_folder(tmp_path / "data", labels_bomb=True)
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: unpacks to more than the 10,008 bytes"):
        load_mnist(folder, sources=[LocalIdxSource(folder)], log=lambda m: None)
    monkeypatch.setattr(vision.data, "default_sources", lambda d, progress=True: [LocalIdxSource(d)])
    assert main(["--data-dir", str(folder), "--out", str(tmp_path / "run"), "--no-progress"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the sources' progress lines, one error line
    assert last.startswith("digit-benchmark: error: could not obtain MNIST") and "unpacks to more than the 10,008" in last
    assert not (tmp_path / "run").exists()


# --- output locations checked before any work -----------------------------------------------------------------
def test_unwritable_outputs_are_refused_before_any_work(synthetic, tmp_path, capsys):
    data_dir, spec = synthetic
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    cases = [
        (["--out", str(blocker / "run")], "argument --out: cannot write into"),
        (["--json", str(tmp_path / "missing" / "r.json")], "argument --json: cannot write into"),
        (["--json", str(tmp_path)], "is a folder, expected a file path"),
        (["--json", str(blocker / "r.json")], "argument --json: cannot write into"),
    ]
    for flags, message in cases:
        assert main(["--data-dir", str(data_dir), "--no-progress", *flags], _spec=spec) == 2
        assert message in _one_error_line(capsys)
    assert main(["--data-dir", str(blocker), "--out", str(tmp_path / "r2"), "--no-progress"]) == 2
    assert "cannot create the data folder" in _one_error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_draw_window_checks_its_screenshot_path_before_training(synthetic, tmp_path, capsys, monkeypatch):
    from vision.draw.cli import main as draw_main

    monkeypatch.chdir(tmp_path)
    data_dir, spec = synthetic
    code = draw_main(["--train-quick", "--data-dir", str(data_dir), "--screenshot", "no/such/folder/s.png"], _spec=spec)
    assert code == 2
    assert "argument --screenshot: cannot write into no/such/folder" in _one_error_line(capsys, "digit-draw: error: ")
    assert not (tmp_path / "runs").exists()  # nothing was trained
