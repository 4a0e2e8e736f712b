#!/usr/bin/env bash
# VM 2: Docker (to build and push the function images with faas-cli) and a registry:2 on
# port 5000, kept across reboots. Safe to run again.
source "$(dirname "$0")/common.sh"
need_root

if ! have docker; then
  log "installing Docker"
  apt-get update
  apt-get install -y docker.io
fi

# The Docker daemon pushes to the LAN registry over plain HTTP.
daemon=/etc/docker/daemon.json
wanted="{ \"insecure-registries\": [\"${REGISTRY}\"] }"
if [ ! -f "$daemon" ] || ! grep -q "\"${REGISTRY}\"" "$daemon"; then
  [ -f "$daemon" ] && cp "$daemon" "${daemon}.bak"
  printf '%s\n' "$wanted" > "$daemon"
  systemctl restart docker
fi

if [ -z "$(docker ps -q --filter name=^shop-registry$)" ]; then
  docker rm -f shop-registry >/dev/null 2>&1 || true
  log "starting registry:2 on port 5000"
  docker run -d --name shop-registry --restart=always -p 5000:5000 -v /var/lib/shop-registry:/var/lib/registry registry:2
fi

# The operator (not only root) builds images.
if [ -n "${SUDO_USER:-}" ] && ! id -nG "$SUDO_USER" | grep -qw docker; then
  usermod -aG docker "$SUDO_USER"
  log "added ${SUDO_USER} to the docker group: log out and in again"
fi

curl -fsS "http://${REGISTRY}/v2/_catalog" && echo
