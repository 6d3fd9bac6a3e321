#!/usr/bin/env bash
# Chorus developer entry point. Every subcommand installs what it is missing and builds first.
#   ./dev.sh deps      install build and test dependencies (apt-get; root or sudo)
#   ./dev.sh build     configure and build into ./build (RelWithDebInfo)
#   ./dev.sh test      build, then run every test through ctest
#   ./dev.sh cluster   build, then run a local 3-node cluster in the foreground (Ctrl-C stops it)
#   ./dev.sh bench     build, start a 3-node cluster, run the load generator, stop the cluster
#   ./dev.sh bench-join  build, load a 3-node cluster, join a 4th node, report the streaming time
#   ./dev.sh bench-aae   build, load a 3-node cluster, let one node miss 1% of it, time anti-entropy
#   ./dev.sh sim [--seeds N | --seed S]   build, run the Raft, SWIM, anti-entropy and coordinator
#                      simulations
#   ./dev.sh nemesis [--time S] [--seed N]  build, run the nemesis suite (network namespaces; root):
#                      each nemesis once, or with --time one random schedule of all for S seconds
#   ./dev.sh k6 [script.js] [runner flags]  build, start a 3-node cluster, run a k6 script from
#                      tests/k6 (default smoke.js) with the bundled runner (or real k6: K6=k6)
# SECURE=1 before cluster, bench or k6: TLS + ACL (one admin token) + sealed gossip, files made fresh
#                      under the data dir (see README, Security)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
JOBS=${JOBS:-$(nproc)}

PACKAGES=(build-essential cmake ninja-build pkg-config libboost-dev librocksdb-dev libleveldb-dev
  nlohmann-json3-dev libcpp-httplib-dev catch2 libxxhash-dev libspdlog-dev libcli11-dev
  libsnappy-dev libssl-dev zlib1g-dev libbrotli-dev libyaml-cpp-dev openssl curl clang-format
  iproute2 nftables faketime)
# iproute2, nftables, faketime: the nemesis tests' network namespaces, partitions and skewed clocks.
# libsnappy-dev: leveldb's CMake target links -lsnappy but libleveldb-dev does not depend on it.

log() { printf '\033[1m[dev]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root or sudo to run: $*"; exit 1; fi
}

cmd_deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # Node.js runs the offline manifest checks (tests/k8s); a machine that has it keeps its own.
  command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  local k8s_tests="$ROOT/tests/k8s"
  if [ ! -f "$k8s_tests/node_modules/.package-lock.json" ] ||
     [ "$k8s_tests/package-lock.json" -nt "$k8s_tests/node_modules/.package-lock.json" ]; then
    log "installing the npm packages of tests/k8s"
    npm ci --prefix "$k8s_tests" --no-audit --no-fund --loglevel=error >/dev/null
  fi
}

cmd_build() {
  cmd_deps
  local werror=OFF
  [ "${CI:-}" = "true" ] && werror=ON
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCHORUS_WERROR=$werror >/dev/null
  fi
  cmake --build "$BUILD_DIR" -j "$JOBS"
}

cmd_test() {
  cmd_build
  # Cluster tests find the binaries through these variables.
  export CHORUSD="$BUILD_DIR/src/chorusd" CHORUSCTL="$BUILD_DIR/src/cli/chorusctl"
  ctest --test-dir "$BUILD_DIR" --output-on-failure -j "${TEST_JOBS:-2}" "$@"
}

# SECURE=1: HTTPS with a CA and node certificates from `chorusctl tls init`, an ACL file with one
# admin token, and a gossip keyring, all under $dir/secure. Sets SCHEME, TOKEN and CACERT.
SCHEME=http TOKEN="" CACERT=""
secure_setup() {
  local dir=$1 n=$2
  [ "${SECURE:-0}" = 1 ] || return 0
  local ctl="$BUILD_DIR/src/cli/chorusctl" sec="$dir/secure" nodes=""
  for j in $(seq 1 "$n"); do nodes+="${nodes:+,}n$j"; done
  mkdir -p "$sec" && chmod 700 "$sec"
  "$ctl" tls init --dir "$sec/tls" --nodes "$nodes" --hosts localhost,127.0.0.1 >/dev/null
  local out entry
  out=$("$ctl" acl token --name admin --admin)
  TOKEN=$(printf '%s\n' "$out" | sed -n 's/^token: //p')
  entry=$(printf '%s\n' "$out" | tail -n 1)
  (umask 077 && printf '{"tokens": [%s]}\n' "$entry" >"$sec/acl.json" &&
    printf '%s\n' "$TOKEN" >"$sec/admin.token")
  [ -f "$sec/gossip.key" ] || (umask 077 && openssl rand -base64 32 >"$sec/gossip.key")
  SCHEME=https CACERT="$sec/tls/ca.pem"
}

# The flags node i needs for SECURE=1 (none otherwise).
secure_args() {
  local i=$1 sec="$2/secure"
  [ "${SECURE:-0}" = 1 ] || return 0
  echo "--tls-cert $sec/tls/n$i.pem --tls-key $sec/tls/n$i-key.pem --tls-ca $sec/tls/ca.pem" \
    "--acl-file $sec/acl.json --gossip-key $sec/gossip.key"
}

# Starts node i of an n-node cluster in the background; its PID is left in STARTED_PID.
node_start() {
  local i=$1 n=$2 engine=$3 dir=$4
  local seeds=""
  for j in $(seq 1 "$n"); do seeds+="${seeds:+,}127.0.0.1:$((7000 + j))"; done
  mkdir -p "$dir/n$i"
  "$BUILD_DIR/src/chorusd" --id "n$i" --http "127.0.0.1:$((8080 + i))" --peer "127.0.0.1:$((7000 + i))" \
    --data "$dir/n$i" --seeds "$seeds" --bootstrap-expect "$n" --engine "$engine" \
    --replicas 3 --read-quorum 2 --write-quorum 2 --log-level "${LOG_LEVEL:-info}" \
    $(secure_args "$i" "$dir") ${NODE_ARGS:-} >>"$dir/n$i.log" 2>&1 &
  # Not echoed for $(...): a node started in a command substitution is not this shell's child,
  # and `wait -n` on it fails at once (the cluster would stop as soon as it started).
  STARTED_PID=$!
}

wait_ready() {
  local i=$1 dir=$2 deadline=$((SECONDS + 30))
  until curl -sf ${CACERT:+--cacert "$CACERT"} "$SCHEME://127.0.0.1:$((8080 + i))/v1/ready" >/dev/null; do
    if [ $SECONDS -ge $deadline ]; then log "node n$i not ready; see $dir/n$i.log"; cluster_stop; exit 1; fi
    sleep 0.2
  done
}

cluster_start() {
  local n=$1 engine=$2 dir=$3
  PIDS=()
  secure_setup "$dir" "$n"
  for i in $(seq 1 "$n"); do
    node_start "$i" "$n" "$engine" "$dir"
    PIDS+=("$STARTED_PID")
  done
  for i in $(seq 1 "$n"); do wait_ready "$i" "$dir"; done
}

cluster_stop() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
}

cmd_cluster() {
  cmd_build
  local engine=${ENGINE:-rocksdb} dir=${DATA_DIR:-$ROOT/.cluster-data}
  trap cluster_stop EXIT
  trap 'exit 130' INT TERM
  cluster_start 3 "$engine" "$dir"
  log "3-node Chorus cluster is up (engine=$engine, N=3, R=W=2); data and logs in $dir"
  for i in 1 2 3; do log "  n$i: $SCHEME://127.0.0.1:$((8080 + i))   (peer 127.0.0.1:$((7000 + i)))"; done
  local auth=""
  if [ "${SECURE:-0}" = 1 ]; then
    auth="--cacert $CACERT -H 'Authorization: Bearer $TOKEN' "
    log "secure: TLS, ACL (admin token in $dir/secure/admin.token) and sealed gossip"
    log "  chorusctl: CHORUS_NODE=https://127.0.0.1:8081 CHORUS_CACERT=$CACERT CHORUS_TOKEN=$TOKEN"
  fi
  log "try: curl ${auth}-X PUT -d '{\"value\":\"hello\"}' $SCHEME://127.0.0.1:8081/v1/kv/greeting"
  log "     curl ${auth}$SCHEME://127.0.0.1:8082/v1/kv/greeting"
  log "Ctrl-C stops the cluster."
  wait -n "${PIDS[@]}" || true
  log "a node exited; stopping the cluster"
}

cmd_bench() {
  cmd_build
  BENCH_DIR=$(mktemp -d /tmp/chorus-bench.XXXXXX)
  trap 'cluster_stop; rm -rf "$BENCH_DIR"' EXIT
  trap 'exit 130' INT TERM
  LOG_LEVEL=warn cluster_start 3 "${ENGINE:-rocksdb}" "$BENCH_DIR"
  "$BUILD_DIR/bench/chorus-bench" --targets 127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083 \
    --connections 64 --keys 100000 --value-bytes 100 --read-ratio 0.5 --duration-s "${DURATION_S:-30}" \
    --w 2 --r 2 ${CACERT:+--cacert "$CACERT"} ${TOKEN:+--token "$TOKEN"} "$@"
}

cmd_k6() {
  cmd_build
  local script=${1:-smoke.js}
  [ $# -gt 0 ] && shift
  K6_DIR=$(mktemp -d /tmp/chorus-k6.XXXXXX)
  trap 'cluster_stop; rm -rf "$K6_DIR"' EXIT
  trap 'exit 130' INT TERM
  LOG_LEVEL=warn cluster_start 3 "${ENGINE:-rocksdb}" "$K6_DIR"
  local urls=http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083
  if [ -n "${K6:-}" ]; then
    "$K6" run -e CHORUS_URLS="$urls" "$@" "$ROOT/tests/k6/$script"
  else
    node "$ROOT/tests/k6/runner/k6.mjs" run -e CHORUS_URLS="$urls" "$@" "$ROOT/tests/k6/$script"
  fi
}

cmd_sim() {
  local seeds=500 seed=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --seeds) seeds=$2; shift 2 ;;
      --seed) seed=$2; shift 2 ;;
      *) log "unknown sim flag: $1 (use --seeds N or --seed S)"; exit 2 ;;
    esac
  done
  cmd_build
  if [ -n "$seed" ]; then
    CHORUS_SIM_SEED=$seed "$BUILD_DIR/tests/sim/sim_tests" "*simulation: 500 seeds"
  else
    CHORUS_SIM_SEEDS=$seeds "$BUILD_DIR/tests/sim/sim_tests" "*simulation: 500 seeds"
  fi
}

cmd_nemesis() {
  local time_s="" seed=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --time) time_s=$2; shift 2 ;;
      --seed) seed=$2; shift 2 ;;
      *) log "unknown nemesis flag: $1 (use --time S or --seed N)"; exit 2 ;;
    esac
  done
  cmd_build
  export CHORUSD="$BUILD_DIR/src/chorusd"
  if [ -z "$time_s" ]; then
    ctest --test-dir "$BUILD_DIR" --output-on-failure -R '^nemesis: '
  else
    env CHORUS_NEMESIS_TIME_S="$time_s" ${seed:+CHORUS_NEMESIS_SEED=$seed} \
      "$BUILD_DIR/tests/nemesis/nemesis_tests" "[.long]"
  fi
}

# Joins a 4th node to a loaded 3-node cluster and reports how long streaming its partitions took.
cmd_bench_join() {
  cmd_build
  local keys=${KEYS:-20000} value_bytes=${VALUE_BYTES:-4096} partitions=${PARTITIONS:-16}
  BENCH_DIR=$(mktemp -d /tmp/chorus-bench-join.XXXXXX)
  trap 'cluster_stop; rm -rf "$BENCH_DIR"' EXIT
  trap 'exit 130' INT TERM
  NODE_ARGS="--partitions $partitions --stream-bytes-per-s ${STREAM_BYTES_PER_S:-1073741824}" \
    LOG_LEVEL=warn cluster_start 3 "${ENGINE:-rocksdb}" "$BENCH_DIR"
  log "loading $keys keys of $value_bytes bytes ($((keys * value_bytes / 1048576)) MiB, $partitions partitions)"
  "$BUILD_DIR/bench/chorus-bench" --targets 127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083 \
    --connections 32 --keys "$keys" --value-bytes "$value_bytes" --read-ratio 1 --duration-s 1 \
    --warmup-s 0 --preload --w 2 >/dev/null
  mkdir -p "$BENCH_DIR/n4"
  local start=$(date +%s%N)
  "$BUILD_DIR/src/chorusd" --id n4 --http 127.0.0.1:8084 --peer 127.0.0.1:7004 --data "$BENCH_DIR/n4" \
    --seeds 127.0.0.1:7001 --bootstrap-expect 3 --engine "${ENGINE:-rocksdb}" --log-level info \
    --partitions "$partitions" --stream-bytes-per-s "${STREAM_BYTES_PER_S:-1073741824}" \
    >"$BENCH_DIR/n4.log" 2>&1 &
  PIDS+=($!)
  local deadline=$((SECONDS + 600))
  until curl -sf http://127.0.0.1:8081/v1/cluster |
      python3 -c 'import json,sys; j=json.load(sys.stdin); sys.exit(0 if j["transition"] is None and any(m["id"]=="n4" and m["status"]=="active" for m in j["members"]) else 1)'; do
    if [ $SECONDS -ge $deadline ]; then log "n4 did not finish joining; see $BENCH_DIR/n4.log"; exit 1; fi
    sleep 0.2
  done
  local ms=$(( ($(date +%s%N) - start) / 1000000 ))
  curl -s http://127.0.0.1:8084/metrics | awk -v ms="$ms" '
    /^chorus_stream_bytes_total / {bytes=$2} /^chorus_stream_partitions_total / {parts=$2}
    /^chorus_stream_records_total / {records=$2}
    END {printf "join of n4: %d ms from start to handover; streamed %d partitions, %d records, %.1f MiB (%.1f MiB per partition, %.1f MiB/s incl. start delay)\n",
         ms, parts, records, bytes/1048576, bytes/1048576/(parts?parts:1), bytes/1048576/(ms/1000)}'
  grep -h "streamed all" "$BENCH_DIR/n4.log" || true
  log "data per partition: $((keys * value_bytes / partitions / 1048576)) MiB; each is read from a majority of its previous owners"
}

# Anti-entropy: KEYS keys on every node (N=3, W=all), n3 killed, DIVERGE_KEYS of them rewritten
# (1% by default), n3 restarted with hints off and no reads: the time until every replica is
# verified again, and the bytes anti-entropy moved against the data size.
metric_sum() {  # metric name, then node numbers
  local name=$1 total=0; shift
  for i in "$@"; do
    local v=$(curl -s "http://127.0.0.1:$((8080 + i))/metrics" | awk -v n="$name" '$1 == n {print $2}')
    total=$(python3 -c "print(int($total + float(${v:-0})))")
  done
  echo "$total"
}

all_verified() {
  for i in 1 2 3; do
    curl -sf "http://127.0.0.1:$((8080 + i))/v1/admin/repair" | python3 -c '
import json, sys
j = json.load(sys.stdin)
sys.exit(0 if j["closed_through"] is not None and j["epochs_unverified"] == 0 and j["epochs_dirty"] == 0 else 1)' || return 1
  done
}

cmd_bench_aae() {
  cmd_build
  local keys=${KEYS:-1000000} value_bytes=${VALUE_BYTES:-100}
  local diverge=${DIVERGE_KEYS:-$((keys / 100))}
  BENCH_DIR=$(mktemp -d /tmp/chorus-bench-aae.XXXXXX)
  trap 'cluster_stop; rm -rf "$BENCH_DIR"' EXIT
  trap 'exit 130' INT TERM
  export NODE_ARGS="--hints=false --epoch-interval-s ${EPOCH_INTERVAL_S:-5} --aae-max-bytes-per-s ${AAE_BYTES_PER_S:-67108864}"
  LOG_LEVEL=warn cluster_start 3 rocksdb "$BENCH_DIR"
  local t0=$SECONDS
  log "loading $keys keys of $value_bytes bytes on all 3 replicas (W=all)"
  "$BUILD_DIR/bench/chorus-bench" --targets 127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083 \
    --connections 64 --keys "$keys" --value-bytes "$value_bytes" --read-ratio 1 --duration-s 1 \
    --warmup-s 0 --preload --w all >"$BENCH_DIR/load.log" 2>&1
  log "loaded in $((SECONDS - t0)) s; killing n3 and rewriting $diverge keys at W=2"
  kill -KILL "${PIDS[2]}"; wait "${PIDS[2]}" 2>/dev/null || true
  "$BUILD_DIR/bench/chorus-bench" --targets 127.0.0.1:8081,127.0.0.1:8082 --seed 2 \
    --connections 32 --keys "$diverge" --value-bytes "$value_bytes" --read-ratio 1 --duration-s 1 \
    --warmup-s 0 --preload --w 2 >"$BENCH_DIR/diverge.log" 2>&1
  local before=$(metric_sum chorus_aae_bytes_total 1 2)
  local start=$(date +%s%N)
  LOG_LEVEL=info node_start 3 3 rocksdb "$BENCH_DIR"
  PIDS[2]=$STARTED_PID
  wait_ready 3 "$BENCH_DIR"
  local deadline=$((SECONDS + 1800))
  until [ "$(metric_sum chorus_aae_keys_repaired_total 3)" -ge "$diverge" ] && all_verified; do
    if [ $SECONDS -ge $deadline ]; then log "no convergence in 30 min; see $BENCH_DIR"; exit 1; fi
    sleep 0.5
  done
  local ms=$(( ($(date +%s%N) - start) / 1000000 ))
  local moved=$(( $(metric_sum chorus_aae_bytes_total 1 2 3) - before ))
  local records=$(metric_sum chorus_aae_record_bytes_total 1 2 3)
  local repaired=$(metric_sum chorus_aae_keys_repaired_total 3)
  python3 - "$keys" "$diverge" "$value_bytes" "$ms" "$moved" "$records" "$repaired" <<'PY'
import sys
keys, diverge, value, ms, moved, records, repaired = map(int, sys.argv[1:])
data = keys * (value + 12)
missing = diverge * (value + 12)
print(f"anti-entropy: {keys} keys per node, {diverge} missed by n3 ({100*diverge/keys:.2f}%)")
print(f"  converged (n3 repaired {repaired} keys, every partition verified on every node) "
      f"{ms} ms after n3's restart")
print(f"  moved {moved/1048576:.2f} MiB in all ({records/1048576:.2f} MiB of records); "
      f"data {data/1048576:.1f} MiB per node, missing {missing/1048576:.2f} MiB")
print(f"  moved / data = {moved/data:.4f}; moved / missing = {moved/missing:.2f}")
PY
}

case "${1:-}" in
  deps) cmd_deps ;;
  build) cmd_build ;;
  test) shift; cmd_test "$@" ;;
  cluster) cmd_cluster ;;
  bench) shift; cmd_bench "$@" ;;
  bench-join) cmd_bench_join ;;
  bench-aae) cmd_bench_aae ;;
  sim) shift; cmd_sim "$@" ;;
  nemesis) shift; cmd_nemesis "$@" ;;
  k6) shift; cmd_k6 "$@" ;;
  *) sed -n '2,17p' "$0"; exit 2 ;;
esac
