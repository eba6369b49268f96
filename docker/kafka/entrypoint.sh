#!/usr/bin/env bash
# Run one Apache Kafka KRaft node from the project's jars.
#
# Defaults make a single combined node (broker + controller) that needs no configuration.
# Any broker property can be set from the environment with the convention of the Apache and
# Confluent images: KAFKA_ prefix, upper case, "." -> "_", "-" -> "__", "_" -> "___"
# (KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://127.0.0.1:19092 sets advertised.listeners).
# KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS and KAFKA_OPTS go to the JVM instead.
# CLUSTER_ID names the cluster (random when unset; nodes of one cluster must share it).
# SCRAM_USERS adds SCRAM credentials when the storage is formatted, one per line, in
# StorageTool's form: SCRAM-SHA-512=[name=alice,password=...].
#
# Storage is formatted on first start only (--ignore-formatted): with --standalone when the
# node is a controller of a dynamic quorum, plainly when controller.quorum.voters is given.
set -euo pipefail

home=/opt/kafka
config="$home/config/server.properties"

# shellcheck disable=SC2054  # commas belong to the values
declare -A props=(
    [node.id]=1
    [process.roles]=broker,controller
    [listeners]=PLAINTEXT://:9092,CONTROLLER://:9093
    [listener.security.protocol.map]=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
    [inter.broker.listener.name]=PLAINTEXT
    [controller.listener.names]=CONTROLLER
    [controller.quorum.bootstrap.servers]=localhost:9093
    [log.dirs]=/var/lib/kafka/data
    # Same topic defaults as the local broker (src/streamml/services/resources).
    [num.partitions]=3
    [default.replication.factor]=1
    # One node: internal topics cannot be replicated more than once.
    [offsets.topic.replication.factor]=1
    [transaction.state.log.replication.factor]=1
    [transaction.state.log.min.isr]=1
    [share.coordinator.state.topic.replication.factor]=1
    [share.coordinator.state.topic.min.isr]=1
    # Fewer internal partitions than the default 50: the first group join and the first
    # transaction on a fresh node are noticeably faster.
    [offsets.topic.num.partitions]=10
    [transaction.state.log.num.partitions]=10
    # Consumer groups form at once instead of after 3 s: tests and demos start faster.
    [group.initial.rebalance.delay.ms]=0
)

jvm_env='^KAFKA_(HEAP_OPTS|JVM_PERFORMANCE_OPTS|OPTS|LOG4J_OPTS|GC_LOG_OPTS|JMX_OPTS)$'
while IFS='=' read -r name _; do
    [[ "$name" =~ ^KAFKA_ ]] || continue
    [[ "$name" =~ $jvm_env ]] && continue
    key="${name#KAFKA_}"
    key="${key,,}"
    key="${key//___/$'\x01'}"
    key="${key//__/-}"
    key="${key//_/.}"
    key="${key//$'\x01'/_}"
    props[$key]="${!name}"
done < <(env)
# A static quorum (controller.quorum.voters) replaces the dynamic one's bootstrap servers.
if [[ -n "${props[controller.quorum.voters]:-}" && -z "${KAFKA_CONTROLLER_QUORUM_BOOTSTRAP_SERVERS:-}" ]]; then
    unset 'props[controller.quorum.bootstrap.servers]'
fi

mkdir -p "$(dirname "$config")"
for key in "${!props[@]}"; do
    printf '%s=%s\n' "$key" "${props[$key]}"
done | sort >"$config"
# Passwords (JAAS configs, *.password) are not echoed.
echo "entrypoint: server.properties"
sed -E -e 's/(password[^=]*=).*/\1********/' -e 's/(jaas\.config=).*/\1********/' \
    -e 's/^/  /' "$config"

format_args=()
if [[ -n "${props[controller.quorum.voters]:-}" ]]; then
    :
elif [[ "${props[process.roles]}" == *controller* ]]; then
    format_args+=(--standalone)
fi
# A UUID as 22 characters of URL-safe base64, never starting with "-" (Kafka refuses those:
# they read as options).
cluster_id="${CLUSTER_ID:-$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c 1-22)}"
[[ "$cluster_id" == -* ]] && cluster_id="A${cluster_id:1}"
while IFS= read -r credential; do
    if [[ -n "$credential" ]]; then format_args+=(--add-scram "$credential"); fi
done <<<"${SCRAM_USERS:-}"

classpath="$home/libs/*"
heap_opts="${KAFKA_HEAP_OPTS:--Xms512m -Xmx512m}"
perf_opts="${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
-XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true}"
log4j_opts="-Dlog4j2.configurationFile=$home/log4j2.properties"

# shellcheck disable=SC2086  # the *_OPTS variables hold several JVM flags on purpose
java -cp "$classpath" $log4j_opts kafka.tools.StorageTool format --ignore-formatted \
    -t "$cluster_id" -c "$config" "${format_args[@]}"
# shellcheck disable=SC2086
exec java $heap_opts $perf_opts $log4j_opts ${KAFKA_OPTS:-} -cp "$classpath" kafka.Kafka "$config"
