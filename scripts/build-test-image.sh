#!/usr/bin/env bash
# Builds a minimal PostgreSQL image from this machine's installed server binaries, or
# from a build `sqlgrade fetch` put in its cache, and imports it with `docker import`. It stands in for the official image on machines that
# cannot pull from a registry: it honours POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB and
# PGDATA, listens on 5432, and like the official image starts a temporary server for
# initialisation before the real one. It is tagged `sqlgrade-test/postgres:<major>-local`
# (or the tag given as $1), never `postgres:<major>`, so that nobody mistakes it for the
# official image.
#
# Usage: scripts/build-test-image.sh [TAG]     (PG_BIN=/path/to/bin to pick the server)
set -euo pipefail

bin=${PG_BIN:-}
if [ -z "$bin" ]; then
    if command -v postgres >/dev/null 2>&1; then
        bin=$(dirname "$(readlink -f "$(command -v postgres)")")
    else
        bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    fi
fi
[ -x "$bin/postgres" ] || { echo "build-test-image: no PostgreSQL server found (set PG_BIN)" >&2; exit 1; }
major=$("$bin/postgres" --version | sed -E 's/.* ([0-9]+)[.0-9]*.*/\1/')
tag=${1:-sqlgrade-test/postgres:${major}-local}
# A build fetched by `sqlgrade fetch` is one relocatable tree (bin, lib, share) with no
# pg_config and no client programs; an installed server is spread over the system.
tree=""
if [ ! -x "$bin/pg_config" ] && [ -d "$bin/../share/postgresql" ]; then
    tree=$(cd "$bin/.." && pwd)
    sharedir=$tree/share/postgresql
    pkglibdir=$tree/lib/postgresql
else
    sharedir=$("$bin/pg_config" --sharedir 2>/dev/null || echo "/usr/share/postgresql/$major")
    pkglibdir=$("$bin/pg_config" --pkglibdir 2>/dev/null || echo "$(dirname "$bin")/lib")
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

# The merged-/usr layout of the host, so that library paths from ldd resolve alike.
mkdir -p "$root/usr/bin" "$root/usr/lib" "$root/usr/lib64" "$root/usr/sbin"
for d in bin lib lib64 sbin; do ln -s "usr/$d" "$root/$d"; done

# Copies a file to the same path in the image, following symlinks.
put() {
    local src=$1 dst
    dst="$root$(readlink -f "$(dirname "$src")")/$(basename "$src")"
    mkdir -p "$(dirname "$dst")"
    cp -L "$src" "$dst"
}

mkdir -p "$root$bin"
if [ -n "$tree" ]; then
    # The tree as it is, links included: its programs find lib and share beside bin.
    mkdir -p "$root$tree"
    cp -a "$tree/." "$root$tree/"
    # The clients the entrypoint and the tests use come from this machine (any major
    # speaks to the server).
    for tool in psql pg_isready; do
        # Debian's /usr/bin/psql is a Perl wrapper: the program itself lives here.
        host=$(ls /usr/lib/postgresql/*/bin/"$tool" 2>/dev/null | tail -n 1)
        [ -n "$host" ] || host=$(command -v "$tool" || true)
        [ -n "$host" ] || { echo "build-test-image: no $tool on this machine" >&2; exit 1; }
        cp -L "$host" "$root$bin/"
    done
else
    for tool in postgres initdb pg_ctl psql pg_isready; do cp -L "$bin/$tool" "$root$bin/"; done
    mkdir -p "$root$pkglibdir" "$root$sharedir"
    cp -a "$pkglibdir/." "$root$pkglibdir/"
    (cd "$sharedir" && tar --exclude=./man -cf - .) | (cd "$root$sharedir" && tar -xf -)
fi
if [ -d /usr/share/zoneinfo ]; then
    mkdir -p "$root/usr/share"
    cp -a /usr/share/zoneinfo "$root/usr/share/"
fi
put "$(readlink -f /bin/sh)"
ln -sf "$(basename "$(readlink -f /bin/sh)")" "$root/usr/bin/sh" 2>/dev/null || true

# Every shared library the copied programs and modules need, with the dynamic loader.
elves=$(find "$root$bin" "$root$pkglibdir" "$root/usr/bin" -type f)
for f in $elves; do
    { ldd "$f" 2>/dev/null || true; } | awk '/=> \// {print $3} /^\t\// {print $1}'
done | sort -u | while read -r lib; do
    # A fetched tree's own libraries are in the image already.
    case "$lib" in "$root"/*) continue ;; esac
    put "$lib"
done

mkdir -p "$root/etc" "$root/tmp" "$root/var/lib/postgresql/data" "$root/var/run/postgresql" "$root/usr/local/bin"
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\npostgres:x:999:\n' > "$root/etc/group"
chown -R 999:999 "$root/var/lib/postgresql" "$root/var/run/postgresql"
# World-writable like the official image, so that a tmpfs mounted over it (which takes
# its mode) lets the server create PGDATA below it.
chmod 1777 "$root/var/lib/postgresql/data"

cat > "$root/usr/local/bin/docker-entrypoint.sh" <<'ENTRY'
#!/bin/sh
# Initialises the cluster on first start (a temporary server on a socket only, as the
# official image does), then runs the real server in the foreground.
set -eu
if [ "${1#-}" != "$1" ]; then set -- postgres "$@"; fi
if [ "$1" != postgres ]; then exec "$@"; fi
shift
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
: "${PGDATA:=/var/lib/postgresql/data}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    method=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$method" != trust ]; then
        echo "error: POSTGRES_PASSWORD is not set" >&2
        exit 1
    fi
    printf '%s\n' "${POSTGRES_PASSWORD:-}" > /tmp/pwfile
    initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile=/tmp/pwfile -E UTF8 --locale=C \
        --auth-local=trust --auth-host="$method" --no-instructions
    : > /tmp/pwfile
    printf 'host all all all %s\n' "$method" >> "$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -k /var/run/postgresql" -w start
    if [ "$POSTGRES_DB" != postgres ]; then
        db=$(printf '%s' "$POSTGRES_DB" | sed 's/"/""/g' 2>/dev/null || printf '%s' "$POSTGRES_DB")
        psql -v ON_ERROR_STOP=1 -h /var/run/postgresql -U "$POSTGRES_USER" -d postgres \
            -c "CREATE DATABASE \"$db\""
    fi
    pg_ctl -D "$PGDATA" -m fast -w stop
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -k /var/run/postgresql "$@"
ENTRY
chmod 0755 "$root/usr/local/bin/docker-entrypoint.sh"

tar --numeric-owner -C "$root" -cf - . | docker import \
    --change "ENV PATH=$bin:/usr/local/bin:/usr/bin:/bin" \
    --change "ENV PGDATA=/var/lib/postgresql/data" \
    --change "ENV LANG=C.UTF-8" \
    --change "USER postgres" \
    --change "EXPOSE 5432" \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'CMD ["postgres"]' \
    - "$tag" >/dev/null
echo "$tag"
