#!/usr/bin/env bash
# VM 2: Docker (to build and push the function images with faas-cli) and a registry:2 published
# on VM 2's LAN address only (${VM2_IP}:5000, the REGISTRY images are named by), kept across
# reboots. Safe to run again: a registry an older version published elsewhere (on every
# interface, or on loopback) is recreated, its images kept.
#
# The registry answers without credentials, and at an address the cluster's pods can reach:
# OpenFaaS CE deploys only images it can HEAD anonymously, and it asks from inside the
# faas-netes pod, where 127.0.0.1 is the pod itself. What keeps the LAN from pushing or pulling
# is k3s/firewall.sh (run it first): port 5000 only for VM 2 itself and its pods.
source "$(dirname "$0")/common.sh"
need_root

REGISTRY_IMAGE="${REGISTRY_IMAGE:-registry:2.8.3}"

if ! have docker || ! have python3; then
  log "installing Docker (and python3, which edits daemon.json below)"
  apt-get update
  apt-get install -y docker.io python3
fi

# Docker talks plain HTTP only to the registries listed in insecure-registries (and to
# loopback): add ours to daemon.json, keeping every other setting the file holds, and restart
# Docker only when the file changed. A daemon.json that is not valid JSON stops the script.
daemon=/etc/docker/daemon.json
changed="$(python3 - "$daemon" "$REGISTRY" <<'PY'
import json, os, sys
path, registry = sys.argv[1], sys.argv[2]
text = open(path).read() if os.path.exists(path) else ""
config = json.loads(text) if text.strip() else {}
if not isinstance(config, dict) or not isinstance(config.get("insecure-registries", []), list):
    sys.exit(path + ": expected a JSON object whose insecure-registries is a list")
listed = config.setdefault("insecure-registries", [])
if registry not in listed:
    listed.append(registry)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".new", "w") as new:
        json.dump(config, new, indent=2)
        new.write("\n")
    if os.path.exists(path):
        os.chmod(path + ".new", os.stat(path).st_mode & 0o7777)
    os.replace(path + ".new", path)
    print("changed")
PY
)"
if [ "$changed" = changed ]; then
  log "listed ${REGISTRY} in insecure-registries (${daemon}); restarting Docker"
  systemctl restart docker
fi

published="$(docker port shop-registry 5000/tcp 2>/dev/null || true)"
if [ "$published" != "${VM2_IP}:5000" ] || [ -z "$(docker ps -q --filter name=^shop-registry$)" ]; then
  docker rm -f shop-registry >/dev/null 2>&1 || true
  log "starting ${REGISTRY_IMAGE} on ${VM2_IP}:5000"
  docker run -d --name shop-registry --restart=always -p "${VM2_IP}:5000:5000" \
    -v /var/lib/shop-registry:/var/lib/registry "$REGISTRY_IMAGE"
fi

# The operator (not only root) builds images. Membership of the docker group is root on this VM:
# give it only to the operator who deploys.
if [ -n "${SUDO_USER:-}" ] && ! id -nG "$SUDO_USER" | grep -qw docker; then
  usermod -aG docker "$SUDO_USER"
  log "added ${SUDO_USER} to the docker group: log out and in again"
fi

for _ in $(seq 1 30); do curl -fsS "http://${REGISTRY}/v2/" >/dev/null 2>&1 && break; sleep 1; done
curl -fsS "http://${REGISTRY}/v2/_catalog" && echo
