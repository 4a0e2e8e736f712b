#!/usr/bin/env bash
# VM 3: a compressed dump of shopdb to ./backups/shopdb-DATE.archive.gz, readable by root only
# (the folder 0700, each dump 0600: customers' names, emails and addresses), keeping the newest
# BACKUP_KEEP (14) and deleting older ones. The root password never appears on a command line:
# it reaches mongodump in a configuration file written inside the container through stdin,
# and removed afterwards. Run it from root's crontab, e.g. daily:
#   15 3 * * * /home/ubuntu/shop/mongodb/backup.sh >/dev/null
# Restore (the password is asked for):
#   docker exec -i mongo-db mongorestore --archive --gzip --drop -u root --authenticationDatabase admin < FILE
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
cd "$(dirname "$0")"
# shellcheck disable=SC1091
source ./.env
keep="${BACKUP_KEEP:-14}"
umask 077
mkdir -p backups
chmod 700 backups
chmod 600 backups/*.archive.gz 2>/dev/null || true

conf=/tmp/shop-backup.yaml
printf 'password: "%s"\n' "$MONGO_ROOT_PASSWORD" | docker exec -i mongo-db sh -c "umask 077 && cat > ${conf}"
trap 'docker exec mongo-db rm -f "${conf}"' EXIT

file="backups/shopdb-$(date -u +%Y%m%dT%H%M%SZ).archive.gz"
docker exec mongo-db mongodump --quiet --archive --gzip --db shopdb \
  -u "${MONGO_ROOT_USER:-root}" --config "$conf" --authenticationDatabase admin > "${file}.partial"
mv "${file}.partial" "$file"
echo "wrote $file ($(du -h "$file" | cut -f1))"

# Rotation: the newest $keep dumps stay.
find backups -maxdepth 1 -name 'shopdb-*.archive.gz' -printf '%f\n' | sort -r | tail -n +"$((keep + 1))" | while read -r old; do
  rm -f "backups/${old}"
  echo "removed backups/${old}"
done
