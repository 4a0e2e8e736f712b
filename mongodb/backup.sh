#!/usr/bin/env bash
# VM 3: a compressed dump of shopdb to ./backups/shopdb-DATE.archive.gz.
# Restore: docker exec -i mongo-db mongorestore --archive --gzip --drop -u root -p ... --authenticationDatabase admin < FILE
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck disable=SC1091
source ./.env
mkdir -p backups
file="backups/shopdb-$(date -u +%Y%m%dT%H%M%SZ).archive.gz"
docker exec mongo-db mongodump --quiet --archive --gzip --db shopdb \
  -u "${MONGO_ROOT_USER:-root}" -p "$MONGO_ROOT_PASSWORD" --authenticationDatabase admin > "$file"
echo "wrote $file ($(du -h "$file" | cut -f1))"
