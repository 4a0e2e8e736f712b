#!/usr/bin/env bash
# VM 3: MongoDB's port only for VM 2 (the functions), SSH for the operator's network, nothing
# else. docker-compose.yml publishes 27017 on VM 3's LAN address only (not on every interface,
# not on IPv6). Docker's published ports bypass ufw's INPUT rules, so the guard sits in the raw
# table's PREROUTING (before Docker's NAT), in a chain of its own, for IPv4 and IPv6, and a
# systemd unit (shop-firewall.service) puts it back at every boot, before Docker starts.
#   sudo OPERATOR_NET=192.168.122.1/32 mongodb/firewall.sh    # default: the KVM host
# Safe to run again.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
VM2_IP="${VM2_IP:-192.168.122.11}"
VM3_IP="${VM3_IP:-192.168.122.12}"
OPERATOR_NET="${OPERATOR_NET:-192.168.122.1/32}"

guard() { # the raw-table rules only: what the unit runs at boot
  iptables -t raw -N SHOP-GUARD 2>/dev/null || iptables -t raw -F SHOP-GUARD
  iptables -t raw -C PREROUTING -j SHOP-GUARD 2>/dev/null || iptables -t raw -I PREROUTING -j SHOP-GUARD
  iptables -t raw -A SHOP-GUARD -i lo -j RETURN
  iptables -t raw -A SHOP-GUARD -p tcp --dport 27017 -s "$VM2_IP" -j RETURN
  iptables -t raw -A SHOP-GUARD -p tcp --dport 27017 -j DROP
  ip6tables -t raw -N SHOP-GUARD 2>/dev/null || ip6tables -t raw -F SHOP-GUARD
  ip6tables -t raw -C PREROUTING -j SHOP-GUARD 2>/dev/null || ip6tables -t raw -I PREROUTING -j SHOP-GUARD
  ip6tables -t raw -A SHOP-GUARD -i lo -j RETURN
  ip6tables -t raw -A SHOP-GUARD -p tcp --dport 27017 -j DROP
}

if [ "${1:-}" = "--guard-only" ]; then guard; exit 0; fi

ufw allow from "$OPERATOR_NET" to any port 22 proto tcp
ufw allow from "$VM2_IP" to "$VM3_IP" port 27017 proto tcp
ufw default deny incoming
ufw --force enable
# An earlier version's DOCKER-USER rule (it did not survive a reboot): replaced by the guard.
while iptables -D DOCKER-USER -p tcp --dport 27017 ! -s "$VM2_IP" -j DROP 2>/dev/null; do :; done
guard

install -m 700 "$0" /usr/local/sbin/shop-firewall
cat > /etc/systemd/system/shop-firewall.service <<UNIT
[Unit]
Description=Shop: who may reach MongoDB (mongodb/firewall.sh)
Before=docker.service network-online.target
After=network-pre.target
Wants=network-pre.target

[Service]
Type=oneshot
Environment=VM2_IP=${VM2_IP} VM3_IP=${VM3_IP} OPERATOR_NET=${OPERATOR_NET}
ExecStart=/usr/local/sbin/shop-firewall --guard-only
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable shop-firewall.service >/dev/null
echo "27017 open to ${VM2_IP} only, on ${VM3_IP}; kept across reboots by shop-firewall.service"
