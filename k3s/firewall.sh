#!/usr/bin/env bash
# VM 2: the gateway's NodePort 31112 only for VM 1 (the storefront) and the operator's network,
# the scaler's 31113 only for VM 1, SSH for the operator's network, nothing else from the LAN.
#   sudo OPERATOR_NET=192.168.122.1/32 k3s/firewall.sh    # default: the KVM host
# Kubernetes NodePorts are DNAT'ed before ufw's INPUT rules see them, so the guard sits in the
# raw table's PREROUTING (before any NAT), in a chain of its own, for IPv4 and IPv6. It is
# installed as a systemd unit (shop-firewall.service) that puts the rules back at every boot;
# ufw keeps its own rules. Safe to run again.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
VM1_IP="${VM1_IP:-192.168.122.10}"
VM2_IP="${VM2_IP:-192.168.122.11}"
OPERATOR_NET="${OPERATOR_NET:-192.168.122.1/32}"

guard() { # the raw-table rules only: what the unit runs at boot
  iptables -t raw -N SHOP-GUARD 2>/dev/null || iptables -t raw -F SHOP-GUARD
  iptables -t raw -C PREROUTING -j SHOP-GUARD 2>/dev/null || iptables -t raw -I PREROUTING -j SHOP-GUARD
  # This VM itself (faas-cli, kubectl here) and its pods.
  iptables -t raw -A SHOP-GUARD -i lo -j RETURN
  iptables -t raw -A SHOP-GUARD -s 10.42.0.0/16 -j RETURN
  iptables -t raw -A SHOP-GUARD -s 10.43.0.0/16 -j RETURN
  iptables -t raw -A SHOP-GUARD -p tcp -d "$VM2_IP" --dport 31112 -s "$VM1_IP" -j RETURN
  iptables -t raw -A SHOP-GUARD -p tcp -d "$VM2_IP" --dport 31112 -s "$OPERATOR_NET" -j RETURN
  iptables -t raw -A SHOP-GUARD -p tcp -d "$VM2_IP" --dport 31113 -s "$VM1_IP" -j RETURN
  iptables -t raw -A SHOP-GUARD -p tcp -d "$VM2_IP" -m multiport --dports 31112,31113,5000,6443,10250 -j DROP
  # No IPv6 client needs any of them.
  ip6tables -t raw -N SHOP-GUARD 2>/dev/null || ip6tables -t raw -F SHOP-GUARD
  ip6tables -t raw -C PREROUTING -j SHOP-GUARD 2>/dev/null || ip6tables -t raw -I PREROUTING -j SHOP-GUARD
  ip6tables -t raw -A SHOP-GUARD -i lo -j RETURN
  ip6tables -t raw -A SHOP-GUARD -p tcp -m multiport --dports 31112,31113,5000,6443,10250 -j DROP
}

if [ "${1:-}" = "--guard-only" ]; then guard; exit 0; fi

ufw allow from "$OPERATOR_NET" to any port 22 proto tcp
# The pods and services of k3s reach the node (kubelet, the API server) from these ranges.
ufw allow from 10.42.0.0/16
ufw allow from 10.43.0.0/16
ufw default deny incoming
ufw --force enable
guard

# Put the guard back at every boot, before k3s starts.
install -m 700 "$0" /usr/local/sbin/shop-firewall
cat > /etc/systemd/system/shop-firewall.service <<UNIT
[Unit]
Description=Shop: who may reach the OpenFaaS NodePorts (k3s/firewall.sh)
Before=k3s.service network-online.target
After=network-pre.target
Wants=network-pre.target

[Service]
Type=oneshot
Environment=VM1_IP=${VM1_IP} VM2_IP=${VM2_IP} OPERATOR_NET=${OPERATOR_NET}
ExecStart=/usr/local/sbin/shop-firewall --guard-only
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable shop-firewall.service >/dev/null
echo "31112 open to ${VM1_IP} and ${OPERATOR_NET}, 31113 to ${VM1_IP}; kept across reboots by shop-firewall.service"
