#!/usr/bin/env bash
# The main walkthrough of Ockam's "Relays and Portals" guide, as typed, and a check of what each
# step prints: a relay on n2 for n3, a message through it, then a portal through the relay and
# n3's hop service to a web server that never opened a port to n1.
#
#   examples/relay-and-portal.sh
#
# Runs the `ockam` on PATH (or $OCKAM) in a fresh OCKAM_HOME that it removes afterwards, with the
# guide's own ports (7000 for n2's listener, 6000 for the inlet, 9000 for the web server), which
# must be free. Exit status 0 only when every step printed what the guide shows.
set -u
OCKAM=${OCKAM:-ockam}
WORK=$(mktemp -d)
export OCKAM_HOME=$WORK/ockam-home
WEB_PID=""

cleanup() {
  timeout 60 $OCKAM node delete --all --yes >/dev/null 2>&1
  [[ -n $WEB_PID ]] && kill "$WEB_PID" 2>/dev/null && wait "$WEB_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { printf '✘ %s\n' "$*" >&2; exit 1; }
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# step COMMAND...: prints and runs one command (stdin closed, as typed in a terminal); its
# stdout goes to $OUT
step() {
  printf '» %s\n' "$*"
  OUT=$(timeout 60 "$@" </dev/null) || fail "'$*' failed (exit status $?)"
  [[ -n $OUT ]] && printf '%s\n' "$OUT" | sed 's/^/    /'
  return 0
}
expect() { [[ $OUT == *"$1"* ]] || fail "expected the output to contain: $1"; }

command -v "$OCKAM" >/dev/null || fail "no '$OCKAM' on PATH: install the project first (see README.md)"
command -v curl >/dev/null || fail "this example needs curl"
for port in 6000 7000 9000; do
  port_free $port || fail "port $port is taken: the guide's walkthrough needs it free"
done

step "$OCKAM" node create n2 --tcp-listener-address=127.0.0.1:7000
step "$OCKAM" node create n3
step "$OCKAM" service start hop --at n3
step "$OCKAM" relay create n3 --at /node/n2 --to /node/n3
expect forward_to_n3

step "$OCKAM" node create n1
step "$OCKAM" tcp-connection create --from n1 --to 127.0.0.1:7000
ID=$(grep -oE '[0-9a-f]{32}' <<<"$OUT" | head -n 1)
[[ -n $ID ]] || fail "tcp-connection create did not print the connection's worker address"
step "$OCKAM" message send hello --from n1 --to "/service/$ID/service/forward_to_n3/service/uppercase"
expect HELLO

mkdir -p "$WORK/www" && echo "hello from the private network" >"$WORK/www/index.html"
(cd "$WORK/www" && exec python3 -m http.server --bind 127.0.0.1 9000 >/dev/null 2>&1) &
WEB_PID=$!
for _ in $(seq 100); do port_free 9000 || break; sleep 0.1; done
port_free 9000 && fail "the web server on 127.0.0.1:9000 did not start"

step "$OCKAM" tcp-outlet create --at n3 --from /service/outlet --to 127.0.0.1:9000
step "$OCKAM" tcp-inlet create --at n1 --from 127.0.0.1:6000 \
  --to "/service/$ID/service/forward_to_n3/service/hop/service/outlet"
step curl --silent --show-error --head 127.0.0.1:6000
expect "HTTP/1.0 200 OK"
step curl --silent --show-error 127.0.0.1:6000
expect "hello from the private network"

step "$OCKAM" node delete --all --yes
for port in 6000 7000; do port_free $port || fail "port $port is still taken after node delete --all"; done
printf '✔ relay and portal: every step printed what the guide shows\n'
