#!/usr/bin/env bash
# Install the Debian packages the test suite needs (or only those named as arguments),
# only those that are missing. Idempotent; never starts services (no systemd is assumed,
# and policy-rc.d blocks service starts during the install).
set -euo pipefail

PACKAGES=(postgresql mariadb-server mariadb-client graphviz chromium fonts-dejavu-core nodejs)
if [ "$#" -gt 0 ]; then
    PACKAGES=("$@")
fi

is_installed() {
    # dpkg status "install ok installed" is the reliable check; command presence is a
    # fallback for machines where the tools come from somewhere else.
    local pkg="$1"
    if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        return 0
    fi
    case "$pkg" in
        postgresql)      compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null ;;
        mariadb-server)  command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] ;;
        mariadb-client)  command -v mariadb >/dev/null 2>&1 ;;
        graphviz)        command -v dot >/dev/null 2>&1 ;;
        chromium)        command -v chromium >/dev/null 2>&1 ;;
        nodejs)          command -v node >/dev/null 2>&1 ;;  # the lab extension build, the widgets' JS tests
        *)               return 1 ;;
    esac
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install_system_deps: all present (${PACKAGES[*]}); nothing to do"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install_system_deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive

# Keep package post-install scripts from starting services (invoke-rc.d honours
# policy-rc.d exit code 101). Only add our own file, and remove only that file.
POLICY=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 0755 "$POLICY"
    created_policy=1
fi
cleanup() { if [ "$created_policy" -eq 1 ]; then $SUDO rm -f "$POLICY"; fi; }
trap cleanup EXIT

$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" >/dev/null

echo "install_system_deps: installed ${missing[*]}"
