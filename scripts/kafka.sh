#!/usr/bin/env bash
# Development/CI Apache Kafka: one KRaft node (broker + controller) on 127.0.0.1.
#
#   scripts/kafka.sh install   fetch Kafka and its runtime jars from Maven Central (cached)
#   scripts/kafka.sh start     format storage if needed, start in the background, wait until ready
#   scripts/kafka.sh stop      stop the background broker (SIGTERM, then SIGKILL after 30 s)
#   scripts/kafka.sh status    exit 0 and print the pid when it is running, exit 1 otherwise
#   scripts/kafka.sh run       format if needed and run in the foreground (the test harness uses it)
#   scripts/kafka.sh reset     stop and delete the data dir
#
# Environment (all optional):
#   FESS_CACHE_DIR               jar cache root (default ~/.cache/fess); jars go to kafka-<version>/
#   LOCAL_KAFKA_DATA_DIR         storage, config, pid and log (default <repo>/.data/kafka)
#   LOCAL_KAFKA_PORT             client port (default 9092)
#   LOCAL_KAFKA_CONTROLLER_PORT  KRaft controller port (default 9093)
#   LOCAL_KAFKA_HEAP             JVM heap (default 512m)
#   LOCAL_KAFKA_START_TIMEOUT    seconds `start` waits for readiness (default 90)
#
# Kafka 3.9.x is pinned on purpose: kafkajs 2.2.4 speaks request versions that Kafka 4.x removed.
set -euo pipefail

KAFKA_VERSION=3.9.1
SCALA_VERSION=2.13
SLF4J_VERSION=1.7.36
RELOAD4J_VERSION=1.2.25

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_ROOT="${FESS_CACHE_DIR:-${HOME:-/tmp}/.cache/fess}"
KAFKA_HOME="$CACHE_ROOT/kafka-$KAFKA_VERSION"
DATA_DIR="${LOCAL_KAFKA_DATA_DIR:-$REPO_ROOT/.data/kafka}"
PORT="${LOCAL_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${LOCAL_KAFKA_CONTROLLER_PORT:-9093}"
HEAP="${LOCAL_KAFKA_HEAP:-512m}"
START_TIMEOUT="${LOCAL_KAFKA_START_TIMEOUT:-90}"
HOST=127.0.0.1
PID_FILE="$DATA_DIR/kafka.pid"
LOG_FILE="$DATA_DIR/kafka.log"

say() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

require_java() {
  command -v java >/dev/null || die "java not found: sudo apt-get install -y openjdk-17-jre-headless"
  local major
  major="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
  [[ -n "$major" && "$major" -ge 17 ]] || die "Java 17+ required (found: ${major:-unknown})"
}

cmd_install() {
  if [[ -f "$KAFKA_HOME/.complete" ]]; then
    say "Kafka $KAFKA_VERSION already installed in $KAFKA_HOME"
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found: sudo apt-get install -y maven"
  mkdir -p "$KAFKA_HOME"
  local work
  work="$(mktemp -d "$KAFKA_HOME/.install.XXXXXX")"
  cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>fess.dev</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_$SCALA_VERSION</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <!-- kafka_2.13 leaves the slf4j binding to the distribution; without one it logs nothing -->
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>$SLF4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>ch.qos.reload4j</groupId>
      <artifactId>reload4j</artifactId>
      <version>$RELOAD4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
POM
  say "fetching org.apache.kafka:kafka_$SCALA_VERSION:$KAFKA_VERSION and runtime deps from Maven Central"
  mvn -B -q -f "$work/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$work/libs"
  cat >"$work/log4j.properties" <<'LOG4J'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
LOG4J
  rm -rf "$KAFKA_HOME/libs"
  mv "$work/libs" "$KAFKA_HOME/libs"
  mv "$work/log4j.properties" "$KAFKA_HOME/log4j.properties"
  rm -rf "$work"
  touch "$KAFKA_HOME/.complete"
  say "installed Kafka $KAFKA_VERSION ($(ls "$KAFKA_HOME/libs" | wc -l) jars) in $KAFKA_HOME"
}

java_cmd() {
  # shellcheck disable=SC2206
  JAVA=(java -Xms128m "-Xmx$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$KAFKA_HOME/log4j.properties"
    -cp "$KAFKA_HOME/libs/*")
}

configure() {
  [[ -f "$KAFKA_HOME/.complete" ]] || die "Kafka $KAFKA_VERSION not installed: run scripts/kafka.sh install"
  require_java
  mkdir -p "$DATA_DIR/logs"
  cat >"$DATA_DIR/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA_DIR/logs
num.partitions=3
default.replication.factor=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
log.segment.bytes=67108864
PROPS
  java_cmd
  if [[ ! -f "$DATA_DIR/logs/meta.properties" ]]; then
    local cluster_id
    cluster_id="$("${JAVA[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
    "${JAVA[@]}" kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$DATA_DIR/server.properties" >/dev/null 2>&1 ||
      die "formatting storage in $DATA_DIR/logs failed"
  fi
}

running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && grep -q 'kafka.Kafka' "/proc/$pid/cmdline" 2>/dev/null &&
    { echo "$pid"; return 0; }
  return 1
}

port_open() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

cmd_run() {
  configure
  echo $$ >"$PID_FILE"
  exec "${JAVA[@]}" kafka.Kafka "$DATA_DIR/server.properties"
}

cmd_start() {
  if pid="$(running_pid)"; then
    say "already running (pid $pid) on $HOST:$PORT"
    return 0
  fi
  configure
  [[ -f "$LOG_FILE" ]] && mv -f "$LOG_FILE" "$LOG_FILE.1"
  nohup "${BASH_SOURCE[0]}" run >"$LOG_FILE" 2>&1 </dev/null &
  local launched=$! waited=0
  while ((waited < START_TIMEOUT * 5)); do
    if ! kill -0 "$launched" 2>/dev/null; then
      tail -n 40 "$LOG_FILE" >&2 || true
      die "broker exited during startup (log: $LOG_FILE)"
    fi
    if grep -q 'Kafka Server started' "$LOG_FILE" 2>/dev/null && port_open; then
      say "ready on $HOST:$PORT (pid $launched, data $DATA_DIR, log $LOG_FILE)"
      return 0
    fi
    sleep 0.2
    waited=$((waited + 1))
  done
  tail -n 40 "$LOG_FILE" >&2 || true
  kill "$launched" 2>/dev/null || true
  die "broker not ready after ${START_TIMEOUT}s (log: $LOG_FILE)"
}

cmd_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    say "not running"
    rm -f "$PID_FILE"
    return 0
  fi
  kill -TERM "$pid"
  local waited=0
  while kill -0 "$pid" 2>/dev/null && ((waited < 150)); do
    sleep 0.2
    waited=$((waited + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "no exit after 30 s; killing"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  say "stopped"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    echo "running pid=$pid brokers=$HOST:$PORT data=$DATA_DIR"
    return 0
  fi
  echo "stopped"
  return 1
}

cmd_reset() {
  cmd_stop
  rm -rf "$DATA_DIR"
  say "removed $DATA_DIR"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_install && cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  run) cmd_run ;;
  reset) cmd_reset ;;
  *)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
