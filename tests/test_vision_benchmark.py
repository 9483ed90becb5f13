"""End to end: the benchmark CLI on a tiny synthetic MNIST through the real code path, and bad flags."""

import json

import numpy as np
import pytest

import engine
from vision.benchmark import main
from vision.data import CACHE_FILE, ArraySpec, array_sha256

N_TRAIN, N_TEST = 1100, 200  # validation = the last 110 training digits


def _synthetic_digits(n, rng):
    """uint8 (n, 28, 28) toy digits that are easy to tell apart: class c is a bar at row 3 + 2c, plus noise."""
    labels = rng.integers(0, 10, n).astype(np.uint8)
    pixels = rng.integers(0, 60, (n, 28, 28), dtype=np.uint8)
    pixels[np.arange(n)[:, None], (3 + 2 * labels)[:, None], np.arange(5, 23)] = 255
    return pixels, labels


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A data dir holding a synthetic mnist.npz, and the spec (digests) that lets it pass verification."""
    rng = np.random.default_rng(0)
    (x_train, y_train), (x_test, y_test) = _synthetic_digits(N_TRAIN, rng), _synthetic_digits(N_TEST, rng)
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    data_dir = tmp_path_factory.mktemp("data")
    np.savez(data_dir / CACHE_FILE, **arrays)
    return data_dir, {name: ArraySpec(a.shape, array_sha256(a)) for name, a in arrays.items()}


@pytest.fixture(scope="module")
def finished_run(synthetic, tmp_path_factory):
    data_dir, spec = synthetic
    out = tmp_path_factory.mktemp("runs") / "run"
    json_copy = out.parent / "copy.json"
    code = main(["--data-dir", str(data_dir), "--out", str(out), "--epochs", "3", "--limit", "800",
                 "--json", str(json_copy), "--no-progress"], _spec=spec)
    return code, out, json_copy


def test_run_writes_every_file(finished_run):
    code, out, json_copy = finished_run
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert names == {"report.md", "report.json", "learning_curves.png", "confusion_matrices.png",
                     "disagreements.png", "cnn_filters.png", "mlp.npz", "cnn.npz"}
    for png in ("learning_curves", "confusion_matrices", "disagreements", "cnn_filters"):
        assert (out / f"{png}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(json_copy.read_text()) == json.loads((out / "report.json").read_text())
    markdown = (out / "report.md").read_text()
    assert "| test accuracy |" in markdown and "![Learning curves](learning_curves.png)" in markdown


def test_report_numbers_are_sane(finished_run):
    _, out, _ = finished_run
    report = json.loads((out / "report.json").read_text())
    assert report["data"]["train_images"] == 800 and report["data"]["validation_images"] == 110
    assert report["data"]["test_images"] == N_TEST and report["interrupted"] is False
    expected_params = {"mlp": 235_146, "cnn": 206_922}
    for name, model in report["models"].items():
        assert model["params"] == expected_params[name]
        assert model["epochs"] == 3 and len(model["history"]) == 3
        assert 0.5 < model["test_accuracy"] <= 1.0  # chance is 0.1; the toy digits are easy
        assert 0 < model["test_loss"] < 2.3
        assert model["test_errors"] == round((1 - model["test_accuracy"]) * N_TEST)
        assert model["seconds_per_epoch"] > 0
        assert model["train_seconds"] == pytest.approx(3 * model["seconds_per_epoch"])
        assert model["train_images_per_second"] == pytest.approx(800 / model["seconds_per_epoch"], rel=1e-6)
        assert model["inference_images_per_second"] > 0 and 10 < model["peak_rss_mb"] < 1e5
        confusion = np.array(model["confusion_matrix"])
        assert confusion.shape == (10, 10) and confusion.sum() == N_TEST
        assert np.trace(confusion) == N_TEST - model["test_errors"]
        assert all(p is None or 0 <= p <= 1 for p in model["per_class"]["precision"])
        assert 1 <= model["best_epoch"] <= 3
        assert model["val_accuracy"] == model["history"][model["best_epoch"] - 1]["val_accuracy"]
    assert report["total_seconds"] > 0
    assert report["peak_rss_mb"] >= max(m["peak_rss_mb"] for m in report["models"].values())


def test_saved_models_reproduce_the_reported_accuracy(finished_run, synthetic):
    _, out, _ = finished_run
    data = np.load(synthetic[0] / CACHE_FILE)
    x_test = data["x_test"][:, None].astype(np.float32) / np.float32(255)
    report = json.loads((out / "report.json").read_text())
    for name in ("mlp", "cnn"):
        model = engine.load(out / f"{name}.npz")
        model.eval()
        accuracy = float((model(x_test).argmax(axis=1) == data["y_test"]).mean())
        assert accuracy == pytest.approx(report["models"][name]["test_accuracy"], abs=1e-9)


def test_same_seed_same_result(finished_run, synthetic, tmp_path):
    data_dir, spec = synthetic
    code = main(["--data-dir", str(data_dir), "--out", str(tmp_path / "again"), "--epochs", "3", "--limit", "800",
                 "--models", "mlp", "--no-progress"], _spec=spec)
    assert code == 0
    first = json.loads((finished_run[1] / "report.json").read_text())["models"]["mlp"]
    again = json.loads((tmp_path / "again" / "report.json").read_text())["models"]["mlp"]
    assert again["test_loss"] == first["test_loss"] and again["confusion_matrix"] == first["confusion_matrix"]


@pytest.mark.parametrize("flags, message", [
    (["--epochs", "0"], "argument --epochs: expected an integer from 1 to 1000, got 0"),
    (["--limit", "-5"], "argument --limit: expected a positive number of training digits, got -5"),
    (["--models", "mlp,resnet"], "argument --models: unknown model resnet"),
    (["--batch-size", "many"], "argument --batch-size: expected an integer from 1 to 4096, got 'many'"),
    (["--lr", "-0.1"], "argument --lr: expected a number in (0, 10], got -0.1"),
    (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["--limit", "5000"], "argument --limit: only 990 training digits are available"),
])
def test_bad_flags_give_one_line_and_exit_code_2(flags, message, synthetic, tmp_path, capsys):
    data_dir, spec = synthetic
    out = tmp_path / "run"
    code = main(["--data-dir", str(data_dir), "--out", str(out), "--no-progress", *flags], _spec=spec)
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.startswith("digit-benchmark: error: ") and captured.err.count("\n") == 1
    assert message in captured.err
    assert not out.exists()  # nothing half-written left behind


def test_unwritable_out_and_json_paths(synthetic, tmp_path, capsys):
    data_dir, spec = synthetic
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(["--data-dir", str(data_dir), "--out", str(blocker / "run")], _spec=spec) == 2
    assert "argument --out: cannot write into" in capsys.readouterr().err
    assert main(["--data-dir", str(data_dir), "--out", str(tmp_path / "r"), "--json", str(tmp_path)], _spec=spec) == 2
    assert "argument --json:" in capsys.readouterr().err
    assert main(["--data-dir", str(data_dir), "--json", str(blocker / "r.json")], _spec=spec) == 2
    err = capsys.readouterr().err
    assert "argument --json: cannot write into" in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


def test_real_digests_reject_synthetic_data_without_the_internal_override(synthetic, tmp_path, capsys, monkeypatch):
    """Without ``_spec`` the synthetic cache fails verification; no source may then be contacted."""
    import vision.data

    data_dir, _ = synthetic
    copy = tmp_path / "data"
    copy.mkdir()
    (copy / CACHE_FILE).write_bytes((data_dir / CACHE_FILE).read_bytes())
    monkeypatch.setattr(vision.data, "default_sources", lambda folder, progress=True: [])
    code = main(["--data-dir", str(copy), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "x_train is uint8 (1100, 28, 28), expected uint8 (60000, 28, 28)" in err
    assert err.strip().splitlines()[-1].startswith("digit-benchmark: error: could not obtain MNIST")
    assert not (tmp_path / "run").exists()
