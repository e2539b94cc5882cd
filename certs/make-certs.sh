#!/usr/bin/env bash
# Makes a development CA, a serving certificate for hyperplace's webhook and extender, and
# optionally a client certificate for the extender's caller (kube-scheduler).
#
#   certs/make-certs.sh OUT_DIR [--dns NAME]... [--ip ADDR]... [--days N] [--client NAME]
#
# Writes into OUT_DIR (created if needed):
#   ca.crt  ca.key    the CA (ECDSA P-256, self-signed, CA:TRUE, keyCertSign)
#   tls.crt tls.key   the serving certificate (ECDSA P-256, signed by the CA, CA:FALSE,
#                     extendedKeyUsage serverAuth) with the given DNS and IP subject alternative
#                     names; default: DNS localhost and IP 127.0.0.1
#   client.crt client.key  with --client NAME only: a client certificate (ECDSA P-256, signed by
#                     the CA, CA:FALSE, extendedKeyUsage clientAuth, subject CN=NAME, no SANs)
#                     for a caller of the extender when it requires client certificates
#                     (extender.clientCAFile = ca.crt)
# All certificates are valid from now for N days (default 365) and carry random 128-bit serial
# numbers. Keys are written with mode 0600. Existing files in OUT_DIR are replaced.
#
# In a cluster the kube-apiserver connects to the Service name, so give its DNS names:
#   certs/make-certs.sh out --dns hyperplace.hyperplace-system.svc \
#     --dns hyperplace.hyperplace-system.svc.cluster.local
#   kubectl -n hyperplace-system create secret tls hyperplace-tls \
#     --cert out/tls.crt --key out/tls.key
#   base64 -w0 out/ca.crt    # the caBundle of manifests/mutating-webhook.yaml
# With --client hyperplace-scheduler the same run also makes kube-scheduler's client certificate
# for the TLS extender (manifests/README.md shows the Secrets).
set -euo pipefail

usage() {
  echo "usage: $0 OUT_DIR [--dns NAME]... [--ip ADDR]... [--days N] [--client NAME]" >&2
  exit 2
}

[[ $# -ge 1 ]] || usage
out_dir="$1"
shift
[[ -n "$out_dir" && "$out_dir" != -* ]] || usage

dns_names=()
ip_addrs=()
days=365
client_name=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dns)
      [[ $# -ge 2 && -n "$2" ]] || usage
      # A DNS name or wildcard: letters, digits, '-', '.', and a leading '*.'.
      if [[ ! "$2" =~ ^(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]]; then
        echo "$0: invalid DNS name: $2" >&2
        exit 2
      fi
      dns_names+=("$2")
      shift 2
      ;;
    --ip)
      [[ $# -ge 2 && -n "$2" ]] || usage
      if [[ ! "$2" =~ ^[0-9A-Fa-f.:]+$ ]]; then
        echo "$0: invalid IP address: $2" >&2
        exit 2
      fi
      ip_addrs+=("$2")
      shift 2
      ;;
    --days)
      [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]{0,4}$ ]] || {
        echo "$0: --days needs a whole number of days between 1 and 99999" >&2
        exit 2
      }
      days="$2"
      shift 2
      ;;
    --client)
      [[ $# -ge 2 && -n "$2" ]] || usage
      # A subject common name: no '/' or ',' that would need escaping in -subj.
      if [[ ! "$2" =~ ^[A-Za-z0-9][A-Za-z0-9:._@-]{0,63}$ ]]; then
        echo "$0: invalid client name: $2" >&2
        exit 2
      fi
      client_name="$2"
      shift 2
      ;;
    -h | --help)
      usage
      ;;
    *)
      echo "$0: unknown argument: $1" >&2
      usage
      ;;
  esac
done
if [[ ${#dns_names[@]} -eq 0 && ${#ip_addrs[@]} -eq 0 ]]; then
  dns_names=(localhost)
  ip_addrs=(127.0.0.1)
fi

command -v openssl >/dev/null || {
  echo "$0: openssl not found" >&2
  exit 1
}

umask 077
mkdir -p "$out_dir"
# Work inside OUT_DIR so the final renames stay on one file system (and so are atomic).
work="$(mktemp -d "$out_dir/.make-certs.XXXXXX")"
trap 'rm -rf "$work"' EXIT

sans=""
for name in "${dns_names[@]}"; do sans+="${sans:+,}DNS:${name}"; done
for addr in "${ip_addrs[@]}"; do sans+="${sans:+,}IP:${addr}"; done
common_name="${dns_names[0]:-${ip_addrs[0]}}"

cat >"$work/ca.ext" <<EOF
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
cat >"$work/tls.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = ${sans}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF

cat >"$work/client.ext" <<EOF
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF

serial() { echo "0x$(openssl rand -hex 16)"; }

# The CA: a key, a request, and the request self-signed with the CA extensions.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/ca.key" 2>/dev/null
openssl req -new -key "$work/ca.key" -subj "/CN=hyperplace-dev-ca" -out "$work/ca.csr"
openssl x509 -req -in "$work/ca.csr" -signkey "$work/ca.key" -days "$days" -sha256 \
  -set_serial "$(serial)" -extfile "$work/ca.ext" -out "$work/ca.crt" 2>/dev/null

# The serving certificate, signed by the CA.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/tls.key" 2>/dev/null
openssl req -new -key "$work/tls.key" -subj "/CN=${common_name}" -out "$work/tls.csr"
openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -days "$days" \
  -sha256 -set_serial "$(serial)" -extfile "$work/tls.ext" -out "$work/tls.crt" 2>/dev/null

openssl verify -CAfile "$work/ca.crt" "$work/tls.crt" >/dev/null

files=(ca.key ca.crt tls.key tls.crt)
if [[ -n "$client_name" ]]; then
  # The client certificate, signed by the same CA, usable only to authenticate a client.
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/client.key" \
    2>/dev/null
  openssl req -new -key "$work/client.key" -subj "/CN=${client_name}" -out "$work/client.csr"
  openssl x509 -req -in "$work/client.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" \
    -days "$days" -sha256 -set_serial "$(serial)" -extfile "$work/client.ext" \
    -out "$work/client.crt" 2>/dev/null
  openssl verify -CAfile "$work/ca.crt" -purpose sslclient "$work/client.crt" >/dev/null
  chmod 0644 "$work/client.crt"
  files+=(client.key client.crt)
fi

# Move into place one file at a time; certificates are public.
chmod 0644 "$work/ca.crt" "$work/tls.crt"
for f in "${files[@]}"; do
  mv -f "$work/$f" "$out_dir/$f"
done
written="$(IFS=,; echo "${files[*]}")"
echo "wrote $out_dir/{$written} (SANs: $sans${client_name:+; client CN=$client_name}; valid $days days)"
