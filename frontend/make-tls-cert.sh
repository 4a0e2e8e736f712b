#!/usr/bin/env bash
# VM 1: a self-signed certificate and key for nginx, for a shop on a LAN (on a public address,
# put a CA-signed pair, e.g. from Let's Encrypt, at the same two paths instead):
#   frontend/make-tls-cert.sh [NAME_OR_ADDRESS...]
# writes frontend/tls/shop.crt and frontend/tls/shop.key (0600), valid for the names and
# addresses given (default: 192.168.122.10 and this host's name) for 825 days. Browsers warn
# once about a self-signed certificate: check its fingerprint (printed below) before you accept.
# Safe to run again: an existing pair is kept (FORCE=1 replaces it). TLS_DIR changes the folder.
set -euo pipefail

dir="${TLS_DIR:-$(cd "$(dirname "$0")" && pwd)/tls}"
days="${TLS_DAYS:-825}"
if [ "$#" -eq 0 ]; then set -- 192.168.122.10 "$(hostname)"; fi

if [ -s "$dir/shop.key" ] && [ -s "$dir/shop.crt" ] && [ "${FORCE:-0}" != 1 ]; then
  echo "kept the existing pair in ${dir} (FORCE=1 replaces it)"
  exit 0
fi

san=""
for name in "$@"; do
  if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then san+="IP:${name},"; else san+="DNS:${name},"; fi
done

umask 077
mkdir -p "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 -days "$days" \
  -subj "/CN=$1" -addext "subjectAltName=${san%,}" -addext "extendedKeyUsage=serverAuth" \
  -keyout "$dir/shop.key.new" -out "$dir/shop.crt.new" 2>/dev/null
chmod 600 "$dir/shop.key.new"
chmod 644 "$dir/shop.crt.new"
mv "$dir/shop.key.new" "$dir/shop.key"
mv "$dir/shop.crt.new" "$dir/shop.crt"
echo "wrote ${dir}/shop.crt and shop.key for ${san%,}"
openssl x509 -in "$dir/shop.crt" -noout -fingerprint -sha256
