#!/usr/bin/env bash
# Drives the official Apache Iggy CLI (`iggy-cli` 0.14.0, protocol 0.11) against a fresh
# whippet-server: ping, me, stats, cluster metadata, streams, topics, send/poll, consumer
# offsets, users and a login as a newly created user. Every step prints the command it runs,
# checks the exit code and greps the output; a failing step shows the CLI's output and the
# server log lines written while it ran. Ends with `cli: N passed, M failed`, non-zero on any
# failure.
#
# Usage: scripts/test-cli.sh
#   WHIPPET_CLI_CACHE   where iggy-cli is installed once and reused
#                       (default ~/.cache/whippet/iggy-cli-0.14.0; the first install compiles
#                       ~330 crates in release: 23 min on a busy 2-core machine)
#   WHIPPET_SERVER_BIN  server binary to test (default: build target/debug/whippet-server)
#   RUST_LOG            server log filter (default debug; the log is shown for failing steps)
#   WHIPPET_CLI_KEEP=1  keep the temp dir (data dir, server log, each step's output)
set -uo pipefail
cd "$(dirname "$0")/.."

cli_version=0.14.0
cache=${WHIPPET_CLI_CACHE:-$HOME/.cache/whippet/iggy-cli-$cli_version}
iggy=$cache/bin/iggy
if [ ! -x "$iggy" ]; then
    echo "installing iggy-cli $cli_version into $cache (once; takes a while)"
    cargo install iggy-cli --version "$cli_version" --locked --root "$cache" || {
        echo "cli: 0 passed, 1 failed (cargo install iggy-cli failed)"; exit 1; }
fi
if ! "$iggy" --version | grep -qF "$cli_version"; then
    echo "$iggy is not iggy-cli $cli_version: $("$iggy" --version)"
    echo "cli: 0 passed, 1 failed"; exit 1
fi

if [ -n "${WHIPPET_SERVER_BIN:-}" ]; then
    server_bin=$WHIPPET_SERVER_BIN
else
    cargo build --locked --bin whippet-server || {
        echo "cli: 0 passed, 1 failed (cargo build failed)"; exit 1; }
    server_bin=target/debug/whippet-server
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/whippet-cli.XXXXXX")
log=$work/server.log
server_pid=
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    if [ "${WHIPPET_CLI_KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The CLI keeps contexts under IGGY_HOME (default ~/.iggy) and login sessions in the desktop
# keyring (Secret Service over D-Bus). Point both somewhere empty so a developer's own
# contexts or sessions can never leak into the run: with no bus the CLI warns "keyring
# backend unavailable" and goes on with the credentials given on its command line.
export IGGY_HOME=$work/iggy-home
export DBUS_SESSION_BUS_ADDRESS=unix:path=$work/no-such-bus
unset IGGY_USERNAME IGGY_PASSWORD

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
        || echo $((20000 + RANDOM % 40000))
}
port=$(free_port)
addr=127.0.0.1:$port
echo "starting $server_bin on $addr (log: $log)"
RUST_LOG=${RUST_LOG:-debug} "$server_bin" --tcp-address "$addr" --shards 2 --no-pin \
    --data-dir "$work/data" >"$log" 2>&1 &
server_pid=$!
for _ in $(seq 200); do
    grep -q "listening on" "$log" && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
if ! grep -q "listening on" "$log"; then
    echo "whippet-server did not start:"; tail -n 30 "$log"
    echo "cli: 0 passed, 1 failed"; exit 1
fi

passed=0
failed=0
failed_names=()
n=0
last_ok=0

# cli NAME [want=TEXT]... [absent=TEXT]... [fails] [as=USER:PASS|token=PAT] [stdin=TEXT] -- IGGY ARGS...
#   want=TEXT    the output must contain TEXT (fixed string)
#   absent=TEXT  the output must not contain TEXT
#   fails        the command must exit non-zero (a timeout still counts as a failure)
#   as=USER:PASS log in as USER instead of the root user iggy:iggy
#   token=PAT    log in with a personal access token instead
#   stdin=TEXT   feed TEXT on standard input
#   keyring_ok   accept exit 1 when the only error is the CLI's missing keyring store (after
#                the server call succeeded: `pat delete` removes the token on the server and
#                then fails to open the desktop keyring, which this headless run does not have)
cli() {
    local name=$1; shift
    local want=() absent=() expect_fail=0 keyring_ok=0 user=iggy pass=iggy token= stdin= have_stdin=0
    while [ "$1" != "--" ]; do
        case $1 in
            want=*) want+=("${1#want=}") ;;
            absent=*) absent+=("${1#absent=}") ;;
            fails) expect_fail=1 ;;
            keyring_ok) keyring_ok=1 ;;
            as=*) user=${1#as=}; user=${user%%:*}; pass=${1#as=*:} ;;
            token=*) token=${1#token=} ;;
            stdin=*) stdin=${1#stdin=}; have_stdin=1 ;;
            *) echo "test-cli.sh: bad option $1 for step $name"; exit 2 ;;
        esac
        shift
    done
    shift
    n=$((n + 1))
    local out=$work/step-$n.out mark rc problems=() w
    local args=(--transport tcp --tcp-server-address "$addr")
    if [ -n "$token" ]; then args+=(--token "$token"); else args+=(--username "$user" --password "$pass"); fi
    args+=("$@")
    mark=$(wc -l <"$log")
    echo "--- [$n] $name"
    echo "\$ iggy $(printf '%q ' "${args[@]}")"
    # No anyhow backtraces: the error chain says enough.
    if [ "$have_stdin" = 1 ]; then
        printf '%s\n' "$stdin" | RUST_BACKTRACE=0 RUST_LIB_BACKTRACE=0 timeout 20 "$iggy" "${args[@]}" >"$out" 2>&1
    else
        RUST_BACKTRACE=0 RUST_LIB_BACKTRACE=0 timeout 20 "$iggy" "${args[@]}" </dev/null >"$out" 2>&1
    fi
    rc=$?
    if [ "$keyring_ok" = 1 ] && [ "$rc" = 1 ] && grep -q "Error: CommandError(No default store has been set" "$out"; then
        echo "(exit 1 from the CLI's keyring step after the server call: accepted)"
        rc=0
    fi
    if [ "$rc" = 124 ]; then
        problems+=("timed out after 20 s")
    elif [ "$expect_fail" = 1 ] && [ "$rc" = 0 ]; then
        problems+=("exit 0, expected a failure")
    elif [ "$expect_fail" = 0 ] && [ "$rc" != 0 ]; then
        problems+=("exit $rc")
    fi
    for w in ${want[@]+"${want[@]}"}; do
        grep -qF -- "$w" "$out" || problems+=("output lacks '$w'")
    done
    for w in ${absent[@]+"${absent[@]}"}; do
        ! grep -qF -- "$w" "$out" || problems+=("output has '$w'")
    done
    if [ ${#problems[@]} = 0 ]; then
        passed=$((passed + 1))
        echo "ok (exit $rc)"
    else
        failed=$((failed + 1))
        failed_names+=("[$n] $name")
        echo "FAIL: $(IFS=';'; echo "${problems[*]}")"
        echo "  cli output (keyring warnings left out):"
        sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -v 'keyring backend unavailable' | sed 's/^/  | /'
        echo "  server log during the step:"
        tail -n +"$((mark + 1))" "$log" | tail -n 25 | sed 's/^/  > /' | grep . || echo "  > (nothing)"
    fi
    last_ok=$([ ${#problems[@]} = 0 ] && echo 1 || echo 0)
}

# A step that cannot run because an earlier one failed: counted as failed.
not_run() {
    n=$((n + 1))
    failed=$((failed + 1))
    failed_names+=("[$n] $1")
    echo "--- [$n] $1"
    echo "FAIL: not run: $2"
}

stream=cli-stream
topic=cli-topic
user=cli-user
user_pass='Cli-Pass-123'

# System.
cli "ping" want="Ping statistics" -- ping --count 3
cli "me (root)" want="Client ID" want="User ID" want="Transport" -- me
cli "stats" want="Iggy Server PID" -- stats
cli "cluster metadata" want="Cluster name" -- cluster metadata
cli "login with a wrong password fails" fails as=iggy:wrong-password -- me

# Streams.
cli "stream create" want="Stream with name: $stream" want="created" -- stream create "$stream"
cli "stream list" want="$stream" -- stream list
cli "stream list (list mode)" want="$stream" -- stream list --list-mode list
cli "stream get" want="$stream" want="Stream ID" -- stream get "$stream"
cli "stream create duplicate fails" fails -- stream create "$stream"
cli "stream get unknown" want="was not found" -- stream get no-such-stream

# Topics.
cli "topic create" want="Topic with name: $topic" want="created" -- topic create "$stream" "$topic" 2 none
cli "topic list" want="$topic" -- topic list "$stream"
cli "topic get" want="$topic" -- topic get "$stream" "$topic"
cli "stream get counts the topic" want="$stream" -- stream get "$stream"

# Messages: two from arguments to partition 0, one from stdin to partition 1.
cli "message send (args)" -- message send --partition-id 0 "$stream" "$topic" hello-whippet "second message with spaces"
cli "message send (stdin)" stdin="from-stdin-42" -- message send --partition-id 1 "$stream" "$topic"
cli "message poll offset 0" want="hello-whippet" want="second message with spaces" want="Polled 2 messages" \
    -- message poll --offset 0 --message-count 10 "$stream" "$topic" 0
cli "message poll partition 1" want="from-stdin-42" absent="hello-whippet" \
    -- message poll --first --message-count 10 "$stream" "$topic" 1
cli "message poll next (auto-commit)" want="hello-whippet" absent="second message with spaces" \
    -- message poll --next --auto-commit --message-count 1 --consumer cli-consumer "$stream" "$topic" 0
cli "consumer-offset get" want="Stored offset" -- consumer-offset get cli-consumer "$stream" "$topic" 0
cli "message poll next resumes" want="second message with spaces" absent="hello-whippet" \
    -- message poll --next --auto-commit --message-count 1 --consumer cli-consumer "$stream" "$topic" 0
cli "consumer-offset set" -- consumer-offset set cli-consumer "$stream" "$topic" 0 0
cli "message poll last" want="second message with spaces" absent="hello-whippet" \
    -- message poll --last --message-count 1 "$stream" "$topic" 0

# Users, then a login as the new user.
cli "user create" want="User with username: $user created" -- user create "$user" "$user_pass"
cli "user list" want="$user" want="iggy" -- user list
cli "user get" want="$user" -- user get "$user"
cli "me as the new user" want="Client ID" want="User ID" as="$user:$user_pass" -- me
user_can_login=$last_ok
# The negative logins only mean something once the positive one works.
if [ "$user_can_login" = 1 ]; then
    cli "new user with a wrong password fails" fails as="$user:not-$user_pass" -- me
else
    not_run "new user with a wrong password fails" "the new user cannot log in at all"
fi
# A personal access token of the new user, then a login with it.
cli "pat create (new user)" want="Token:" as="$user:$user_pass" -- pat create cli-token
token=$(sed -n 's/^Token: *//p' "$work/step-$n.out" | head -n 1)
cli "pat list (new user)" want="cli-token" as="$user:$user_pass" -- pat list
if [ -n "$token" ]; then
    cli "me with the token" want="User ID" token="$token" -- me
    cli "pat delete (new user)" keyring_ok as="$user:$user_pass" -- pat delete cli-token
    cli "pat list after delete" absent="cli-token" as="$user:$user_pass" -- pat list
    cli "deleted token no longer logs in" fails token="$token" -- me
else
    not_run "me with the token" "pat create printed no token"
    cli "pat delete (new user)" keyring_ok as="$user:$user_pass" -- pat delete cli-token
    not_run "pat list after delete" "pat create printed no token"
    not_run "deleted token no longer logs in" "pat create printed no token"
fi
cli "user delete" -- user delete "$user"
user_deleted=$last_ok
cli "user list after delete" want="iggy" absent="$user" -- user list
if [ "$user_can_login" = 1 ] && [ "$user_deleted" = 1 ]; then
    cli "deleted user can no longer log in" fails as="$user:$user_pass" -- me
else
    not_run "deleted user can no longer log in" "the user never logged in or was not deleted"
fi

# Tear down.
cli "topic delete" -- topic delete "$stream" "$topic"
cli "topic list after delete" absent="$topic" -- topic list "$stream"
cli "stream delete" -- stream delete "$stream"
cli "stream list after delete" want="No streams found" absent="$stream" -- stream list

# The server stops cleanly on SIGTERM.
n=$((n + 1))
echo "--- [$n] server exits 0 on SIGTERM"
kill -TERM "$server_pid"
server_rc=0
for _ in $(seq 150); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$server_pid" 2>/dev/null; then
    server_rc=timeout; kill -KILL "$server_pid"; wait "$server_pid" 2>/dev/null
else
    wait "$server_pid"; server_rc=$?
fi
server_pid=
if [ "$server_rc" = 0 ]; then
    passed=$((passed + 1)); echo "ok (exit 0)"
else
    failed=$((failed + 1)); failed_names+=("[$n] server exits 0 on SIGTERM")
    echo "FAIL: server exit status $server_rc"; tail -n 25 "$log" | sed 's/^/  > /'
fi

if [ "$failed" != 0 ]; then
    echo "failed steps:"; printf '  %s\n' "${failed_names[@]}"
fi
echo "cli: $passed passed, $failed failed"
[ "$failed" = 0 ]
