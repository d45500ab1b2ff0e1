#!/usr/bin/env bash
# The README's "Set up on a fresh machine" commands, run exactly as written on a fresh Debian bookworm.
#
#   sudo scripts/check_fresh_install.sh [CHROOT_DIR]     (default /tmp/akmamba-fresh-bookworm; needs root; a new
#                                                         folder each time: it refuses one already set up)
#
# Makes (once) a minimal Debian bookworm root with debootstrap (`--variant=minbase`: no Python, no X libraries),
# installs only python3 and ca-certificates (what "a machine with Python" has), copies this checkout's committed tree
# (git archive HEAD) to /root/akmamba inside it, and then, in a chroot with /proc mounted, as the user would:
#   1. before the system packages: the venv, the install command; the viewer must exit 2 naming the missing
#      libraries and the apt-get line (not abort);
#   2. the README's apt-get line, then the install+run command in a brand-new venv under Xvfb: the main window must
#      appear and stay up (a screenshot is taken 20 s after it appears, then the check stops the viewer);
#   3. the install+test command in another brand-new venv.
# The commands are read out of README.md's fenced blocks, so what runs is what is written. Times are printed.
# Where pip is set up with a local torch wheel (find-links, as on the project's machines), that set-up is copied into
# the root so `torch==2.13.0` resolves to the same CPU build; elsewhere pip takes torch from PyPI.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="${1:-/tmp/akmamba-fresh-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
LOG="${LOG_DIR:-$REPO/.fresh-install-logs}"
mkdir -p "$LOG"

# --- the README's commands (the bash blocks of the "Set up on a fresh machine" section, in order)
mapfile -t BLOCKS < <(awk '/^## Set up on a fresh machine/{s=1;next} /^## /{s=0}
    s&&/^ *```bash/{b=1;next} s&&/^ *```/{b=0;next} s&&b{sub(/^ +/,""); print}' "$REPO/README.md")
APT_LINE="${BLOCKS[0]}"; VENV_LINE="${BLOCKS[1]}"; RUN_LINE="${BLOCKS[2]}"; TEST_LINE="${BLOCKS[3]}"
for v in APT_LINE VENV_LINE RUN_LINE TEST_LINE; do echo "$v: ${!v}"; done
[[ "$APT_LINE" == *apt-get\ install* && "$VENV_LINE" == *venv* && "$RUN_LINE" == *akmamba-viewer* \
   && "$TEST_LINE" == *pytest* ]] || { echo "README's set-up section is not the 4 expected commands"; exit 1; }

# --- a minimal Debian root with Python (a new one: a root where the README's packages are already installed cannot
#     show step 1)
if [[ -e "$ROOT/var/lib/dpkg/info/libxcb-icccm4:amd64.list" || -e "$ROOT/var/lib/dpkg/info/libxcb-icccm4.list" ]]; then
    echo "$ROOT already has the README's packages: give a new folder (or remove this one) for a fresh check"; exit 1
fi
if [[ ! -x "$ROOT/usr/bin/python3" ]]; then
    command -v debootstrap >/dev/null || apt-get install -y debootstrap
    [[ -x "$ROOT/bin/bash" ]] || debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR"
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    chroot "$ROOT" /bin/bash -c "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends python3 ca-certificates"
fi
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
trap 'umount "$ROOT/opt/wheels" 2>/dev/null || true; umount "$ROOT/proc" 2>/dev/null || true' EXIT
# This machine's pip set-up, where it has one: a local CPU torch wheel (find-links) and the CA bundle its network
# needs for PyPI (PIP_CERT); nothing else of the host goes into the root.
printf '[global]\n' > "$ROOT/etc/pip.conf"
if [[ -d /opt/wheels ]]; then
    mkdir -p "$ROOT/opt/wheels"; mountpoint -q "$ROOT/opt/wheels" || mount --bind -o ro /opt/wheels "$ROOT/opt/wheels"
    printf 'find-links = /opt/wheels\n' >> "$ROOT/etc/pip.conf"
fi
if [[ -n "${PIP_CERT:-}" && -f "$PIP_CERT" ]]; then
    cp "$PIP_CERT" "$ROOT/etc/pip-ca.crt"; printf 'cert = /etc/pip-ca.crt\n' >> "$ROOT/etc/pip.conf"
fi

# --- a fresh copy of the committed tree
rm -rf "$ROOT/root/akmamba"; mkdir -p "$ROOT/root/akmamba"
git -C "$REPO" archive HEAD | tar -x -C "$ROOT/root/akmamba"

in_root() {  # run a bash script in the root, in the copy, as a login shell would (fresh environment)
    chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        TERM=dumb LANG=C.UTF-8 /bin/bash -c "cd /root/akmamba && $1"
}
timed() {  # timed NAME SCRIPT: run in the root, log to $LOG/NAME.log, print the wall time; returns its status
    local start=$SECONDS rc=0
    in_root "$2" >"$LOG/$1.log" 2>&1 || rc=$?
    echo "$1: exit $rc after $((SECONDS - start)) s (log $LOG/$1.log)"
    return $rc
}

# 1. No system packages yet: python3-venv is the README's first package, so the venv needs it; install just that,
#    then the viewer must stop with the missing Qt libraries named, exit 2, no abort.
in_root "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv >/dev/null"
in_root "dpkg -l 'libxcb-icccm4' 'libxcb-keysyms1' 2>/dev/null | grep -q '^ii' && echo 'xcb libs already present'" || true
rc=0; timed before-packages "rm -rf .venv && $VENV_LINE && ${RUN_LINE}" || rc=$?
tail -n 12 "$LOG/before-packages.log"
[[ $rc -eq 2 ]] && grep -q "sudo apt-get install" "$LOG/before-packages.log" \
    || { echo "FAIL: expected exit 2 with the apt-get line before the system packages"; exit 1; }

# 2. The README's apt-get line (as root in the root: drop "sudo"), then install+run in a brand-new venv under Xvfb;
#    once the main window is mapped (xwininfo), wait 20 s, take a screenshot and stop the viewer.
in_root "DEBIAN_FRONTEND=noninteractive ${APT_LINE#sudo } >/dev/null && apt-get install -y -q --no-install-recommends \
    xvfb xauth x11-utils imagemagick >/dev/null"
printf '%s\n' "$RUN_LINE" > "$ROOT/root/readme-run.sh"
cat > "$ROOT/root/watch-viewer.sh" <<'WATCH'
timeout 1800 bash /root/readme-run.sh & T=$!
start=$SECONDS
until xwininfo -root -tree 2>/dev/null | grep -q "Akmamba Viewer"; do
    sleep 2; kill -0 "$T" 2>/dev/null || { wait "$T"; echo "viewer-exit=$? before any window"; exit 1; }
done
echo "window-after=$((SECONDS - start)) s (install and start-up)"
sleep 20; import -window root /root/fresh-viewer.png
kill -0 "$T" 2>/dev/null || { echo "viewer died after its window appeared"; exit 1; }
kill "$T"; wait "$T"; echo "viewer-exit=$? (stopped by the check, still running)"
WATCH
rm -f "$ROOT/root/fresh-viewer.png"
timed install-run "rm -rf .venv && $VENV_LINE && xvfb-run -a -s '-screen 0 1280x800x24' bash /root/watch-viewer.sh"
cp "$ROOT/root/fresh-viewer.png" "$LOG/fresh-viewer.png"
tail -n 4 "$LOG/install-run.log"

# 3. Install+test in another brand-new venv.
timed install-test "rm -rf .venv && $VENV_LINE && $TEST_LINE"
tail -n 3 "$LOG/install-test.log"
echo "OK: the README's commands work on a fresh Debian bookworm ($ROOT); logs and screenshot in $LOG"
