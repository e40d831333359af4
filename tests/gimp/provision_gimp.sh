#!/usr/bin/env bash
# Provision a real GIMP 3 for the plug-in tests and print how to run it.
#
# Debian 13 (trixie) packages GIMP 3; Debian 12 does not. On Debian 13 we apt-install it directly;
# on older Debian we build (once) a minimal trixie root with debootstrap and install GIMP there.
# Prints one line: the command prefix that runs programs next to GIMP, "" for the host itself or
# "chroot ROOT" for the chroot. Needs root for either path; exits 3 with a message otherwise.
set -euo pipefail

ROOT=${NST_GIMP_ROOT:-/var/cache/nst-gimp3/trixie}
PKGS=(gimp python3-gi gir1.2-gimp-3.0)
log() { printf '%s\n' "$*" >&2; }

if command -v gimp-console-3.0 >/dev/null 2>&1; then
  echo ""
  exit 0
fi
if [[ $(id -u) != 0 ]]; then
  log "GIMP 3 is not installed and provisioning it needs root (apt or debootstrap)."
  exit 3
fi
major=$(cut -d. -f1 /etc/debian_version 2>/dev/null || echo 0)
export DEBIAN_FRONTEND=noninteractive
if [[ $major =~ ^[0-9]+$ && $major -ge 13 ]]; then
  log "Installing GIMP 3 from Debian $major"
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${PKGS[@]}" >&2
  echo ""
  exit 0
fi

if [[ ! -x $ROOT/usr/bin/gimp-console-3.0 ]]; then
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "Installing debootstrap"
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends debootstrap >&2
  fi
  if [[ ! -x $ROOT/usr/bin/apt-get ]]; then
    log "Building a Debian 13 root in $ROOT (about 30 s)"
    rm -rf "$ROOT"
    mkdir -p "$(dirname "$ROOT")"
    debootstrap --variant=minbase trixie "$ROOT" http://deb.debian.org/debian >&2
  fi
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
  log "Installing GIMP 3 in $ROOT (about 30 s)"
  chroot "$ROOT" bash -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends ${PKGS[*]} ${NST_GIMP_EXTRA_PKGS:-}" >&2
fi
mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
echo "chroot $ROOT"
