"""Configuration: shipped configs, overrides, round trips and one-line validation errors."""

import re

import pytest

from cars.learn.config import Config, ConfigError, apply_overrides, config_from_dict, load_config, shipped_config_names
from cars.sim.track import load_track


def test_shipped_configs_load_and_their_tracks_exist():
    assert {"default", "generalist"} <= set(shipped_config_names())
    for name in shipped_config_names():
        config = load_config(name)
        assert config.evolution.population == 100
        for track in config.track.names:
            load_track(track)
    assert load_config("generalist").track.generated > 0


def test_default_toml_is_written_from_the_definitions_and_documents_every_setting():
    from cars.learn.config import CONFIGS_DIR, default_toml

    text = (CONFIGS_DIR / "default.toml").read_text()
    assert text == default_toml(), "regenerate: python -m cars.learn.config > cars/configs/default.toml"
    for line in text.splitlines():
        if re.match(r"^\s*[a-z_]+\s*=", line):
            assert "#" in line, f"setting without documentation: {line}"


def test_toml_round_trip(tmp_path):
    config = load_config("default", {"brain.hidden": "[16, 8]", "evolution.selection": "rank", "seed": "9"})
    path = tmp_path / "c.toml"
    path.write_text(config.to_toml())
    assert load_config(path) == config
    assert config.brain.hidden == (16, 8) and config.seed == 9


def test_override_value_forms():
    base = Config()
    c = apply_overrides(base, {"brain.hidden": "16,8", "brain.activation": "relu", "track.names": "oval,sbends",
                               "evolution.mutation_rate": "0.05", "car.max_speed": "250"})
    assert c.brain.hidden == (16, 8) and c.brain.activation == "relu" and c.track.names == ("oval", "sbends")
    assert c.evolution.mutation_rate == 0.05 and c.car.max_speed == 250.0
    assert base.brain.hidden == Config().brain.hidden  # the original is untouched


@pytest.mark.parametrize("key, value, words", [
    ("evolution.population", "0", ["evolution.population", "0"]),
    ("evolution.mutation_rate", "1.5", ["evolution.mutation_rate", "[0, 1]", "1.5"]),
    ("evolution.mutation_sigma", "-0.1", ["evolution.mutation_sigma", "[0, 10]"]),
    ("sensors.rays", "0", ["sensors.rays", "0"]),
    ("evolution.elitism", "100", ["evolution.elitism", "population"]),
    ("evolution.selection", "best", ["evolution.selection", "tournament"]),
    ("brain.hidden", "[0]", ["brain.hidden"]),
    ("evolution.population", "many", ["evolution.population", "integer"]),
    ("car.max_speed", "nan", ["car.max_speed"]),
    ("evolution.unknown", "1", ["unknown key", "evolution.unknown"]),
    ("nosection.x", "1", ["unknown key", "nosection.x"]),
])
def test_invalid_overrides_fail_with_one_clear_line(key, value, words):
    with pytest.raises(ConfigError) as info:
        load_config("default", {key: value})
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_invalid_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[evolution]\npopulation = 0\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: evolution\.population"):
        load_config(bad)
    bad.write_text("[evolution]\nmutation_rat = 0.1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: unknown key 'evolution\.mutation_rat'"):
        load_config(bad)
    bad.write_text("[evolution\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="no such config"):
        load_config("nonexistent")
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")


def test_dataclass_defaults_equal_the_default_toml():
    assert load_config("default") == Config()


def test_partial_user_config_keeps_defaults():
    config = config_from_dict({"evolution": {"population": 30, "elitism": 2}}, "mine.toml")
    assert config.evolution.population == 30 and config.sensors.rays == Config().sensors.rays
