#!/usr/bin/env bash
# Installs what the project needs from Debian and starts the local services if they are stopped.
# Idempotent: fast when everything is there already. Runs as root (or through sudo).
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
# `make bench` passes "bench": its load generator
if [ "${1:-}" = "bench" ]; then command -v wrk >/dev/null 2>&1 || missing+=(wrk); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing from Debian: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# promtool, which the tests run on the Prometheus rules in deploy/: taken out of Debian's prometheus
# package into vendor/promtool, without installing (or starting) the Prometheus server itself.
promtool_dir="$(cd "$(dirname "$0")/.." && pwd)/vendor/promtool"
if ! command -v promtool >/dev/null 2>&1 && [ ! -x "$promtool_dir/usr/bin/promtool" ]; then
  echo "fetching promtool (Debian's prometheus package, unpacked into vendor/promtool)"
  download="$(mktemp -d)"
  chmod 777 "$download"  # apt's download sandbox user writes there
  (cd "$download" && (apt-get download -qq prometheus 2>/dev/null || (as_root apt-get update -qq && apt-get download -qq prometheus)))
  dpkg -x "$download"/prometheus_*.deb "$promtool_dir"
  rm -f "$promtool_dir/usr/bin/prometheus"  # the server itself is not needed
  rm -rf "$download"
fi

# PostgreSQL and Redis: start them when they are installed but not answering.
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  else
    echo "PostgreSQL is not running on 127.0.0.1:5432 and is not installed here: set DATABASE_URL" >&2
  fi
fi
if ! (command -v redis-cli >/dev/null 2>&1 && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1); then
  if command -v redis-server >/dev/null 2>&1; then
    echo "starting Redis"
    as_root mkdir -p /var/lib/redis /var/log/redis
    as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
  else
    echo "Redis is not running on 127.0.0.1:6379 and is not installed here: set REDIS_URL" >&2
  fi
fi
for _ in $(seq 1 30); do
  pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && break
  sleep 1
done
