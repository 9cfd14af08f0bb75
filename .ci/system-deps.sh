#!/usr/bin/env bash
# System packages the production tests need, from Debian: PostgreSQL (tests marked `postgres`)
# and Chromium (tests marked `browser`, driven by the Playwright Python package, which never
# downloads a browser of its own). Idempotent: re-running only re-checks. Needs root (or sudo).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v runuser >/dev/null 2>&1 || need+=(util-linux)
fc-list 2>/dev/null | grep -qi dejavu || need+=(fonts-dejavu-core)   # legible screenshots
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi
# Debian's package may start a cluster on :5432; the tests start their own on a free port.
echo "system-deps: $(ls -d /usr/lib/postgresql/*/bin | tail -1)/postgres: $($(ls -d /usr/lib/postgresql/*/bin | tail -1)/postgres --version)"
echo "system-deps: $(chromium --version 2>/dev/null)"
