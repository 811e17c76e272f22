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
log_level: debug         # also handlers' output (info: a line per job)
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

say "1. Check the configuration: redjobd -t -c demo.yml"
"$REDJOBD" -t -c "$D/demo.yml"

say "2. Start redjobd: 2 workers x 4 slots, with its own redis-server"
echo "(redjobd's log goes to $D/redjobd.log; step 4 shows its job lines)"
# As root (make demo right after autogen.sh --deps), it must be told.
ROOT=; [ "$(id -u)" -ne 0 ] || ROOT=--allow-root
"$REDJOBD" -c "$D/demo.yml" $ROOT >"$D/redjobd.log" 2>&1 &
PID=$!
i=0
until [ -S "$D/redis/redis.sock" ] && rj stats >/dev/null 2>&1; do
	if ! kill -0 "$PID" 2>/dev/null; then
		cat "$D/redjobd.log" >&2; echo "redjobd did not start" >&2
		exit 1
	fi
	i=$((i + 1)); [ $i -lt 500 ] || { echo "redjobd did not start" >&2; exit 1; }
	sleep 0.02
done

WEB_ADDR=127.0.0.1:${DEMO_WEB_PORT:-8187}
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
[ -z "$WEB" ] || echo "the dashboard (redjob web) is at http://$WEB_ADDR/"

say "3. Enqueue five jobs: redjob enqueue [-q QUEUE] [--in DELAY] TYPE PAYLOAD"
echo "hello, runs now:                $(rj enqueue hello world)"
echo "send_email, in queue mail:      $(rj enqueue -q mail send_email ops@example.com)"
echo "hello, due in 2 s:              $(rj enqueue --in 2s hello 'from the future')"
echo "flaky, fails twice, then works: $(rj enqueue flaky '')"
BROKEN=$(rj enqueue broken '{"oops"')
echo "broken, exits 65 (permanent):   $BROKEN"

i=0
while :; do
	done_default=$(stat default PROCESSED); dead=$(stat default DEAD)
	done_mail=$(stat mail PROCESSED)
	[ "${done_default:-0}" -ge 3 ] && [ "${dead:-0}" -ge 1 ] &&
	    [ "${done_mail:-0}" -ge 1 ] && break
	i=$((i + 1)); [ $i -lt 1500 ] || { echo "jobs did not finish" >&2; exit 1; }
	sleep 0.02
done

say "4. What ran: the job lines of redjobd's log"
# Each line without its timestamp; "stdout:" lines are the handlers' own.
grep -E ' job [a-z]+:[0-9]+( |:)' "$D/redjobd.log" |
    grep -vE ': (started|handler pid|handler closed)' | sed -E 's/^[^ ]+ //'

say "5. The queues: redjob stats"
rj stats
cat <<'EOF2'
READY: due now, waiting for a slot   SCHEDULED: due later (delays, retries)
RUNNING: held by a worker now        DEAD: failed for good, kept for a look
PROCESSED/FAILED/RETRIED: counted since the queue began
THROTTLED/CONFLICTS: held back by a rate limit / a lock
WORKERS: live worker processes serving the queue
EOF2

say "6. Why did $BROKEN not run to the end? redjob why $BROKEN"
rj why "$BROKEN"
say "and the workers: redjob workers"
rj workers

say "what to try next"
if [ -n "$WEB" ]; then
	echo "- the dashboard: http://$WEB_ADDR/ (queues, workers, the dead job;"
	echo "  press Retry on $BROKEN and watch it fail again)"
fi
echo "- redjob show $BROKEN, redjob retry $BROKEN, redjob ls default"
echo "- docs: README.md, redjob(1), redjob.yml(5), docs/operations.md"
if [ -n "$WEB" ] && [ -t 0 ]; then
	echo "(the commands need -c $D/demo.yml while this demo runs)"
	printf 'press Enter to stop the demo: '
	read -r _ || true
fi
if [ -n "$WEB" ]; then
	kill -TERM "$WEB"; wait "$WEB" || true
	WEB=
fi
say "7. Stop redjobd (SIGTERM): it finishes running jobs, then exits 0"
kill -TERM "$PID"
wait "$PID"
PID=
tail -n 1 "$D/redjobd.log" | sed -E 's/^[^ ]+ //'
say "done"
