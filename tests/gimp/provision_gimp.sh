#!/usr/bin/env bash
# Provision a real GIMP 3 for the plug-in tests (headless and GUI) and print how to run it.
#
#   provision_gimp.sh [--suite trixie|sid]
#
# trixie (Debian 13, the default) ships GIMP 3.0; sid (Debian unstable) ships GIMP 3.2. A Debian host of
# that suite gets the packages with apt directly; any other Debian host gets (once) a minimal root of the
# suite built with debootstrap under /var/cache/nst-gimp3/SUITE, reused and repaired on later runs.
# Prints one line: the command prefix that runs programs next to GIMP, "" for the host itself or
# "chroot ROOT" for a root. Needs root for either path; exits 3 with a message otherwise.
# The Debian mirror is the host's own (its apt sources); NST_DEBIAN_MIRROR overrides it.
# A lock per suite keeps two test runs from provisioning the same root at once.
set -euo pipefail

SUITE=trixie
while [[ $# -gt 0 ]]; do
  case $1 in
    --suite) SUITE=${2:?--suite needs a value}; shift 2 ;;
    --suite=*) SUITE=${1#--suite=}; shift ;;
    *) echo "usage: $0 [--suite trixie|sid]" >&2; exit 2 ;;
  esac
done
[[ $SUITE =~ ^[a-z]+$ ]] || { echo "bad suite: $SUITE" >&2; exit 2; }

BASE=${NST_GIMP_ROOTS:-/var/cache/nst-gimp3}
ROOT=$BASE/$SUITE
# Everything the GIMP tests use: GIMP and its Python bindings, and Xvfb/xauth/xdotool/ImageMagick for the GUI.
PKGS=(gimp python3-gi gir1.2-gimp-3.0 xvfb xauth xdotool imagemagick)
APT_OPTS=(-o Dpkg::Use-Pty=0)
# A snapshot mirror's sid Release file may be past its Valid-Until date.
[[ $SUITE == sid ]] && APT_OPTS+=(-o Acquire::Check-Valid-Until=false)
log() { printf '%s\n' "$*" >&2; }

if [[ $(id -u) != 0 ]]; then
  log "Provisioning GIMP 3 for the tests needs root (apt or debootstrap)."
  exit 3
fi

# Which suite the host itself is: "13" style version numbers map to their codename, "x/sid" is sid.
host_suite() {
  local v
  v=$(cat /etc/debian_version 2>/dev/null || true)
  case $v in
    */sid) echo sid ;;
    13.*|13) echo trixie ;;
    *) echo none ;;
  esac
}

# dpkg-query prints one status per package; any package not "installed" means (re)install.
missing_pkgs() {
  local -a run=("$@")
  local pkg
  for pkg in "${PKGS[@]}"; do
    if [[ $("${run[@]}" dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null) != installed ]]; then
      printf '%s ' "$pkg"
    fi
  done
}

# The host's apt mirror for the main archive: the first URIs:/deb line that is not a security archive.
host_mirror() {
  if [[ -n ${NST_DEBIAN_MIRROR:-} ]]; then echo "$NST_DEBIAN_MIRROR"; return; fi
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}' |
        grep -v -- '-security' | head -n1 || true)
  if [[ -z $uri ]]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
          awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {print $i; break}}' |
          grep -v -- '-security' | head -n1 || true)
  fi
  [[ -n $uri ]] || { log "No Debian mirror in this machine's apt sources; set NST_DEBIAN_MIRROR."; exit 3; }
  echo "$uri"
}

# apt on the host, one at a time: two suites provisioned at once must not both hold dpkg's lock.
host_apt() {
  (
    flock -w 1800 8 || { log "apt on this host stayed locked for 30 minutes"; exit 1; }
    apt-get "${APT_OPTS[@]}" update -qq >&2
    apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends "$@" >&2
  ) 8>"$BASE/.lock-host-apt"
}

mkdir -p "$BASE"
exec 9>"$BASE/.lock-$SUITE"
if ! flock -w 1800 9; then
  log "Another run held the lock on $ROOT for 30 minutes; giving up."
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive

if [[ $(host_suite) == "$SUITE" && -z ${NST_GIMP_FORCE_ROOT:-} ]]; then
  missing=$(missing_pkgs)
  if [[ -n $missing ]]; then
    log "Installing on this Debian $SUITE host: $missing"
    # shellcheck disable=SC2086
    host_apt $missing
  fi
  echo ""
  exit 0
fi

mounted() { mountpoint -q "$ROOT/proc"; }
if [[ ! -e $ROOT/.nst-debootstrap-done ]]; then
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "Installing debootstrap"
    host_apt debootstrap
  fi
  mirror=$(host_mirror)
  log "Building a Debian $SUITE root in $ROOT from $mirror (trixie ~1 min, sid ~2 min)"
  if mounted; then umount "$ROOT/proc"; fi  # never rm -rf through a mounted /proc
  rm -rf --one-file-system "$ROOT"
  debootstrap --variant=minbase "$SUITE" "$ROOT" "$mirror" >&2
  touch "$ROOT/.nst-debootstrap-done"
fi
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mounted || mount -t proc proc "$ROOT/proc"
missing=$(missing_pkgs chroot "$ROOT")
if [[ -n $missing ]]; then
  log "Installing in $ROOT: $missing(trixie ~1 min, sid ~4 min)"
  # shellcheck disable=SC2086
  chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    bash -c "apt-get ${APT_OPTS[*]} update -qq && \
             apt-get ${APT_OPTS[*]} install -y -qq --no-install-recommends $missing" >&2
  missing=$(missing_pkgs chroot "$ROOT")
  [[ -z $missing ]] || { log "Still missing in $ROOT after apt-get: $missing"; exit 1; }
fi
echo "chroot $ROOT"
