#!/usr/bin/env bash
# Checks for the system tools the tests use and, on Debian/Ubuntu only, installs the missing ones with apt.
# Idempotent; prints nothing when everything is there, and apt's output only when an install fails.
#   openssl   CSR and chain checks
#   browser   the simulator dashboard's browser test drives Chrome, Chromium or Edge through playwright-core:
#             $CHROME_PATH, else the usual install locations (scripts/find-browser.ts, shared with the tests)
#   systemd-analyze, shellcheck
#             the deploy tests (deploy/): `systemd-analyze verify` on the unit, shellcheck on install.sh; Debian
#             packages systemd and shellcheck. Installed on Debian/Ubuntu only: elsewhere the deploy tests say what
#             is missing (and, run as root with apt-get, install it themselves).
#   mosquitto (with --bench only)
#             `pnpm bench` item 4's baseline broker; Debian package mosquitto (its binary is in /usr/sbin)
# Anywhere else it stops, for openssl or a browser (or mosquitto with --bench), with one line saying what to install.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=false
for arg in "$@"; do
  case $arg in
    --bench) bench=true ;;
    *) echo "setup-system: unknown argument $arg (only --bench: also the benchmark's tools)" >&2; exit 2 ;;
  esac
done

is_debian_like() {
  [ -r /etc/os-release ] && grep -qiE '^(ID|ID_LIKE)=.*\b(debian|ubuntu)\b' /etc/os-release
}

missing=()
if ! command -v openssl >/dev/null; then
  if is_debian_like; then
    missing+=(openssl)
  else
    echo "setup-system: openssl is missing: install it (e.g. brew install openssl), then run the tests again." >&2
    exit 1
  fi
fi
if is_debian_like; then
  command -v systemd-analyze >/dev/null || missing+=(systemd)
  command -v shellcheck >/dev/null || missing+=(shellcheck)
fi
if $bench && ! command -v mosquitto >/dev/null; then
  if is_debian_like; then
    missing+=(mosquitto)
  else
    echo "setup-system: mosquitto is missing: install it (e.g. brew install mosquitto) and put it on PATH, then run the bench again." >&2
    exit 1
  fi
fi
status=0
browser=$(node --conditions=@skittlesorter/source --import tsx scripts/find-browser.ts) || status=$?
case $status in
  0) ;;
  10) missing+=("$browser") ;; # Debian/Ubuntu without a browser: apt can provide one
  *) exit 1 ;;                 # find-browser printed what to do
esac

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  echo "setup-system: installing ${missing[*]} with apt" >&2
  out=$(mktemp)
  trap 'rm -f "$out"' EXIT
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    --no-install-recommends "${missing[@]}"; } >"$out" 2>&1; then
    cat "$out" >&2
    echo "setup-system: installing ${missing[*]} failed (see above): install them yourself (a browser: or set CHROME_PATH), then run the tests again" >&2
    exit 1
  fi
fi
