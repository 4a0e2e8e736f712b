#!/usr/bin/env bash
# VM 2: Docker (to build and push the function images with faas-cli) and a registry:2 on this
# VM's loopback only (127.0.0.1:5000), kept across reboots: nobody on the LAN can push an image
# the cluster would run with the functions' secrets mounted. Docker pushes to a loopback registry
# over plain HTTP without any insecure-registries setting; k3s pulls from it through
# registries.yaml (k3s/install-k3s.sh). Safe to run again: a registry an older version published
# on every interface is recreated on loopback, its images kept.
source "$(dirname "$0")/common.sh"
need_root

REGISTRY_IMAGE="${REGISTRY_IMAGE:-registry:2.8.3}"

if ! have docker; then
  log "installing Docker"
  apt-get update
  apt-get install -y docker.io
fi

published="$(docker port shop-registry 5000/tcp 2>/dev/null || true)"
if [ "$published" != "127.0.0.1:5000" ] || [ -z "$(docker ps -q --filter name=^shop-registry$)" ]; then
  docker rm -f shop-registry >/dev/null 2>&1 || true
  log "starting ${REGISTRY_IMAGE} on 127.0.0.1:5000"
  docker run -d --name shop-registry --restart=always -p 127.0.0.1:5000:5000 \
    -v /var/lib/shop-registry:/var/lib/registry "$REGISTRY_IMAGE"
fi

# The operator (not only root) builds images. Membership of the docker group is root on this VM:
# give it only to the operator who deploys.
if [ -n "${SUDO_USER:-}" ] && ! id -nG "$SUDO_USER" | grep -qw docker; then
  usermod -aG docker "$SUDO_USER"
  log "added ${SUDO_USER} to the docker group: log out and in again"
fi

for _ in $(seq 1 30); do curl -fsS "http://127.0.0.1:5000/v2/" >/dev/null 2>&1 && break; sleep 1; done
curl -fsS "http://127.0.0.1:5000/v2/_catalog" && echo
