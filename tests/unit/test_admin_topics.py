"""The topics streamml creates: partitions, and the operator's topic configs."""

from __future__ import annotations

from streamml.admin import SNAPSHOT_TOPIC_CONFIG, topic_specs
from streamml.decode import MAX_DEAD_LETTER_RAW
from streamml.settings import Settings


def test_topic_config_applies_to_every_topic_and_snapshots_stay_compacted() -> None:
    settings = Settings(topic_config={"retention.ms": "-1", "min.insync.replicas": "2"})
    specs = {spec.topic: spec for spec in topic_specs(settings)}
    topics = settings.topics
    assert set(specs) == set(topics.all())
    for name, spec in specs.items():
        assert spec.config["retention.ms"] == "-1" and spec.config["min.insync.replicas"] == "2"
        if name == topics.model_snapshots:
            assert spec.config["cleanup.policy"] == SNAPSHOT_TOPIC_CONFIG["cleanup.policy"]
        else:
            assert "cleanup.policy" not in spec.config
    assert specs[topics.fraud_training].num_partitions == 1
    assert specs[topics.transactions].num_partitions == settings.topic_partitions


def test_without_topic_config_only_snapshots_and_dead_letters_get_configs() -> None:
    specs = {spec.topic: spec.config for spec in topic_specs(Settings())}
    special = {name for name in specs if name.endswith(("model-snapshots", "dead-letters"))}
    assert all(specs[name] == {} for name in set(specs) - special)
    # A dead letter carries up to 8 MiB of its record: the topic must take it.
    assert int(specs["dead-letters"]["max.message.bytes"]) > MAX_DEAD_LETTER_RAW
