"""Configuration layers: defaults, a TOML file, a secrets directory, the environment,
command-line flags; errors in one line naming the setting and its source; secrets never
shown, and refused where they would leak (the file, the command line)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError as PydanticValidationError

from streamml.cli import main
from streamml.config import Layers, describe, load_settings, parse_flags
from streamml.errors import ConfigurationError
from streamml.settings import Settings


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "streamml.toml"
    path.write_text(
        'app_id = "from-file"\n'
        "topic_partitions = 4\n"
        'emotion_default_taxonomy = "support"\n'
        "[kafka]\n"
        'bootstrap_servers = "file-broker:9092"\n'
        'sasl_username = "file-user"\n'
        "[emotion_tasks.support]\n"
        'labels = ["angry", "happy"]\n'
        "closed = true\n"
    )
    return path


@pytest.fixture
def secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "secrets"
    path.mkdir()
    monkeypatch.setenv("STREAMML_SECRETS_DIR", str(path))
    return path


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "STREAMML_APP_ID",
        "STREAMML_TOPIC_PARTITIONS",
        "STREAMML_CONFIG_FILE",
        "STREAMML_SECRETS_DIR",
        "STREAMML_KAFKA_SASL_PASSWORD",
        "STREAMML_S3_SECRET_KEY",
    ):
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
    assert settings.kafka_sasl_username == "file-user"  # a non-secret beside secrets is fine
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


def test_a_secret_is_masked_even_in_an_error() -> None:
    with pytest.raises(PydanticValidationError) as error:
        Settings(kafka_sasl_password=["not", "a", "string"])
    line = describe(error.value, Layers(), {})
    assert line.startswith("invalid setting kafka_sasl_password = ******** (from default)")
    assert "not" not in line.split("(from")[0]


def test_a_secret_comes_from_its_file_without_the_trailing_newline(
    secrets_dir: Path,
) -> None:
    (secrets_dir / "STREAMML_KAFKA_SASL_PASSWORD").write_text(" pass word \n")
    settings, layers = load_settings()
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == " pass word "
    assert layers.source("kafka_sasl_password", {}) == str(
        secrets_dir / "STREAMML_KAFKA_SASL_PASSWORD"
    )


def test_the_environment_wins_over_a_secrets_file(
    secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (secrets_dir / "STREAMML_S3_SECRET_KEY").write_text("from-file\n")
    monkeypatch.setenv("STREAMML_S3_SECRET_KEY", "from-env")
    settings, _ = load_settings()
    assert settings.s3_secret_key is not None
    assert settings.s3_secret_key.get_secret_value() == "from-env"


def test_a_missing_secrets_dir_names_the_variable_and_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no-secrets"
    monkeypatch.setenv("STREAMML_SECRETS_DIR", str(missing))
    with pytest.raises(ConfigurationError) as error:
        load_settings()
    assert str(error.value) == f"STREAMML_SECRETS_DIR={missing}: no such directory"


def test_a_secrets_file_that_names_no_secret_is_ignored_with_a_warning(
    secrets_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (secrets_dir / "STREAMML_KAFKA_SASL_PASSWORD_OLD").write_text("x")
    (secrets_dir / "STREAMML_APP_ID").write_text("from-secrets")
    (secrets_dir / "..data").mkdir()  # Kubernetes' link to the current files
    with caplog.at_level(logging.WARNING):
        settings, _ = load_settings()
    assert settings.app_id == "streamml"
    assert "STREAMML_KAFKA_SASL_PASSWORD_OLD is not a streamml setting; ignored" in caplog.text
    assert "STREAMML_APP_ID is not a secret setting; ignored" in caplog.text
    assert "..data" not in caplog.text
    assert "STREAMML_SECRETS_DIR is not a streamml setting" not in caplog.text


def test_a_secret_on_the_command_line_is_refused_without_showing_it() -> None:
    result = CliRunner().invoke(main, ["--set", "kafka_sasl_password=hunter2", "config", "show"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: --set kafka_sasl_password: a secret on the command line is visible to every "
        "user (ps); give it in the environment (STREAMML_KAFKA_SASL_PASSWORD) or in a file "
        "STREAMML_KAFKA_SASL_PASSWORD in STREAMML_SECRETS_DIR"
    ]


def test_a_secret_in_the_config_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "streamml.toml"
    path.write_text('[kafka]\nsasl_username = "svc"\nsasl_password = "hunter2"\n')
    with pytest.raises(ConfigurationError) as error:
        load_settings(path)
    message = str(error.value)
    assert message.startswith(f"configuration file {path}: kafka_sasl_password is a secret")
    assert "STREAMML_KAFKA_SASL_PASSWORD in STREAMML_SECRETS_DIR" in message
    assert "hunter2" not in message and "\n" not in message


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
    config_file: Path, secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMML_TOPIC_PARTITIONS", "8")
    (secrets_dir / "STREAMML_KAFKA_SASL_PASSWORD").write_text("file-secret\n")
    result = CliRunner().invoke(
        main, ["--config", str(config_file), "--set", "app_id=cli", "config", "show"]
    )
    assert result.exit_code == 0, result.output
    lines = dict(line.split(" = ", 1) for line in result.output.splitlines())
    assert lines["app_id"] == '"cli"  # --set app_id'
    assert lines["topic_partitions"] == "8  # STREAMML_TOPIC_PARTITIONS"
    assert lines["kafka_bootstrap_servers"] == f'"file-broker:9092"  # {config_file}'
    secret_file = secrets_dir / "STREAMML_KAFKA_SASL_PASSWORD"
    assert lines["kafka_sasl_password"] == f'"********"  # {secret_file}'
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
