#!/usr/bin/env bash
# Bazel's own Remote Execution API v2 server ("remote worker": a CAS, an
# action cache and an executor in one process), built from Debian's
# bazel-bootstrap-source, for tests/e2e_bazel.sh (test x).
#
#   tests/bazel/remote_worker.sh start DIR PORT [JOBS]
#       compiles the worker into DIR/classes, starts it on 127.0.0.1:PORT
#       with its CAS in DIR/cas and action directories in DIR/work, and
#       returns once it serves; its PID is in DIR/java.pid, its log in
#       DIR/worker.log. JOBS: concurrent actions (default 2).
#   tests/bazel/remote_worker.sh stop DIR
#       stops the worker started with DIR (by the saved PID).
#
# DIR must be an existing, empty directory of the caller's (a temporary one).
#
# The worker runs each action unsandboxed, as this user, in a fresh copy of
# the action's whole input tree: absolute paths an action uses (/bin/bash,
# /usr/bin/cc, ...) come from this machine, as from an executor image.
#
# Security: the worker authenticates nobody. While it runs, any process on
# this machine that can connect to 127.0.0.1:PORT can run commands as this
# user: run it on a single-user machine or container (CI). Its mutual TLS
# options would close that, but Debian's netty has neither the native
# library of its OpenSSL provider nor ALPN on the JDK provider ("JDK provider
# does not support ALPN protocol").
#
# Sources: /usr/src/bazel-bootstrap/src/tools/remote/src/main/java/com/google/
# devtools/build/remote/worker/ (RemoteWorker.java: main; options in
# RemoteWorkerOptions.java). It compiles against Bazel's server jar, which
# bundles gRPC, netty and the REAPI protos. It has no listen-address option:
# startServer() binds NettyServerBuilder.forPort(port), every interface. The
# one change made here, in a copy of the sources, binds 127.0.0.1 instead.
set -o errexit -o nounset -o pipefail

BAZEL_SRC="${RRM_BAZEL_SOURCE:-/usr/src/bazel-bootstrap}"
SERVER_JAR="${RRM_BAZEL_SERVER_JAR:-/usr/share/bazel/A-server.jar}"
WORKER_PKG=src/tools/remote/src/main/java/com/google/devtools/build/remote/worker
MAIN_CLASS=com.google.devtools.build.remote.worker.RemoteWorker

die() {
    printf 'remote_worker.sh: %s\n' "$*" >&2
    exit 1
}

usage() {
    die "usage: remote_worker.sh start DIR PORT [JOBS] | remote_worker.sh stop DIR"
}

# build DIR: patched copy of the sources in DIR/src, classes in DIR/classes.
build() {
    local dir="$1" main
    [[ -d "$BAZEL_SRC/$WORKER_PKG" ]] ||
        die "no worker sources at $BAZEL_SRC/$WORKER_PKG: apt-get install bazel-bootstrap-source (or set RRM_BAZEL_SOURCE)"
    [[ -f "$SERVER_JAR" ]] ||
        die "no Bazel server jar at $SERVER_JAR: apt-get install bazel-bootstrap (or set RRM_BAZEL_SERVER_JAR)"
    if ! command -v javac >/dev/null || ! command -v java >/dev/null; then
        die "no javac/java on PATH: apt-get install default-jdk-headless"
    fi
    mkdir "$dir/src" "$dir/classes"
    cp -R "$BAZEL_SRC/$WORKER_PKG" "$dir/src/worker"
    main="$dir/src/worker/RemoteWorker.java"
    # Bind the loopback address only. The sed must change exactly one line;
    # anything else means the sources differ from those this was written for.
    [[ "$(grep -c 'NettyServerBuilder.forPort(workerOptions.listenPort)' "$main")" == 1 ]] ||
        die "$main: expected one NettyServerBuilder.forPort(workerOptions.listenPort); sources changed, update the patch"
    sed -i 's/NettyServerBuilder\.forPort(workerOptions\.listenPort)/NettyServerBuilder.forAddress(new java.net.InetSocketAddress("127.0.0.1", workerOptions.listenPort))/' "$main"
    grep -q 'forAddress(new java.net.InetSocketAddress("127.0.0.1"' "$main" ||
        die "$main: patching the listen address failed"
    find "$dir/src" -name '*.java' -print0 >"$dir/sources"
    # -XX:-UsePerfData: no /tmp/hsperfdata_$USER files from these JVMs.
    xargs -0 javac -J-XX:-UsePerfData -nowarn -encoding UTF-8 -d "$dir/classes" -cp "$SERVER_JAR" <"$dir/sources" \
        >"$dir/javac.log" 2>&1 || { cat "$dir/javac.log" >&2; die "javac failed (log above)"; }
}

# listening_on PORT: "FILE ADDRESS" for each socket listening on TCP PORT,
# from /proc/net/tcp{,6} (ADDRESS in the kernel's hex; 127.0.0.1 is 0100007F).
listening_on() {
    awk -v port="$(printf '%04X' "$1")" \
        'FNR > 1 && $4 == "0A" { split($2, a, ":"); if (a[2] == port) print FILENAME, a[1] }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null || true
}

start() {
    local dir="$1" port="$2" jobs="$3" pid i addrs
    [[ -d "$dir" && -z "$(ls -A "$dir")" ]] || die "$dir: not an existing empty directory"
    [[ "$port" =~ ^[0-9]+$ && "$port" -ge 1 && "$port" -le 65535 ]] || die "PORT: not a port number: $port"
    [[ "$jobs" =~ ^[0-9]+$ && "$jobs" -ge 1 ]] || die "JOBS: not a positive number: $jobs"
    build "$dir"
    mkdir "$dir/cas" "$dir/work" "$dir/tmp"
    # Java's own pid file (--pid_file) appears once the gRPC server serves;
    # java.pid is written at once, so `stop` works even if start-up fails.
    java -XX:-UsePerfData -Djava.io.tmpdir="$dir/tmp" -Djava.net.preferIPv4Stack=true \
        -cp "$SERVER_JAR:$dir/classes" "$MAIN_CLASS" \
        --listen_port="$port" \
        --work_path="$dir/work" \
        --cas_path="$dir/cas" \
        --jobs="$jobs" \
        --pid_file="$dir/worker.pid" \
        </dev/null >"$dir/worker.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/java.pid"
    for ((i = 0; i < 1200; i++)); do
        if [[ -s "$dir/worker.pid" ]]; then
            break
        fi
        alive "$pid" || { cat "$dir/worker.log" >&2; die "the worker exited during start-up (log above)"; }
        sleep 0.1
    done
    [[ -s "$dir/worker.pid" ]] || { stop "$dir"; die "the worker did not start within 120 s; log: $dir/worker.log"; }
    addrs="$(listening_on "$port")"
    if [[ "$addrs" != "/proc/net/tcp 0100007F" ]]; then
        stop "$dir"
        die "the worker listens on '${addrs//$'\n'/; }', expected only 127.0.0.1:$port (/proc/net/tcp 0100007F)"
    fi
}

# alive PID: some thread of the process still runs. A zombie leader alone
# (PID 1 of a container may never reap it) does not count, and neither does
# a leader that exited before the JVM's other threads: those are checked.
alive() {
    local stat
    for stat in /proc/"$1"/task/*/stat; do
        [[ "$(awk '{print $3}' "$stat" 2>/dev/null)" =~ ^[^Z]$ ]] && return 0
    done
    return 1
}

stop() {
    local dir="$1" pid i
    [[ -s "$dir/java.pid" ]] || return 0
    pid="$(cat "$dir/java.pid")"
    [[ "$pid" =~ ^[0-9]+$ ]] || die "$dir/java.pid: not a PID: $pid"
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

case "${1:-}" in
start)
    [[ $# -ge 3 && $# -le 4 ]] || usage
    start "$2" "$3" "${4:-2}"
    ;;
stop)
    [[ $# -eq 2 ]] || usage
    stop "$2"
    ;;
*) usage ;;
esac
