#!/usr/bin/env bash
# CI: make sure Redis answers on $REDIS_HOST:$REDIS_PORT (the popup tests run on it),
# installing and starting a local server when it does not. Unreachable is a failure.
set -uo pipefail

REDIS_HOST="${REDIS_HOST:-127.0.0.1}"
REDIS_PORT="${REDIS_PORT:-6379}"

# Speak the protocol with bash alone: no client needs to be installed to ask.
redis_up() {
    local reply
    exec 3<>"/dev/tcp/$REDIS_HOST/$REDIS_PORT" || return 1
    printf 'PING\r\n' >&3
    read -r -t 3 reply <&3
    exec 3>&-
    [[ "$reply" == "+PONG"* ]]
}

redis_up 2>/dev/null && exit 0
echo "== Redis is not reachable at $REDIS_HOST:$REDIS_PORT; trying to start it"
if ! command -v redis-server >/dev/null; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends redis-server
fi
mkdir -p /var/lib/redis /var/log/redis
redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
for _ in $(seq 60); do
    redis_up 2>/dev/null && exit 0
    sleep 0.5
done
echo "FAIL: Redis is not reachable at $REDIS_HOST:$REDIS_PORT" >&2
exit 1
