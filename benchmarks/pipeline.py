"""Every figure of docs/BENCHMARKS.md in one run, on the real broker; JSON on stdout.

Per run, on fresh topics of their own (6 partitions, so two scorers split them evenly):

- scorer throughput: N handbook transactions (and, separately, T texts) preloaded, then
  one ``streamml worker`` with role ``scorer``; events/s from the first prediction's
  Kafka timestamp to the last one's (startup excluded; wall time with it is reported);
- the bare loop (``benchmarks/bare_loop.py``: confluent-kafka, the same stage code, dict
  state) and the Quix Streams peer (``benchmarks/peer/``, when its venv is set up) on the
  same input, in the same run: ratios streamml / bare and streamml / peer;
- scaling: two scorer processes in one group;
- latency: one scorer fed at half its measured rate, event (send) time to prediction;
- trainer: examples learned per second; snapshot bytes, time to take and sign, to
  publish to Kafka, to verify and load;
- memory: the bytes of feature state per customer at 1,000,000 customers and 100,000
  terminals, held the way a scorer's tables hold it.

    .venv/bin/python benchmarks/pipeline.py --runs 3 > bench.json
    .venv/bin/python benchmarks/pipeline.py --smoke      # CI: a few thousand events

Kafka: ``KAFKA_BOOTSTRAP_SERVERS``, else ``--bootstrap``, else the local broker
(``streamml services up`` is started when nothing listens). The sink's figure comes from
``benchmarks/bench_sink.py`` (it needs MinIO).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from streamml.admin import ensure_topics
from streamml.contracts import decode_record
from streamml.lakefiles import record_class
from streamml.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PEER_PYTHON = ROOT / ".venv-peer" / "bin" / "python"
PARTITIONS = 6


def log(message: str) -> None:
    print(f"[pipeline {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, bootstrap: str, work: Path) -> None:
        self.bootstrap = bootstrap
        self.work = work
        self.uid = uuid.uuid4().hex[:6]
        self.made = 0
        self.snapshots: dict[str, bytes] = {}

    def settings(self, name: str) -> Settings:
        """Fresh topics and consumer groups for each measurement."""
        self.made += 1
        name = f"{name}-{self.made}"
        settings = Settings(
            kafka_bootstrap_servers=self.bootstrap,
            topic_prefix=f"bench-{self.uid}-{name}-",
            app_id=f"bench-{self.uid}-{name}",
            topic_partitions=PARTITIONS,
            state_dir=self.work / name / "state",
        )
        ensure_topics(settings)
        if self.snapshots:  # every pipeline starts with the same trained models
            producer = Producer({**settings.kafka_client_config(), "message.max.bytes": 2**25})
            for task, data in self.snapshots.items():
                producer.produce(settings.topics.model_snapshots, data, task.encode())
            assert producer.flush(60) == 0, "the run's model snapshots were not published"
        return settings

    def env(self, settings: Settings, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "STREAMML_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "STREAMML_TOPIC_PREFIX": settings.topic_prefix,
            "STREAMML_APP_ID": settings.app_id,
            "STREAMML_STATE_DIR": str(settings.state_dir),
            "STREAMML_TOPIC_PARTITIONS": str(PARTITIONS),
            **extra,
        }

    def preload(
        self, settings: Settings, source: str, limit: int, rate: float | None = None
    ) -> None:
        """``streamml produce``: records stamped with their send time, no labels."""
        command = [sys.executable, "-m", "streamml", "produce", "--source", source]
        command += ["--limit", str(limit), "--no-progress", "--no-labels"]
        if source == "emotion6":
            command += ["--split", "all"]
        if rate is not None:
            command += ["--rate", str(rate)]
        subprocess.run(command, env=self.env(settings), check=True, stdout=subprocess.DEVNULL)

    def start(self, name: str, command: list[str], settings: Settings, **env: str) -> Process:
        path = self.work / f"{name}-{uuid.uuid4().hex[:4]}.log"
        return Process(command, self.env(settings, **env), path)


class Process:
    """A pipeline process; its log goes to ``path``; its peak RSS is read before it ends."""

    def __init__(self, command: list[str], env: dict[str, str], path: Path) -> None:
        self.path = path
        with path.open("wb") as out:
            self.popen = subprocess.Popen(command, env=env, stdout=out, stderr=out)
        self.peak = 0.0
        self.cpu = 0.0

    def cpu_s(self) -> float:
        """User + system CPU seconds used so far (startup included), last reading kept."""
        try:
            fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
            self.cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (FileNotFoundError, IndexError, ValueError):
            pass
        return self.cpu

    def peak_rss_mib(self) -> float:
        """The highest VmHWM read so far: a process that ends by itself (the peer) keeps
        the reading :meth:`check` took while it ran."""
        try:
            for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak = max(self.peak, int(line.split()[1]) / 1024)
        except FileNotFoundError:
            pass
        return self.peak

    def check(self) -> None:
        self.peak_rss_mib()
        self.cpu_s()
        if self.popen.poll() not in (None, 0):
            tail = self.path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.path.name} exited with {self.popen.returncode}:\n{tail}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(60)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def collect(
    settings: Settings,
    topic: str,
    n: int,
    timeout: float,
    alive: Callable[[], None] = lambda: None,
) -> list[tuple[int, bytes]]:
    """The first ``n`` records of ``topic`` as (Kafka timestamp ms, value)."""
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"collect-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    records: list[tuple[int, bytes]] = []
    deadline = time.monotonic() + timeout
    last_report = time.monotonic()
    try:
        while len(records) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: {len(records)} of {n} records after {timeout:.0f} s")
            for message in consumer.consume(5000, timeout=0.5):
                if message.error() is None:
                    records.append((message.timestamp()[1], message.value() or b""))
            alive()
            if time.monotonic() - last_report > 15:
                last_report = time.monotonic()
                log(f"{topic}: {len(records)} of {n}")
    finally:
        consumer.close()
    return records[:n]


def records_in(settings: Settings, topic: str) -> int:
    consumer = Consumer({**settings.kafka_client_config(), "group.id": "watermarks"})
    try:
        metadata = consumer.list_topics(topic, timeout=30).topics[topic]
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            for p in metadata.partitions
        )
    finally:
        consumer.close()


def first_stamp(settings: Settings, topic: str) -> int | None:
    """The earliest Kafka timestamp among the first records of ``topic``'s partitions."""
    consumer = Consumer({**settings.kafka_client_config(), "group.id": "first-stamp"})
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        stamps: dict[int, int] = {}
        deadline = time.monotonic() + 10
        while len(stamps) < len(partitions) and time.monotonic() < deadline:
            for message in consumer.consume(100, timeout=0.5):
                if message.error() is None:
                    stamps.setdefault(message.partition() or 0, message.timestamp()[1])
        return min(stamps.values()) if stamps else None
    finally:
        consumer.close()


def served_versions(settings: Settings, topic: str, records: list[tuple[int, bytes]]) -> list[str]:
    """The model versions of the predictions (each pipeline must serve the run's models)."""
    cls = record_class(settings.topics, topic)
    return sorted({str(decode_record(cls, value).model_version) for _, value in records})


def rate_of(records: list[tuple[int, bytes]], began_ms: int | None = None) -> float:
    """Records per second from ``began_ms`` (else the first record) to the last one."""
    stamps = [ms for ms, _ in records]
    start = min(stamps) if began_ms is None else min(began_ms, *stamps)
    span = (max(stamps) - start) / 1000
    return (len(stamps) - (began_ms is None)) / span if span > 0 else float("nan")


def pipeline_command(kind: str, task: str, events: int) -> list[str] | None:
    if kind == "streamml":
        return [sys.executable, "-m", "streamml", "worker"]
    if kind == "bare":
        return [sys.executable, str(ROOT / "benchmarks" / "bare_loop.py"), "--task", task]
    script = ROOT / "benchmarks" / "peer" / "quix_fraud.py"
    if kind == "quix" and task == "fraud" and PEER_PYTHON.exists() and script.exists():
        return [str(PEER_PYTHON), str(script), "--events", str(events)]
    return None


def throughput(
    bench: Bench, kind: str, task: str, events: int, processes: int = 1, **env: str
) -> dict[str, Any]:
    """Preload, start ``processes`` copies of pipeline ``kind``, time every prediction."""
    command = pipeline_command(kind, task, events)
    if command is None:
        return {"skipped": f"{kind} has no {task} pipeline here (see benchmarks/peer/)"}
    name = f"{kind}-{task}-{processes}"
    settings = bench.settings(name)
    if task == "fraud":
        bench.preload(settings, "fraud", events)
    else:  # emotion6 has 20,000 texts; CrowdFlower's tweets make up the rest
        bench.preload(settings, "emotion6", min(events, 20_000))
        if events > 20_000:
            bench.preload(settings, "crowdflower", events - 20_000)
    topic_in = settings.topics.transactions if task == "fraud" else settings.topics.texts
    events = records_in(settings, topic_in)
    topic = (
        settings.topics.fraud_predictions
        if task == "fraud"
        else settings.topics.emotion_predictions
    )
    env = {"STREAMML_ROLE": "scorer", "STREAMML_DRIFT_ENABLED": "false", **env}
    if kind == "quix":
        command = [
            *command,
            "--bootstrap",
            bench.bootstrap,
            "--topic-prefix",
            settings.topic_prefix,
        ]
        command += ["--app-id", settings.app_id, "--state-dir", str(settings.state_dir)]
    started = time.monotonic()
    machine = machine_cpu()
    with ExitStack() as stack:
        running = [bench.start(name, command, settings, **env) for _ in range(processes)]
        for process in running:
            stack.callback(process.stop)

        def alive() -> None:
            for process in running:
                process.check()

        records = collect(settings, topic, events, timeout=max(300.0, events / 100), alive=alive)
        wall = time.monotonic() - started
        rss = [process.peak_rss_mib() for process in running]
        cpu = [process.cpu_s() for process in running]
        busy = machine_busy_share(machine, machine_cpu())
    # From the first output of any stage (a two-stage pipeline's first stage may run far
    # ahead of its second) to the last prediction.
    began = first_stamp(settings, settings.topics.fraud_enriched) if task == "fraud" else None
    figure = {
        "events": events,
        "events_per_s": round(rate_of(records, began)),
        "wall_s": round(wall, 1),
        "model_versions": served_versions(settings, topic, records),
    }
    log(f"{name}: {figure['events_per_s']} events/s")
    return {
        **figure,
        "peak_rss_mib": [round(r) for r in rss],
        # CPU of each pipeline process, startup included, and how busy the machine's
        # cores were (broker and collector included): is a run bound by the cores?
        "cpu_s": [round(c, 1) for c in cpu],
        "machine_busy_share": round(busy, 3),
    }


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def machine_busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else float("nan")


def latency(bench: Bench, rate: float, seconds: float) -> dict[str, Any]:
    """One scorer fed at ``rate``: from each transaction's send time to its prediction."""
    settings = bench.settings("latency")
    n = max(100, int(rate * seconds))
    process = bench.start(
        "latency",
        [sys.executable, "-m", "streamml", "worker"],
        settings,
        STREAMML_ROLE="scorer",
        STREAMML_DRIFT_ENABLED="false",
    )
    try:
        ready = time.monotonic() + 90
        while "engine ready" not in process.path.read_text(errors="replace"):
            process.check()
            if time.monotonic() > ready:
                raise TimeoutError("the latency scorer did not start")
            time.sleep(0.5)
        bench.preload(settings, "fraud", n, rate=rate)
        topics = settings.topics
        outputs = collect(settings, topics.fraud_predictions, n, timeout=300, alive=process.check)
    finally:
        process.stop()
    inputs = collect(settings, topics.transactions, n, timeout=60)
    sent = {decode(settings, topics.transactions, v)["event_id"]: ms for ms, v in inputs}
    delays = sorted(
        ms - sent[decode(settings, topics.fraud_predictions, v)["event_id"]] for ms, v in outputs
    )
    return {
        "rate_per_s": round(rate),
        "events": n,
        "p50_ms": delays[len(delays) // 2],
        "p99_ms": delays[int(len(delays) * 0.99)],
        "max_ms": delays[-1],
    }


def decode(settings: Settings, topic: str, value: bytes) -> dict[str, Any]:
    record = decode_record(record_class(settings.topics, topic), value)
    return {"event_id": record.event_id}


def trainer_figures(settings: Settings, examples: int) -> tuple[dict[str, Any], bytes]:
    """Examples learned per second and the snapshot's size and handling times; the
    signed snapshot (every pipeline of the run scores with it)."""
    from streamml.datasets.fraud_handbook import FILE_NAME, read_fraud_handbook
    from streamml.features.store import FraudFeatureStore
    from streamml.internal import Example
    from streamml.models.fraud import fraud_model
    from streamml.records import Label, Transaction
    from streamml.snapshots import sign, verify
    from streamml.train import Trainer

    store = FraudFeatureStore()
    features: dict[str, tuple[Transaction, dict[str, float]]] = {}
    batch: list[Example] = []
    for record in read_fraud_handbook(settings.data_dir / FILE_NAME, limit=examples):
        if isinstance(record, Transaction):
            features[record.event_id] = (record, store.on_transaction(record))
        elif isinstance(record, Label) and record.event_id in features:
            tx, x = features.pop(record.event_id)
            batch.append(
                Example(tx.event_id, x, record.label == "1", tx.event_time, record.label_time)
            )
    trainer = Trainer("fraud", fraud_model(), every_examples=10**9, every_seconds=10**9)
    began = time.perf_counter()
    for example in batch:
        trainer.learn(example)
    learned = len(batch) / (time.perf_counter() - began)
    key = settings.model_signing_key.get_secret_value().encode()
    began = time.perf_counter()
    data = sign(trainer.snapshot(), key)
    take_s = time.perf_counter() - began
    producer = Producer({**settings.kafka_client_config(), "message.max.bytes": 32 * 1024 * 1024})
    began = time.perf_counter()
    producer.produce(settings.topics.model_snapshots, data, b"fraud")
    producer.flush(60)
    publish_s = time.perf_counter() - began
    began = time.perf_counter()
    verify(data, key).model()
    load_s = time.perf_counter() - began
    figures = {
        "examples": len(batch),
        "examples_per_s": round(learned),
        "snapshot_bytes": len(data),
        "take_and_sign_ms": round(take_s * 1000, 1),
        "publish_ms": round(publish_s * 1000, 1),
        "verify_and_load_ms": round(load_s * 1000, 1),
    }
    return figures, data


def emotion_snapshots(settings: Settings, texts: int) -> dict[str, bytes]:
    """Signed emotion6 and emotion13 models, each trained on up to ``texts`` labelled
    texts (emotion6's training split; CrowdFlower's first tweets)."""
    from streamml.datasets import SourceOptions, get_source
    from streamml.internal import Example
    from streamml.models.emotion import emotion_model
    from streamml.records import TextEvent
    from streamml.snapshots import sign
    from streamml.train import Trainer

    key = settings.model_signing_key.get_secret_value().encode()
    signed = {}
    for source, task in (("emotion6", "emotion6"), ("crowdflower", "emotion13")):
        trainer = Trainer(task, emotion_model(), every_examples=10**9, every_seconds=10**9)
        options = SourceOptions(split="train", limit=texts)
        for text in get_source(source, settings, options).records():
            if isinstance(text, TextEvent) and text.label is not None:
                when = text.event_time
                trainer.learn(Example(text.event_id, text.text, text.label, when, when, task))
        signed[task] = sign(trainer.snapshot(), key)
    return signed


def memory_figures(customers: int, terminals: int) -> dict[str, Any]:
    """:func:`measure_memory` in a fresh interpreter."""
    command = [sys.executable, __file__, "--memory-of", str(customers), str(terminals)]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(out.stdout))


def measure_memory(customers: int, terminals: int) -> None:
    """RSS growth per customer (and terminal) of feature state held as the worker's tables
    hold it (serialized bytes in a dict keyed by id), after 3 payments each."""
    from datetime import UTC, datetime, timedelta

    from streamml.features.fraud import (
        CustomerState,
        TerminalState,
        customer_features,
        terminal_features,
    )
    from streamml.records import Transaction

    def rss() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    start = datetime(2018, 4, 1, tzinfo=UTC)

    def table(n: int, prefix: str, new: Any, update: Any) -> dict[str, bytes]:
        """``n`` states, each after 3 payments, serialized under their ids."""
        held: dict[str, bytes] = {}
        for i in range(n):
            state = new()
            for k in range(3):
                when = start + timedelta(hours=k)
                who = f"{prefix}{i}"
                customer, terminal = (who, "t") if prefix == "c" else ("c", who)
                update(state, Transaction(f"e{i}-{k}", when, customer, terminal, 10.0 + k, "web"))
            held[f"{prefix}{i}"] = state.to_bytes()
        return held

    base = rss()
    terminal_table = table(terminals, "t", TerminalState, terminal_features)
    after_terminals = rss()
    customer_table = table(customers, "c", CustomerState, customer_features)
    after = rss()
    figures = {
        "customers": customers,
        "terminals": terminals,
        "bytes_per_customer": round((after - after_terminals) / customers),
        "bytes_per_terminal": round((after_terminals - base) / terminals),
        "state_bytes_per_customer": round(sum(map(len, customer_table.values())) / customers),
        "state_bytes_per_terminal": round(sum(map(len, terminal_table.values())) / terminals),
        "rss_mib": round(after / 2**20),
    }
    print(json.dumps(figures))


def median_spread(values: list[float]) -> dict[str, float]:
    clean = [v for v in values if not math.isnan(v)]
    if not clean:
        return {}
    return {
        "median": round(statistics.median(clean), 3),
        "min": round(min(clean), 3),
        "max": round(max(clean), 3),
        "runs": len(clean),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--texts", type=int, default=50_000)
    parser.add_argument(
        "--train-examples", type=int, default=100_000, help="handbook rows the fraud model learns"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-seconds", type=float, default=60.0)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--terminals", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/streamml-bench"))
    parser.add_argument("--smoke", action="store_true", help="a few thousand events, one run")
    parser.add_argument("--no-peer", action="store_true", help="skip the Quix Streams peer")
    parser.add_argument("--memory-of", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_of:
        measure_memory(*args.memory_of)
        return
    if args.smoke:
        args.events, args.texts, args.runs, args.latency_seconds = 3000, 1000, 1, 5.0
        args.train_examples = 5000
        args.customers, args.terminals = 20_000, 2_000
    args.work.mkdir(parents=True, exist_ok=True)
    if not args.no_peer:  # its own venv: Quix pins an older confluent-kafka
        subprocess.run(
            ["bash", str(ROOT / "benchmarks" / "peer" / "setup.sh")], check=True, stdout=sys.stderr
        )
    bootstrap = args.bootstrap or local_broker()
    bench = Bench(bootstrap, args.work)
    # Trained models first: every pipeline scores with them, as in production.
    log("training the run's models")
    trainer, fraud_snapshot = trainer_figures(bench.settings("trainer"), args.train_examples)
    bench.snapshots = {
        "fraud": fraud_snapshot,
        **emotion_snapshots(bench.settings("emotion"), 16_000),
    }
    runs: list[dict[str, Any]] = []
    for run in range(args.runs):
        log(f"run {run + 1} of {args.runs}")
        figures: dict[str, Any] = {}
        for kind in ("streamml", "bare") if args.no_peer else ("streamml", "bare", "quix"):
            figures[f"{kind}_fraud"] = throughput(bench, kind, "fraud", args.events)
        for kind in ("streamml", "bare"):
            figures[f"{kind}_texts"] = throughput(bench, kind, "texts", args.texts)
        figures["streamml_fraud_2_scorers"] = throughput(bench, "streamml", "fraud", args.events, 2)
        one = figures["streamml_fraud"]["events_per_s"]
        figures["latency_half_load"] = latency(bench, one / 2, args.latency_seconds)
        # The paced producer and the reader share the 2 cores: a lighter load shows the
        # latency of a scorer that is not competing with them for CPU.
        figures["latency_quarter_load"] = latency(bench, one / 4, args.latency_seconds)
        figures["ratios"] = ratios(figures)
        runs.append(figures)
        log(json.dumps(figures["ratios"]))
    summary = {
        "command": " ".join(sys.argv),
        "bootstrap": bootstrap,
        "runs": runs,
        "trainer": trainer,
        "memory": memory_figures(args.customers, args.terminals),
    }
    summary["medians"] = medians(runs)
    json.dump(summary, sys.stdout, indent=1)
    print()


def ratios(figures: dict[str, Any]) -> dict[str, float]:
    def eps(name: str) -> float:
        return float(figures[name].get("events_per_s", float("nan")))

    out = {
        "streamml_over_bare_fraud": eps("streamml_fraud") / eps("bare_fraud"),
        "streamml_over_bare_texts": eps("streamml_texts") / eps("bare_texts"),
        "two_scorers_over_one": eps("streamml_fraud_2_scorers") / eps("streamml_fraud"),
    }
    if "events_per_s" in figures.get("quix_fraud", {}):
        out["streamml_over_quix_fraud"] = eps("streamml_fraud") / eps("quix_fraud")
    return {k: round(v, 3) for k, v in out.items()}


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, first in runs[0].items():
        if name == "ratios":
            out[name] = {k: median_spread([r[name][k] for r in runs]) for k in first}
        elif isinstance(first, dict):
            out[name] = {
                k: median_spread([float(r[name][k]) for r in runs])
                for k, v in first.items()
                if isinstance(v, int | float)
            }
    return out


def local_broker() -> str:
    subprocess.run(
        [sys.executable, "-m", "streamml", "services", "up"], check=True, stdout=subprocess.DEVNULL
    )
    return "127.0.0.1:9092"


if __name__ == "__main__":
    main()
