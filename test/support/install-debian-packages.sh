#!/usr/bin/env bash
# The Debian packages the tests use, installed when missing (npm test runs this first):
# chromium (browser tests, through playwright-core: never a downloaded browser), nginx (the
# storefront's proxy), shellcheck and netplan.io (checks of the deployment files), strace (the
# durability test counts the store's syncs), prometheus (its promtool checks and unit-tests the
# alert rules in k3s/monitoring).
# Installs as root, or through sudo; otherwise says what to install and fails.
set -euo pipefail

packages=(nginx shellcheck netplan.io strace prometheus)
# Ubuntu ships Chromium as chromium-browser; Debian as chromium.
if grep -qsi '^ID=ubuntu' /etc/os-release; then packages+=(chromium-browser); else packages+=(chromium); fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "npm test: this is not a Debian or Ubuntu machine; install ${packages[*]} with your package manager" >&2
  exit 1
fi

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "npm test: the tests need these Debian packages: ${missing[*]}" >&2
  echo "npm test: run as root, or install sudo, or install them yourself: apt-get install ${missing[*]}" >&2
  exit 1
fi

echo "npm test: installing the Debian packages the tests need: ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
