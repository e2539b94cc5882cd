#!/usr/bin/env bash
# Lays out the root filesystem of hyperplace's container image: the one place that decides what
# the image holds, used by both the Containerfile's build stage and scripts/image.sh.
#
#   scripts/image-rootfs.sh BINARY OUTDIR
#
# OUTDIR (created; it must not exist or be empty) receives only:
#   /usr/local/bin/hyperplace           BINARY, stripped
#   every shared library ldd names for it, the dynamic loader included, at the path ldd names
#   (symlinks resolved: one regular file per name, so no ld.so.cache is needed)
#   /etc/passwd, /etc/group             root and nonroot (65532:65532), no login shell
#   /etc/nsswitch.conf                  files for users, files then DNS for hosts
#   /etc/ssl/certs/ca-certificates.crt  the build machine's CA bundle (Debian's ca-certificates);
#                                       kube/client.cc verifies the API server with it when the
#                                       kubeconfig names no CA
# No shell, no package database, nothing writable: the image runs with a read-only root
# filesystem. scripts/image-smoke.sh checks the image holds exactly this.
set -euo pipefail

if (($# != 2)); then
  echo "usage: scripts/image-rootfs.sh BINARY OUTDIR" >&2
  exit 2
fi
binary=$1 out=$2
ca_bundle=/etc/ssl/certs/ca-certificates.crt

if [[ ! -x "$binary" ]]; then
  echo "image-rootfs: $binary is not an executable file" >&2
  exit 1
fi
if [[ -e "$out" && -n "$(ls -A "$out")" ]]; then
  echo "image-rootfs: $out is not empty" >&2
  exit 1
fi
if [[ ! -s "$ca_bundle" ]]; then
  echo "image-rootfs: $ca_bundle missing (Debian package ca-certificates)" >&2
  exit 1
fi

mkdir -p "$out/usr/local/bin" "$out/etc/ssl/certs"
strip --strip-all -o "$out/usr/local/bin/hyperplace" "$binary"
chmod 0755 "$out/usr/local/bin/hyperplace"

# ldd's lines: "libfoo.so.1 => /lib/.../libfoo.so.1 (0x...)", "/lib64/ld-linux-x86-64.so.2
# (0x...)" for the loader, "linux-vdso.so.1 (0x...)" for the kernel's (no file), and
# "libfoo.so.1 => not found" for one this machine lacks.
ldd_out=$(ldd "$out/usr/local/bin/hyperplace")
if grep -q 'not found' <<<"$ldd_out"; then
  echo "image-rootfs: ldd cannot resolve every library:" >&2
  grep 'not found' <<<"$ldd_out" >&2
  exit 1
fi
libs=$(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$ldd_out" | sort -u)
if [[ -z "$libs" ]]; then
  echo "image-rootfs: ldd names no library for $binary (a static binary needs no loader):" >&2
  echo "$ldd_out" >&2
  exit 1
fi
for lib in $libs; do
  mkdir -p "$out$(dirname "$lib")"
  cp -L --preserve=mode "$lib" "$out$lib"
done

cat >"$out/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:65532:65532:nonroot:/:/sbin/nologin
EOF
cat >"$out/etc/group" <<'EOF'
root:x:0:
nonroot:x:65532:
EOF
cat >"$out/etc/nsswitch.conf" <<'EOF'
passwd: files
group: files
hosts: files dns
EOF
cp -L "$ca_bundle" "$out$ca_bundle"
chmod 0644 "$out/etc/passwd" "$out/etc/group" "$out/etc/nsswitch.conf" "$out$ca_bundle"
chmod -R go-w "$out"

echo "image-rootfs: $out: hyperplace ($(du -k "$out/usr/local/bin/hyperplace" | cut -f1) KiB" \
  "stripped), $(wc -w <<<"$libs") libraries, $(du -sk "$out" | cut -f1) KiB in all"
