#!/usr/bin/env bash
# Installs the system tools the tests use, from Debian's packages, when they are missing. Idempotent; prints
# nothing when everything is there, and apt's output only when an install fails.
#   openssl   CSR and chain checks
#   chromium  the simulator dashboard's browser test (playwright-core drives /usr/bin/chromium)
set -euo pipefail
missing=()
command -v openssl >/dev/null || missing+=(openssl)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  echo "setup-system: installing ${missing[*]}" >&2
  out=$(mktemp)
  trap 'rm -f "$out"' EXIT
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    --no-install-recommends "${missing[@]}"; } >"$out" 2>&1; then
    cat "$out" >&2
    echo "setup-system: installing ${missing[*]} failed (see above)" >&2
    exit 1
  fi
fi
