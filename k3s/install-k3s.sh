#!/usr/bin/env bash
# VM 2: installs k3s (kubeconfig readable by the operator) and tells it about the shop's
# image registry on this VM. Safe to run again: it only changes what is missing or different.
source "$(dirname "$0")/common.sh"
need_root

if ! have k3s; then
  log "installing k3s"
  curl -sfL https://get.k3s.io | sh -s - --write-kubeconfig-mode 644
else
  log "k3s is already installed: $(k3s --version | head -n 1)"
fi

# k3s pulls function images from the registry over plain HTTP on the LAN.
registries=/etc/rancher/k3s/registries.yaml
wanted=$(cat <<YAML
mirrors:
  "${REGISTRY}":
    endpoint:
      - "http://${REGISTRY}"
YAML
)
if [ ! -f "$registries" ] || [ "$(cat "$registries")" != "$wanted" ]; then
  log "declaring the registry ${REGISTRY} in ${registries}"
  mkdir -p "$(dirname "$registries")"
  printf '%s\n' "$wanted" > "$registries"
  systemctl restart k3s
fi

log "waiting for the node to be Ready"
for _ in $(seq 1 60); do
  if kubectl get nodes 2>/dev/null | grep -q ' Ready'; then break; fi
  sleep 2
done
kubectl get nodes -o wide
