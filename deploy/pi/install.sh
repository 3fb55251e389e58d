#!/usr/bin/env bash
# Installs (or updates) the Skittle Sorter on Raspberry Pi OS as the systemd service `skittle-sorter`.
# Idempotent: run it again to update; it never overwrites /etc/skittle-sorter/appsettings.json, the secrets file
# /etc/skittle-sorter/env or the data directory /var/lib/skittle-sorter. See apps/sorter/README.md.
#
#   sudo deploy/pi/install.sh                      # the published @skittlesorter/sorter from npm
#   sudo deploy/pi/install.sh --tarballs DIR       # local tarballs (pnpm pack / pnpm release:dry --keep)
#   deploy/pi/install.sh --dry-run                 # print every step, change nothing
#
# Options:
#   --dry-run          print what would be done; change nothing
#   --root DIR         operate on a system image mounted at DIR (tests use a fake root); default /
#   --version V        npm version or dist-tag of @skittlesorter/sorter (default: latest)
#   --tarballs DIR     install from the *.tgz files in DIR instead of the registry (into /opt/skittle-sorter)
#   --template sas|x509  the configuration template for a first install (default: sas)
#   --pwm              enable the hardware-PWM overlay even if the configuration does not ask for it
#   -h, --help         this text
set -euo pipefail

readonly PACKAGE="@skittlesorter/sorter"
readonly SERVICE="skittle-sorter"
readonly APP_USER="skittle"
readonly NODE_MINIMUM="20.19.0"
readonly I2C_LINE="dtparam=i2c_arm=on"
readonly PWM_LINE="dtoverlay=pwm-2chan,pin=12,func=4,pin2=13,func2=4"
readonly TARBALL_PREFIX="/opt/skittle-sorter"
readonly ENV_TEMPLATE="# Secrets for skittle-sorter.service (its EnvironmentFile=, read by systemd as root; keep it mode 0600).
# One KEY=value a line, no quotes:
# SKITTLE__IoTHub__DpsProvisioning__EnrollmentGroupKeyBase64=<the enrollment group's primary key>"

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
unit_source="$script_dir/../systemd/$SERVICE.service"

dry_run=false
root=/
version=latest
tarballs=""
template=sas
force_pwm=false
changes=0
reboot_needed=false

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }
die() {
  echo "install.sh: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry_run=true ;;
    --root) root=${2:?--root needs a directory}; shift ;;
    --version) version=${2:?--version needs a version or dist-tag}; shift ;;
    --tarballs) tarballs=${2:?--tarballs needs a directory}; shift ;;
    --template) template=${2:?--template needs sas or x509}; shift ;;
    --pwm) force_pwm=true ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done

case "$template" in sas | x509) ;; *) die "--template must be sas or x509, not \"$template\"" ;; esac
[ -d "$root" ] || die "--root $root is not a directory"
root=$(cd "$root" && pwd)
[ "$root" = / ] && root=""
if [ -n "$tarballs" ]; then
  [ -d "$tarballs" ] || die "--tarballs $tarballs is not a directory"
  tarballs=$(cd "$tarballs" && pwd)
  compgen -G "$tarballs/skittlesorter-sorter-*.tgz" >/dev/null ||
    die "--tarballs $tarballs holds no skittlesorter-sorter-*.tgz (make them with pnpm release:dry --keep)"
fi
[ -f "$unit_source" ] || die "the unit file $unit_source is missing; run install.sh from a checkout of the repository"
if ! $dry_run && [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
  die "run it as root (sudo $0 …), or with --dry-run to see the steps"
fi

# One line per step: "ok" (nothing to do), "change" (done now), "would" (dry run).
ok() { echo "ok      $*"; }
step() {
  local what=$1
  shift
  changes=$((changes + 1))
  if $dry_run; then
    echo "would   $what"
    printf '          $'
    printf ' %q' "$@"
    printf '\n'
  else
    echo "change  $what"
    "$@"
  fi
}

# The file-changing actions the steps run (named, so that --dry-run prints a readable command).
apt_install() { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"; }
append_line() { printf '%s\n' "$1" >>"$2"; }
link() { mkdir -p "$(dirname "$2")" && ln -sfn "$1" "$2"; }
write_file() {
  mkdir -p "$(dirname "$1")"
  (umask 077 && printf '%s\n' "$3" >"$1")
  chmod "$2" "$1"
}
# The template's DataDir ("data", next to the file) would point into /etc, read-only under the unit; without it
# the data directory is the unit's StateDirectory.
copy_template() {
  [ -f "$1" ] || die "the configuration template $1 is missing (did the npm install fail?)"
  grep -vE '^[[:space:]]*"DataDir": "data",$' "$1" >"$2"
  chmod 0640 "$2"
}

version_at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

node_help() {
  cat >&2 <<EOF
install.sh: the sorter needs Node.js $NODE_MINIMUM or later; $1.
Raspberry Pi OS Bookworm's apt has Node 18. Install a current LTS, then run install.sh again. Either:
  NodeSource:   curl -fsSL https://deb.nodesource.com/setup_22.x | sudo -E bash - && sudo apt-get install -y nodejs
  nodejs.org:   curl -fsSLO https://nodejs.org/dist/latest-v22.x/node-v22.<x>.<y>-linux-arm64.tar.xz
                sudo tar -xJf node-v22.*-linux-arm64.tar.xz -C /usr/local --strip-components=1
EOF
}

check_node() {
  local found
  if ! found=$(node --version 2>/dev/null); then
    node_help "node is not installed"
    $dry_run || exit 1
    echo "would   stop here: install Node.js first (see above)"
    return
  fi
  found=${found#v}
  if ! version_at_least "$found" "$NODE_MINIMUM"; then
    node_help "this one is $found"
    $dry_run || exit 1
    echo "would   stop here: update Node.js first (see above)"
    return
  fi
  ok "Node.js $found (needs $NODE_MINIMUM or later)"
}

# Build tools for the native modules (i2c-bus compiles on install; better-sqlite3 falls back to compiling).
ensure_build_tools() {
  local missing=() pkg
  for pkg in build-essential python3 i2c-tools; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    ok "build-essential, python3 and i2c-tools are installed"
  else
    step "install ${missing[*]} from apt" apt_install "${missing[@]}"
  fi
}

boot_config() {
  if [ -f "$root/boot/firmware/config.txt" ]; then
    echo "$root/boot/firmware/config.txt"
  elif [ -f "$root/boot/config.txt" ]; then
    echo "$root/boot/config.txt"
  fi
}

# Makes `line` active in config.txt: uncomments it or replaces a line with the same key and a different value
# (e.g. dtparam=i2c_arm=off), else appends it.
ensure_boot_line() {
  local file=$1 line=$2 key=$3 why=$4
  if grep -qxF "$line" "$file"; then
    ok "$why ($line in ${file#"$root"})"
    return
  fi
  reboot_needed=true
  if grep -qE "^#?[[:space:]]*${key}" "$file"; then
    step "$why: set $line in ${file#"$root"}" sed -i -E "0,/^#?[[:space:]]*${key}.*/s||$line|" "$file"
  else
    step "$why: add $line to ${file#"$root"}" append_line "$line" "$file"
  fi
}

ensure_i2c_and_pwm() {
  local file
  file=$(boot_config)
  if [ -z "$file" ]; then
    echo "warning: no /boot/firmware/config.txt (is this Raspberry Pi OS?); enable I2C yourself" >&2
    return
  fi
  ensure_boot_line "$file" "$I2C_LINE" "dtparam=i2c_arm=" "enable I2C"
  local modules="$root/etc/modules-load.d/i2c-dev.conf"
  if [ -f "$modules" ] && grep -qx "i2c-dev" "$modules"; then
    ok "i2c-dev is loaded at boot (${modules#"$root"})"
  else
    step "load i2c-dev at boot (${modules#"$root"})" write_file "$modules" 0644 "i2c-dev"
  fi
  if $force_pwm || uses_hardware_pwm; then
    ensure_boot_line "$file" "$PWM_LINE" "dtoverlay=pwm-2chan" "enable hardware PWM on GPIO12/13"
  else
    ok "hardware PWM not configured (Hardware.ServoDriver is not \"sysfs\"; --pwm forces it)"
  fi
}

uses_hardware_pwm() {
  local config="$root/etc/$SERVICE/appsettings.json"
  [ -f "$config" ] && grep -qiE '"ServoDriver"[[:space:]]*:[[:space:]]*"sysfs"' "$config"
}

has_group() { grep -q "^$1:" "$root/etc/group" 2>/dev/null; }
in_group() { grep -qE "^$1:[^:]*:[^:]*:(.*,)?$2(,|$)" "$root/etc/group" 2>/dev/null; }
root_option() { if [ -n "$root" ]; then printf '%s\n' --root "$root"; fi; }

ensure_user() {
  local group options=()
  mapfile -t options < <(root_option)
  for group in i2c gpio; do
    if has_group "$group"; then
      ok "group $group exists"
    else
      step "create the system group $group" groupadd "${options[@]}" --system "$group"
    fi
  done
  if grep -q "^$APP_USER:" "$root/etc/passwd" 2>/dev/null; then
    ok "user $APP_USER exists"
  else
    step "create the system user $APP_USER (no login, no home)" useradd "${options[@]}" --system --user-group \
      --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --comment "Skittle Sorter" "$APP_USER"
  fi
  for group in i2c gpio; do
    if in_group "$group" "$APP_USER"; then
      ok "user $APP_USER is in group $group"
    else
      step "add user $APP_USER to group $group" usermod "${options[@]}" --append --groups "$group" "$APP_USER"
    fi
  done
}

npm_prefix_options() { if [ -n "$root" ]; then printf '%s\n' --prefix "$root/usr"; fi; }

# The directory holding the installed package (for its configuration templates).
package_dir() {
  if [ -n "$tarballs" ]; then
    echo "$root$TARBALL_PREFIX/node_modules/$PACKAGE"
  else
    local options=()
    mapfile -t options < <(npm_prefix_options)
    echo "$(npm root -g "${options[@]}")/$PACKAGE"
  fi
}

install_app() {
  if [ -n "$tarballs" ]; then
    install_from_tarballs
    return
  fi
  local options=() installed="" wanted=""
  mapfile -t options < <(npm_prefix_options)
  installed=$(node -p 'require(process.argv[1]).version' "$(package_dir)/package.json" 2>/dev/null) || true
  wanted=$(npm view "$PACKAGE@$version" version 2>/dev/null | tail -n1) || true
  if [ -n "$installed" ] && [ "$installed" = "$wanted" ]; then
    ok "$PACKAGE $installed is installed (npm -g; $version is $wanted)"
  else
    step "install $PACKAGE@$version with npm -g${installed:+ (replacing $installed)}" \
      npm install -g "${options[@]}" --omit=dev --no-audit --no-fund "$PACKAGE@$version"
  fi
}

# npm -g cannot resolve one tarball's dependencies to the others, so local tarballs go into a small project
# under /opt/skittle-sorter whose overrides pin every @skittlesorter package to its tarball; its bin is linked
# into /usr/local/bin, where the unit's ExecStart finds it.
install_from_tarballs() {
  local dir="$root$TARBALL_PREFIX" manifest
  manifest=$(tarball_manifest)
  if [ -f "$dir/package.json" ] && [ "$(cat "$dir/package.json")" = "$manifest" ] &&
    [ -e "$dir/node_modules/$PACKAGE/package.json" ]; then
    ok "$PACKAGE from the same tarballs is installed in $TARBALL_PREFIX"
  else
    step "write $TARBALL_PREFIX/package.json naming the tarballs in $tarballs" \
      write_file "$dir/package.json" 0644 "$manifest"
    step "install $PACKAGE from the tarballs into $TARBALL_PREFIX" \
      npm install --prefix "$dir" --omit=dev --no-audit --no-fund
  fi
  local link="$root/usr/local/bin/$SERVICE" target="$TARBALL_PREFIX/node_modules/.bin/$SERVICE"
  if [ "$(readlink "$link" 2>/dev/null)" = "$target" ]; then
    ok "/usr/local/bin/$SERVICE links to $target"
  else
    step "link /usr/local/bin/$SERVICE to $target" link "$target" "$link"
  fi
}

# Depends on the sorter only; the overrides pin every @skittlesorter package (its dependencies) to its tarball.
tarball_manifest() {
  local file name sorter="" overrides=""
  for file in "$tarballs"/skittlesorter-*.tgz; do
    name=$(basename "$file" | sed -E 's/^skittlesorter-(.*)-[0-9]+\.[0-9]+\.[0-9]+.*\.tgz$/\1/')
    overrides="$overrides${overrides:+, }\"@skittlesorter/$name\": \"file:$file\""
    [ "$name" = sorter ] && sorter="\"@skittlesorter/sorter\": \"file:$file\""
  done
  printf '{"name": "skittle-sorter-install", "private": true, "dependencies": {%s}, "overrides": {%s}}' \
    "$sorter" "$overrides"
}

install_config() {
  local dir="$root/etc/$SERVICE" config="$root/etc/$SERVICE/appsettings.json" env="$root/etc/$SERVICE/env"
  if [ -d "$dir" ]; then
    ok "/etc/$SERVICE exists"
  else
    step "create /etc/$SERVICE (0755; the secrets live in env, 0600)" install -d -m 0755 "$dir"
  fi
  if [ -e "$config" ]; then
    ok "/etc/$SERVICE/appsettings.json exists (kept as it is)"
  else
    local source
    source="$(package_dir)/config/appsettings.$template.template.json"
    step "install the $template configuration template as /etc/$SERVICE/appsettings.json (0640)" \
      copy_template "$source" "$config"
    step "let group $APP_USER read it" chgrp_in_root "$APP_USER" "$config"
  fi
  if [ -e "$env" ]; then
    ok "/etc/$SERVICE/env exists (kept as it is)"
  else
    step "create /etc/$SERVICE/env for the group key (root only, 0600)" write_file "$env" 0600 "$ENV_TEMPLATE"
  fi
}

# chgrp by name inside --root: the group id comes from that root's /etc/group.
chgrp_in_root() {
  local gid
  gid=$(awk -F: -v name="$1" '$1 == name { print $3 }' "$root/etc/group")
  [ -n "$gid" ] || die "group $1 is missing from $root/etc/group"
  chgrp "$gid" "$2"
}

install_unit() {
  local target="$root/etc/systemd/system/$SERVICE.service" systemctl_options=()
  [ -n "$root" ] && systemctl_options=(--root "$root")
  if [ -f "$target" ] && cmp -s "$unit_source" "$target"; then
    ok "/etc/systemd/system/$SERVICE.service is current"
  else
    step "install /etc/systemd/system/$SERVICE.service" install -D -m 0644 "$unit_source" "$target"
    if [ -z "$root" ]; then step "reload systemd" systemctl daemon-reload; fi
  fi
  if systemctl "${systemctl_options[@]}" is-enabled --quiet "$SERVICE" 2>/dev/null; then
    ok "$SERVICE is enabled (starts at boot)"
  else
    step "enable $SERVICE at boot" systemctl "${systemctl_options[@]}" enable "$SERVICE"
  fi
  if [ -z "$root" ] && [ "$changes" -gt 0 ] && systemctl is-active --quiet "$SERVICE" 2>/dev/null; then
    step "restart $SERVICE (it was running; picks up the update)" systemctl restart "$SERVICE"
  fi
}

$dry_run && echo "dry run: nothing is changed${root:+ (root $root)}"
check_node
ensure_build_tools
ensure_i2c_and_pwm
ensure_user
install_app
install_config
install_unit

if $dry_run; then
  echo "dry run: $changes step(s) would change the system"
elif [ "$changes" -eq 0 ]; then
  echo "nothing to do: everything is installed and current"
else
  echo "done: $changes change(s)"
fi
if $reboot_needed; then echo "reboot to apply the config.txt changes (sudo reboot)"; fi
cat <<EOF
next: fill in /etc/$SERVICE/appsettings.json and /etc/$SERVICE/env, check them with
        sudo sh -c 'set -a; . /etc/$SERVICE/env; skittle-sorter check-config --config /etc/$SERVICE/appsettings.json'
      then: sudo systemctl start $SERVICE && journalctl -u $SERVICE -f
EOF
