"""save / load: exact round trips, readable errors for bad files, state-dict shape checks."""

import json
import zipfile

import numpy as np
import pytest

import engine
from engine import (Conv2D, Dense, Dropout, Flatten, LeakyReLU, MaxPool2D, ModelFileError, AvgPool2D, ReLU,
                    Sequential, Sigmoid, Tanh)


def make_model(seed=0):
    rng = np.random.default_rng(seed)
    return Sequential(Conv2D(1, 4, 3, padding=1, rng=rng), ReLU(), MaxPool2D(2), Conv2D(4, 3, (3, 2), stride=2,
                      rng=rng), Tanh(), AvgPool2D(1), Flatten(), Dropout(0.25), Dense(3 * 3 * 3, 5, rng=rng),
                      LeakyReLU(0.05), Dense(5, 2, init="glorot", rng=rng), Sigmoid())


def test_round_trip_reproduces_outputs_exactly(tmp_path):
    model = make_model()
    path = engine.save(model, tmp_path / "model.npz", metadata={"accuracy": 0.99, "epochs": [1, 2]})
    loaded, metadata = engine.load_with_metadata(path)
    assert metadata == {"accuracy": 0.99, "epochs": [1, 2]}
    assert loaded.config() == model.config()
    x = np.random.default_rng(1).standard_normal((3, 1, 14, 13)).astype(np.float32)
    model.eval(), loaded.eval()
    np.testing.assert_array_equal(loaded(x), model(x))
    for name, value in model.state_dict().items():
        assert loaded.state_dict()[name].dtype == value.dtype
    assert isinstance(engine.load(path), Sequential)


def test_saved_file_is_plain_npz_without_pickles(tmp_path):
    path = engine.save(make_model(), tmp_path / "m.npz")
    with np.load(path, allow_pickle=False) as data:
        architecture = json.loads(str(data["__architecture__"]))
        assert architecture["type"] == "Sequential"
        assert data["param/0.weight"].shape == (4, 1, 3, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temp file left behind


def test_float64_model_round_trip(tmp_path):
    model = Sequential(Dense(3, 2, dtype=np.float64), Tanh())
    loaded = engine.load(engine.save(model, tmp_path / "m.npz"))
    assert loaded.parameters()[0].data.dtype == np.float64


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match=r"nope\.npz: no such model file"):
        engine.load(tmp_path / "nope.npz")


def test_garbage_file(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"this is not a model")
    with pytest.raises(ModelFileError, match=r"garbage\.npz: not an \.npz model file"):
        engine.load(path)


def test_truncated_file(tmp_path):
    path = engine.save(make_model(), tmp_path / "cut.npz")
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(ModelFileError, match=r"cut\.npz: not a readable model file"):
        engine.load(path)


def test_npz_that_is_not_a_model(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(ModelFileError, match=r"plain\.npz: not a model file"):
        engine.load(path)


def test_npz_with_pickled_object_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, __architecture__=np.array([{"type": "Sequential"}], dtype=object))
    with pytest.raises(ModelFileError, match=r"evil\.npz: not a readable model file"):
        engine.load(path)


def rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as data:
        contents = {key: data[key] for key in data.files}
    contents.update(changes)
    np.savez(path, **contents)


def test_weights_not_fitting_architecture(tmp_path):
    path = engine.save(make_model(), tmp_path / "m.npz")
    rewrite(path, **{"param/8.weight": np.zeros((5, 5), dtype=np.float32)})
    with pytest.raises(ModelFileError, match=r"m\.npz: .*8\.weight.*\(27, 5\).*\(5, 5\)"):
        engine.load(path)


def test_unknown_layer_and_bad_json(tmp_path):
    path = engine.save(make_model(), tmp_path / "m.npz")
    rewrite(path, __architecture__=np.array(json.dumps({"type": "Sequential", "layers": [{"type": "Magic"}]})))
    with pytest.raises(ModelFileError, match=r"m\.npz: invalid architecture: unknown layer type 'Magic'"):
        engine.load(path)
    rewrite(path, __architecture__=np.array("{not json"))
    with pytest.raises(ModelFileError, match=r"m\.npz: invalid architecture"):
        engine.load(path)


def test_empty_zip(tmp_path):
    path = tmp_path / "empty.npz"
    with zipfile.ZipFile(path, "w"):
        pass
    with pytest.raises(ModelFileError, match=r"empty\.npz"):
        engine.load(path)


def test_load_state_dict_shape_mismatch_names_layer_and_shapes():
    model = Sequential(Dense(4, 3), ReLU(), Dense(3, 2))
    state = model.state_dict()
    state["2.weight"] = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(ValueError, match=r"2\.weight: model has \(3, 2\), state dict has \(4, 2\)"):
        model.load_state_dict(state)


def test_load_state_dict_missing_and_unexpected_keys():
    model = Sequential(Dense(4, 3))
    with pytest.raises(ValueError, match=r"missing \['0\.bias'\], unexpected \['0\.extra'\]"):
        model.load_state_dict({"0.weight": np.zeros((4, 3)), "0.extra": np.zeros(1)})


def test_state_dict_is_a_copy_and_load_is_in_place():
    model = Sequential(Dense(2, 2, rng=np.random.default_rng(0)))
    state = model.state_dict()
    weight = model[0].weight.data
    state["0.weight"] += 1
    assert not np.array_equal(weight, state["0.weight"])
    model.load_state_dict(state)
    assert model[0].weight.data is weight
    np.testing.assert_array_equal(weight, state["0.weight"])
