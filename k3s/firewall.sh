#!/usr/bin/env bash
# VM 2: the gateway's NodePort 31112 only for VM 1 (the storefront) and the operator's network,
# the scaler's 31113 only for VM 1, the image registry's 5000 only for VM 2 itself and its pods,
# SSH for the operator's network, nothing else from the LAN.
#   sudo OPERATOR_NET=192.168.122.1/32 k3s/firewall.sh    # default: the KVM host
#   POD_NET, SERVICE_NET: k3s's --cluster-cidr and --service-cidr, if you changed them
# Kubernetes' NodePorts and Docker's published ports are DNAT'ed before ufw's INPUT rules see
# them, so the guard sits in the raw table's PREROUTING (before any NAT: it sees every packet's
# original source and destination), in a chain of its own, for IPv4 and IPv6. It is installed
# as a systemd unit (shop-firewall.service) that puts the rules back at every boot; ufw keeps its
# own rules. Safe to run again.
#
# The registry answers anonymously: OpenFaaS CE deploys only an image it can HEAD without
# credentials, and asks from inside the faas-netes pod (see k3s/install-registry.sh). This
# guard is what keeps the LAN from pushing or pulling. Who reaches 192.168.122.11:5000, and how:
# - docker push on VM 2 (faas-cli up) and containerd's pulls (k3s, registries.yaml) are VM 2's
#   own connections: they leave through OUTPUT, where Docker's nat rule sends them to the
#   registry's container, and never pass PREROUTING (through Docker's userland proxy they would
#   come back in on lo, let through below).
# - faas-netes' anonymous HEAD comes from the gateway's pod: it arrives from cni0 with the pod's
#   address (POD_NET) as its source: let through.
# - a LAN host, over IPv4 or IPv6, to any address of VM 2 or straight to the container's own
#   address on docker0: its SYN is dropped. One that forges VM 2's own address as its source is
#   dropped by the kernel (a martian); one that forges a pod's or a service's address gets its
#   answer sent into cni0 or to VM 2's default gateway, never to itself, unless it can pose as
#   that gateway (ARP spoofing, which would also let it read the LAN's clear-text traffic).
# Only connection attempts (--syn) are dropped, and on every destination: the pods' own
# connections out are masqueraded to VM 2's address with a source port drawn from 1024-65535
# (flannel's MASQUERADE --random-fully), and the answers to those must come back even when that
# port is one of these.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
VM1_IP="${VM1_IP:-192.168.122.10}"
VM2_IP="${VM2_IP:-192.168.122.11}"
OPERATOR_NET="${OPERATOR_NET:-192.168.122.1/32}"
POD_NET="${POD_NET:-10.42.0.0/16}"
SERVICE_NET="${SERVICE_NET:-10.43.0.0/16}"
# The gateway, the scaler, the registry, the Kubernetes API server and the kubelet.
GUARDED_PORTS=31112,31113,5000,6443,10250

guard() { # the raw-table rules only: what the unit runs at boot
  iptables -t raw -N SHOP-GUARD 2>/dev/null || iptables -t raw -F SHOP-GUARD
  iptables -t raw -C PREROUTING -j SHOP-GUARD 2>/dev/null || iptables -t raw -I PREROUTING -j SHOP-GUARD
  # This VM itself (faas-cli, kubectl, Docker's userland proxy) and its pods and services.
  iptables -t raw -A SHOP-GUARD -i lo -j RETURN
  iptables -t raw -A SHOP-GUARD -s "$POD_NET" -j RETURN
  iptables -t raw -A SHOP-GUARD -s "$SERVICE_NET" -j RETURN
  iptables -t raw -A SHOP-GUARD -p tcp -d "$VM2_IP" --dport 31112 -s "$VM1_IP" -j RETURN
  iptables -t raw -A SHOP-GUARD -p tcp -d "$VM2_IP" --dport 31112 -s "$OPERATOR_NET" -j RETURN
  iptables -t raw -A SHOP-GUARD -p tcp -d "$VM2_IP" --dport 31113 -s "$VM1_IP" -j RETURN
  iptables -t raw -A SHOP-GUARD -p tcp --syn -m multiport --dports "$GUARDED_PORTS" -j DROP
  # No IPv6 client needs any of them: the images are named by VM 2's IPv4 address, and k3s's
  # pods and services are IPv4 only unless it was installed dual-stack.
  ip6tables -t raw -N SHOP-GUARD 2>/dev/null || ip6tables -t raw -F SHOP-GUARD
  ip6tables -t raw -C PREROUTING -j SHOP-GUARD 2>/dev/null || ip6tables -t raw -I PREROUTING -j SHOP-GUARD
  ip6tables -t raw -A SHOP-GUARD -i lo -j RETURN
  ip6tables -t raw -A SHOP-GUARD -p tcp --syn -m multiport --dports "$GUARDED_PORTS" -j DROP
}

if [ "${1:-}" = "--guard-only" ]; then guard; exit 0; fi

ufw allow from "$OPERATOR_NET" to any port 22 proto tcp
# The pods and services of k3s reach the node (kubelet, the API server) from these ranges.
ufw allow from "$POD_NET"
ufw allow from "$SERVICE_NET"
ufw default deny incoming
ufw --force enable
guard

# Put the guard back at every boot, before k3s starts.
install -m 700 "$0" /usr/local/sbin/shop-firewall
cat > /etc/systemd/system/shop-firewall.service <<UNIT
[Unit]
Description=Shop: who may reach the OpenFaaS NodePorts and the image registry (k3s/firewall.sh)
Before=k3s.service docker.service network-online.target
After=network-pre.target
Wants=network-pre.target

[Service]
Type=oneshot
Environment=VM1_IP=${VM1_IP} VM2_IP=${VM2_IP} OPERATOR_NET=${OPERATOR_NET} POD_NET=${POD_NET} SERVICE_NET=${SERVICE_NET}
ExecStart=/usr/local/sbin/shop-firewall --guard-only
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable shop-firewall.service >/dev/null
echo "31112 open to ${VM1_IP} and ${OPERATOR_NET}, 31113 to ${VM1_IP}, 5000 to VM 2 and its pods (${POD_NET}); kept across reboots by shop-firewall.service"
