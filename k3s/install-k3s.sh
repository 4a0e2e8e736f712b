#!/usr/bin/env bash
# VM 2: installs k3s ${K3S_VERSION} (pinned in common.sh) with its kubeconfig readable by root
# only, gives the operator (SUDO_USER) a copy of their own, and tells k3s about the image
# registry on this VM (REGISTRY). Safe to run again: it only changes what is missing or different.
source "$(dirname "$0")/common.sh"
need_root

if ! have k3s; then
  log "installing k3s ${K3S_VERSION}"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  # The install script of that release (not the moving get.k3s.io), checked before it runs; it
  # then checks the k3s binary against the release's sha256sum file itself.
  download "https://raw.githubusercontent.com/k3s-io/k3s/${K3S_VERSION}/install.sh" "$work/install.sh"
  if [ -n "${K3S_INSTALL_SHA256:-}" ]; then verify_sha256 "$work/install.sh" "$K3S_INSTALL_SHA256"; fi
  INSTALL_K3S_VERSION="$K3S_VERSION" sh "$work/install.sh" --write-kubeconfig-mode 600
else
  log "k3s is already installed: $(k3s --version | head -n 1)"
fi

# The kubeconfig is cluster-admin: root's only. An older install asked k3s for 644, which it
# rewrites at every start: change the flag in its unit too.
unit=/etc/systemd/system/k3s.service
if [ -f "$unit" ] && grep -qz -- "--write-kubeconfig-mode'[[:space:]\\]*'644'" "$unit"; then
  # The installer writes each argument quoted on its own line: '--write-kubeconfig-mode' \ '644' \
  sed -i -z "s/\(--write-kubeconfig-mode'[[:space:]\\]*'\)644'/\1600'/" "$unit"
  systemctl daemon-reload
  systemctl restart k3s
fi
chmod 600 /etc/rancher/k3s/k3s.yaml
if [ -n "${SUDO_USER:-}" ]; then
  home="$(getent passwd "$SUDO_USER" | cut -d: -f6)"
  install -d -m 700 -o "$SUDO_USER" -g "$(id -gn "$SUDO_USER")" "$home/.kube"
  install -m 600 -o "$SUDO_USER" -g "$(id -gn "$SUDO_USER")" /etc/rancher/k3s/k3s.yaml "$home/.kube/config"
  log "copied the kubeconfig to ${home}/.kube/config (0600, ${SUDO_USER} only)"
fi

# k3s (containerd, on the node itself) pulls function images from the registry over plain HTTP.
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
  chmod 600 "$registries"
  systemctl restart k3s
fi

log "waiting for the node to be Ready"
for _ in $(seq 1 60); do
  if kubectl get nodes 2>/dev/null | grep -q ' Ready'; then break; fi
  sleep 2
done
kubectl get nodes -o wide
