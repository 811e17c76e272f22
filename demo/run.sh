#!/bin/sh
# demo/run.sh BUILDDIR: show redjobd processing jobs, end to end, against
# its own embedded redis-server in a temporary directory. Run by
# "make demo". Everything it starts, it stops; the directory is removed.
# It also serves the dashboard (redjob web) on 127.0.0.1:8187, or
# DEMO_WEB_PORT; run from a terminal, it waits for Enter before it stops,
# so the dashboard can be looked at.
set -eu
B=$(cd "${1:-.}" && pwd)
REDJOBD="$B/src/redjobd"
REDJOB="$B/src/redjob"
D=$(mktemp -d "${TMPDIR:-/tmp}/redjob-demo-XXXXXX")
PID=
WEB=
cleanup() {
	if [ -n "$WEB" ] && kill -0 "$WEB" 2>/dev/null; then
		kill -TERM "$WEB"; wait "$WEB" || true
	fi
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID"; wait "$PID" || true
	fi
	rm -rf "$D"
}
trap cleanup EXIT INT TERM

cat > "$D/demo.yml" <<EOF
# The demo's configuration: an embedded Redis, two queues, four job types.
redis:
  embedded: { dir: $D/redis }
  namespace: demo
workers: 2
concurrency: 4
shutdown_timeout: 5s
log_level: debug         # show every job starting and finishing
queues: { default: 1, mail: 2 }
jobs:
  hello:
    exec: [/bin/sh, -c, 'printf "hello, %s\n" "\$(cat)"']
  send_email:
    queue: mail
    exec: [/bin/sh, -c, 'echo "mail sent to \$(cat)"']
  flaky:
    exec: [/bin/sh, -c, 'if [ "\$REDJOB_ATTEMPT" -lt 3 ]; then echo "attempt \$REDJOB_ATTEMPT: upstream timed out" >&2; exit 1; fi; echo "worked on attempt \$REDJOB_ATTEMPT"']
    retry: { max_attempts: 5, backoff: exponential, base: 500ms, max: 2s, jitter: 0 }
  broken:
    exec: [/bin/sh, -c, 'echo "cannot parse the payload" >&2; exit 65']
EOF

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
rj() { "$REDJOB" -c "$D/demo.yml" "$@"; }
# stat QUEUE COLUMN: one figure of the "redjob stats" table.
stat() {
	rj stats | awk -v q="$1" -v c="$2" \
	    'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i } $1 == q { print $h[c] }'
}

say "validating the configuration: redjobd -t -c demo.yml"
"$REDJOBD" -t -c "$D/demo.yml"

say "starting redjobd (2 workers x 4 slots) with an embedded redis-server"
# As root (make demo right after autogen.sh --deps), it must be told.
ROOT=; [ "$(id -u)" -ne 0 ] || ROOT=--allow-root
"$REDJOBD" -c "$D/demo.yml" $ROOT &
PID=$!
i=0
until [ -S "$D/redis/redis.sock" ] && rj stats >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 500 ] || { echo "redjobd did not start" >&2; exit 1; }
	sleep 0.02
done

WEB_ADDR=127.0.0.1:${DEMO_WEB_PORT:-8187}
say "starting the dashboard: redjob web --listen $WEB_ADDR"
"$REDJOB" -c "$D/demo.yml" web --listen "$WEB_ADDR" 2>"$D/web.log" &
WEB=$!
i=0
until grep -q "listening on" "$D/web.log" 2>/dev/null; do
	if ! kill -0 "$WEB" 2>/dev/null; then
		# A port in use must not stop the demo.
		cat "$D/web.log" >&2; WEB=; break
	fi
	i=$((i + 1)); [ $i -lt 500 ] || break
	sleep 0.02
done
[ -z "$WEB" ] || echo "dashboard: http://$WEB_ADDR/"

say "enqueueing: immediate, delayed by 2 s, flaky (fails twice), broken (exit 65)"
echo "immediate: $(rj enqueue hello world)"
echo "mail:      $(rj enqueue -q mail send_email ops@example.com)"
echo "delayed:   $(rj enqueue --in 2s hello 'from the future')"
echo "flaky:     $(rj enqueue flaky '')"
BROKEN=$(rj enqueue broken '{"oops"')
echo "broken:    $BROKEN"

i=0
while :; do
	done_default=$(stat default PROCESSED); dead=$(stat default DEAD)
	done_mail=$(stat mail PROCESSED)
	[ "${done_default:-0}" -ge 3 ] && [ "${dead:-0}" -ge 1 ] &&
	    [ "${done_mail:-0}" -ge 1 ] && break
	i=$((i + 1)); [ $i -lt 1500 ] || { echo "jobs did not finish" >&2; exit 1; }
	sleep 0.02
done

say "redjob stats"
rj stats
say "redjob ls default --state dead"
rj ls default --state dead
say "redjob show $BROKEN"
rj show "$BROKEN"
if [ -n "$WEB" ] && [ -t 0 ]; then
	say "open http://$WEB_ADDR/ to see the queues, the workers and the dead job"
	printf 'press Enter to stop the demo: '
	read -r _ || true
fi
if [ -n "$WEB" ]; then
	kill -TERM "$WEB"; wait "$WEB" || true
	WEB=
fi
say "stopping redjobd (SIGTERM)"
kill -TERM "$PID"
wait "$PID"
PID=
say "done"
