"""Configuration layers: defaults, a TOML file, the environment, command-line flags;
errors in one line naming the setting and its source; secrets never shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from streamml.cli import main
from streamml.config import load_settings, parse_flags
from streamml.errors import ConfigurationError


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "streamml.toml"
    path.write_text(
        'app_id = "from-file"\n'
        "topic_partitions = 4\n"
        'emotion_default_taxonomy = "support"\n'
        "[kafka]\n"
        'bootstrap_servers = "file-broker:9092"\n'
        'sasl_password = "file-secret"\n'
        "[emotion_tasks.support]\n"
        'labels = ["angry", "happy"]\n'
        "closed = true\n"
    )
    return path


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STREAMML_APP_ID", "STREAMML_TOPIC_PARTITIONS", "STREAMML_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)


def test_each_layer_overrides_the_one_before(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMML_TOPIC_PARTITIONS", "8")
    settings, _ = load_settings(config_file, parse_flags(["app_id=from-flag"]))
    assert settings.app_id == "from-flag"  # flag over file
    assert settings.topic_partitions == 8  # environment over file
    assert settings.kafka_bootstrap_servers == "file-broker:9092"  # file over default
    assert settings.emotion_tasks["support"].closed  # a mapping setting stays whole
    assert settings.topic_replication_factor == 1  # default


def test_the_file_can_be_named_by_the_environment(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMML_CONFIG_FILE", str(config_file))
    assert load_settings()[0].app_id == "from-file"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('kafka_bootstrap_server = "x"\n', "unknown setting 'kafka_bootstrap_server'"),
        ("topic_partitions = = 3\n", "not valid TOML"),
        (
            "topic_partitions = 0\n",
            "invalid setting topic_partitions = 0 (from {file}): Input should be greater",
        ),
    ],
)
def test_a_bad_file_fails_in_one_line_naming_file_and_setting(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as error:
        load_settings(path)
    assert message.format(file=path) in str(error.value)
    assert "\n" not in str(error.value)


def test_an_invalid_environment_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMML_TOPIC_PARTITIONS", "zero")
    with pytest.raises(ConfigurationError, match=r"from STREAMML_TOPIC_PARTITIONS"):
        load_settings()


def test_a_secret_is_masked_even_in_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as error:
        load_settings(flags=parse_flags(['kafka_sasl_password=["not", "a", "string"]']))
    assert "not" not in str(error.value).split("(from")[0].split("=")[1]
    assert "********" in str(error.value)


def test_flags_name_real_settings() -> None:
    with pytest.raises(ConfigurationError, match="unknown setting 'partitions'"):
        parse_flags(["partitions=3"])
    with pytest.raises(ConfigurationError, match="expected name=value"):
        parse_flags(["app_id"])


def test_an_unknown_variable_is_reported(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("STREAMML_KAFKA_BOOTSTRAP_SERVER", "typo:9092")
    with caplog.at_level(logging.WARNING):
        load_settings()
    assert "STREAMML_KAFKA_BOOTSTRAP_SERVER is not a streamml setting" in caplog.text


def test_config_show_prints_sources_and_masks_secrets(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMML_TOPIC_PARTITIONS", "8")
    result = CliRunner().invoke(
        main, ["--config", str(config_file), "--set", "app_id=cli", "config", "show"]
    )
    assert result.exit_code == 0, result.output
    lines = dict(line.split(" = ", 1) for line in result.output.splitlines())
    assert lines["app_id"] == '"cli"  # --set app_id'
    assert lines["topic_partitions"] == "8  # STREAMML_TOPIC_PARTITIONS"
    assert lines["kafka_bootstrap_servers"] == f'"file-broker:9092"  # {config_file}'
    assert lines["kafka_sasl_password"] == f'"********"  # {config_file}'
    assert lines["model_signing_key"] == '"********"  # default'
    assert "file-secret" not in result.output and "streamml-development-key" not in result.output


def test_invalid_configuration_exits_1_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAMML_TOPIC_PARTITIONS", "0")
    result = CliRunner().invoke(main, ["config", "show"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: invalid setting topic_partitions = '0' (from STREAMML_TOPIC_PARTITIONS): "
        "Input should be greater than or equal to 1"
    ]
