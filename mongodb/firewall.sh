#!/usr/bin/env bash
# VM 3: MongoDB's port only for VM 2 (the functions), SSH for the operator, nothing else.
# Docker publishes ports past ufw's INPUT rules, so the rule also goes into DOCKER-USER.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
VM2_IP="${VM2_IP:-192.168.122.11}"

ufw allow OpenSSH
ufw allow from "$VM2_IP" to any port 27017 proto tcp
ufw --force enable

# Idempotent: drop earlier copies of our rules, then add them once.
while iptables -D DOCKER-USER -p tcp --dport 27017 ! -s "$VM2_IP" -j DROP 2>/dev/null; do :; done
iptables -I DOCKER-USER -p tcp --dport 27017 ! -s "$VM2_IP" -j DROP
echo "27017 open to ${VM2_IP} only (persist the DOCKER-USER rule with iptables-persistent)"
