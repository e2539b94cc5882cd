#!/usr/bin/env bash
# Checks hyperplace's container image: the OCI archive scripts/image.sh writes, or one saved from
# a Containerfile build (`podman save --format oci-archive -o FILE hyperplace:VERSION`). Runs as
# root; everything it makes goes under $BUILD_DIR/image/smoke and is removed on exit.
#
#   scripts/image-smoke.sh [OCI_ARCHIVE]   default $BUILD_DIR/image/hyperplace-VERSION.oci.tar
#
# 1. The configuration (skopeo): user 65532:65532, entrypoint /usr/local/bin/hyperplace, command
#    serve, the project's version (CMakeLists.txt) as label, this machine's platform; and the
#    Containerfile's runtime stage says the same.
# 2. The files (umoci unpack): no shell; exactly the binary, the libraries the dynamic loader
#    loads for it from the image itself, and /etc/{passwd,group,nsswitch.conf} and the CA
#    bundle; all owned by root and writable by no one else, so 65532 can write nowhere.
# 3. The binary run from the unpacked files with chroot, as 65532:65532 with an empty
#    environment: --help, version, check-config of an empty file (the embedded defaults), of the
#    manifests' configuration and of a bad one (must fail), serve with a missing kubeconfig (must
#    fail clearly), serve answering /healthz and stopping cleanly on SIGTERM, serve reaching an
#    API server (openssl s_server) by a name from /etc/hosts over TLS.
# 4. The image run by podman (runc, private vfs storage) as the Deployment runs it: read-only
#    root filesystem without a /tmp, no network, no capabilities, the image's own user; version,
#    check-config, then serve with manifests/configmap.yaml's configuration and certificates
#    from certs/make-certs.sh, /healthz and /metrics from inside its network namespace, SIGTERM.
#    Skipped, with the runtime's own reason, where this machine cannot run containers at all.
# Ends with "image-smoke: N passed, N failed" and exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"

version=$(sed -n 's/^project(hyperplace VERSION \([^ )]*\).*/\1/p' CMakeLists.txt)
archive=${1:-$BUILD_DIR/image/hyperplace-$version.oci.tar}
for tool in skopeo umoci jq chroot readelf nsenter openssl; do
  command -v "$tool" >/dev/null || {
    echo "image-smoke: $tool not found (scripts/setup.sh installs it)" >&2
    exit 1
  }
done
if [[ ! -s "$archive" ]]; then
  echo "image-smoke: $archive missing (scripts/image.sh builds it)" >&2
  exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "image-smoke: run as root (chroot, podman's vfs storage)" >&2
  exit 1
fi

passed=0 failed=0
pass() { echo "ok: $1"; passed=$((passed + 1)); }
fail() {
  echo "FAIL: $1" >&2
  shift
  (($#)) && printf '  %s\n' "$@" >&2
  failed=$((failed + 1))
}
# expect_eq WHAT GOT WANT
expect_eq() {
  if [[ "$2" == "$3" ]]; then pass "$1"; else fail "$1" "got:  $2" "want: $3"; fi
}

work="$BUILD_DIR/image/smoke"
mkdir -p "$work"
work=$(cd "$work" && pwd)
have_podman=0
if command -v podman >/dev/null; then have_podman=1; fi
# runc where installed: crun refuses hosts with hybrid cgroups (v1 and v2), as this kind of
# machine has. A private vfs storage: no container configuration of the machine is needed.
runtime=crun
if command -v runc >/dev/null; then runtime=runc; fi
# Its runroot must be at most 50 characters (podman refuses longer: sockets live there), which a
# checkout in a deep folder exceeds; so it is a short folder of its own in /tmp.
runroot=$(mktemp -d /tmp/hp-run.XXXXXX)
podman=(podman --root "$work/podman/storage" --runroot "$runroot"
  --tmpdir "$work/podman/tmp" --storage-driver vfs --cgroup-manager cgroupfs
  --events-backend none --runtime "$runtime")
serve_pid="" apiserver_pid=""
cleanup() {
  local pid
  for pid in $serve_pid $apiserver_pid; do kill "$pid" 2>/dev/null || true; done
  if ((have_podman)) && [[ -d "$work/podman" ]]; then
    "${podman[@]}" rm --all --force --time 0 >/dev/null 2>&1 || true
  fi
  # Nothing of ours should be mounted by now; a killed run may have left a container's /dev/shm.
  findmnt -rn -o TARGET | grep -F -e "$work/" -e "$runroot/" | sort -r |
    xargs -r umount -l 2>/dev/null || true
  rm -rf "$work"
}
cleanup  # what a killed run left
trap 'cleanup; rm -rf "$runroot"' EXIT
mkdir -p "$work"

echo "-- configuration ($archive)"
config=$(skopeo inspect --config "oci-archive:$archive")
manifest=$(skopeo inspect "oci-archive:$archive")
expect_eq "user is 65532:65532 (nonroot)" "$(jq -r '.config.User' <<<"$config")" "65532:65532"
entrypoint=$(jq -c '.config.Entrypoint' <<<"$config")
cmd=$(jq -c '.config.Cmd' <<<"$config")
expect_eq "entrypoint is the binary" "$entrypoint" '["/usr/local/bin/hyperplace"]'
expect_eq "default command is serve" "$cmd" '["serve"]'
expect_eq "version label is the project's" \
  "$(jq -r '.config.Labels["org.opencontainers.image.version"]' <<<"$config")" "$version"
case "$(uname -m)" in
  x86_64) arch=amd64 ;;
  aarch64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac
expect_eq "platform" "$(jq -r '.os + "/" + .architecture' <<<"$config")" "linux/$arch"
echo "   digest $(jq -r .Digest <<<"$manifest"), $(jq -r '.Layers | length' <<<"$manifest") layer(s)"
# The Containerfile builds the same image where a registry is at hand: same user, entrypoint,
# command and version.
containerfile_says=$(sed -n -e 's/^ARG VERSION=\(.*\)/version \1/p' -e 's/^USER \(.*\)/user \1/p' \
  -e 's/^ENTRYPOINT \(.*\)/entrypoint \1/p' -e 's/^CMD \(.*\)/cmd \1/p' Containerfile | sort)
image_says=$(printf '%s\n' "cmd $cmd" "entrypoint $entrypoint" "user 65532:65532" \
  "version $version" | sort)
expect_eq "Containerfile's runtime stage agrees" "$containerfile_says" "$image_says"

echo "-- files"
mkdir -p "$work/layout"
tar -xf "$archive" -C "$work/layout"
ref=$(umoci ls --layout "$work/layout" | head -n 1)
umoci unpack --image "$work/layout:$ref" "$work/bundle" >/dev/null
rootfs="$work/bundle/rootfs"
expect_eq "runtime bundle (umoci) runs the binary as 65532" \
  "$(jq -c '[.process.user.uid, .process.user.gid, .process.args]' "$work/bundle/config.json")" \
  '[65532,65532,["/usr/local/bin/hyperplace","serve"]]'
shells=$(cd "$rootfs" && find . \( -name sh -o -name bash -o -name dash -o -name ash \
  -o -name busybox \) -printf '/%P\n')
if [[ -z "$shells" && ! -e "$rootfs/bin/sh" ]]; then pass "no shell"; else fail "no shell" "$shells"; fi

# The libraries: what the image's own loader loads for the binary, resolved inside the image.
interp=$(readelf -l "$rootfs/usr/local/bin/hyperplace" |
  sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
chroot_bin=$(command -v chroot)
in_image() { env -i "$chroot_bin" --userspec=65532:65532 --groups=65532 "$rootfs" "$@"; }
rc=0
loaded=$(in_image "$interp" --list /usr/local/bin/hyperplace 2>&1) || rc=$?
if ((rc != 0)) || grep -q 'not found' <<<"$loaded" || [[ -z "$interp" ]]; then
  fail "the loader finds every library in the image" "$loaded"
else
  pass "the loader finds every library in the image ($interp)"
fi
want_files=$( (
  printf '%s\n' /usr/local/bin/hyperplace /etc/passwd /etc/group /etc/nsswitch.conf \
    /etc/ssl/certs/ca-certificates.crt
  awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$loaded"
) | sort -u)
have_files=$(cd "$rootfs" && find . ! -type d -printf '/%P\n' | sort)
expect_eq "files: the binary, its libraries, passwd, group, nsswitch.conf, CA bundle" \
  "$(tr '\n' ' ' <<<"$have_files")" "$(tr '\n' ' ' <<<"$want_files")"
loose=$(cd "$rootfs" && find . \( ! -uid 0 -o ! -gid 0 -o -perm /6022 \) -printf '/%P %m\n')
if [[ -z "$loose" ]]; then
  pass "every file and folder owned by root, none writable by others, no setuid"
else
  fail "every file and folder owned by root, none writable by others, no setuid" "$loose"
fi
expect_eq "passwd and group name 65532 nonroot" \
  "$(grep -c '^nonroot:x:65532:65532:' "$rootfs/etc/passwd"):$(grep -c '^nonroot:x:65532:' \
    "$rootfs/etc/group")" "1:1"
certs=$(grep -c 'BEGIN CERTIFICATE' "$rootfs/etc/ssl/certs/ca-certificates.crt" || true)
if ((certs > 50)); then pass "CA bundle ($certs certificates)"; else fail "CA bundle" "$certs"; fi

echo "-- the binary in the unpacked image (chroot, 65532:65532, read-only for it)"
# Test files go in after the inventory above; 65532 reads them, writes nothing.
mkdir -p "$rootfs/smoke"
: >"$rootfs/smoke/empty.yaml"
sed -n '/config.yaml: |/,$p' manifests/configmap.yaml | tail -n +2 | sed 's/^    //' \
  >"$rootfs/smoke/manifests.yaml"
printf 'extender:\n  listen: nohost\n  bogus: 1\n' >"$rootfs/smoke/bad.yaml"
hp() { in_image /usr/local/bin/hyperplace "$@"; }
# run NAME ARGS...: the binary's stdout and stderr in $work/NAME.out, its exit code in $rc.
run() {
  local name=$1
  shift
  rc=0
  "$@" >"$work/$name.out" 2>&1 || rc=$?
}
out() { cat "$work/$1.out"; }

run help hp --help
if ((rc == 0)) && grep -q 'hyperplace check-config FILE' "$work/help.out"; then
  pass "--help"
else
  fail "--help (exit $rc)" "$(out help)"
fi
run version hp version
if ((rc == 0)) && grep -qx "hyperplace $version (json kernel [a-z0-9_]*)" "$work/version.out"; then
  pass "version: $(out version)"
else
  fail "version is $version (exit $rc)" "$(out version)"
fi
run defaults hp check-config /smoke/empty.yaml
if ((rc == 0)) && grep -q '^  listen: 0.0.0.0:8888$' "$work/defaults.out"; then
  pass "check-config of an empty file: the embedded defaults"
else
  fail "check-config of an empty file (exit $rc)" "$(out defaults | head -5)"
fi
run manifests hp check-config /smoke/manifests.yaml
if ((rc == 0)) && grep -q '^  healthListen: 0.0.0.0:8080$' "$work/manifests.out" &&
  grep -q '^  format: json$' "$work/manifests.out"; then
  pass "check-config of manifests/configmap.yaml's configuration"
else
  fail "check-config of manifests/configmap.yaml's configuration (exit $rc)" \
    "$(out manifests | head -5)"
fi
run bad hp check-config /smoke/bad.yaml
if ((rc == 1)) && grep -q '^extender.listen: invalid address' "$work/bad.out" &&
  grep -q '^extender.bogus: unknown field' "$work/bad.out"; then
  pass "check-config of a bad configuration fails, naming both fields"
else
  fail "check-config of a bad configuration fails (exit $rc)" "$(out bad)"
fi
run nokube hp serve --kubeconfig /smoke/missing --extender-listen 127.0.0.1:0
if ((rc == 1)) && grep -q 'kubeconfig /smoke/missing: No such file' "$work/nokube.out"; then
  pass "serve with a missing kubeconfig fails clearly"
else
  fail "serve with a missing kubeconfig fails clearly (exit $rc)" "$(out nokube)"
fi

# http_get PORT PATH: the body of GET http://127.0.0.1:PORT/PATH, in the caller's network
# namespace; bash's /dev/tcp, so no HTTP client is needed here or in the image.
http_get() {
  # shellcheck disable=SC2016  # $1 and $2 are the inner bash's arguments
  timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "GET %s HTTP/1.0\r\n\r\n" "$2" >&3 &&
    sed "1,/^\r$/d" <&3' _ "$@"
}
# wait_for FILE PATTERN: up to 10 s for the log line.
wait_for() {
  local i
  for ((i = 0; i < 100; i++)); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
# Not through hp(): a function in the background is a subshell, and $! would be its pid. env and
# chroot exec, so $! is the server's.
env -i "$chroot_bin" --userspec=65532:65532 --groups=65532 "$rootfs" \
  /usr/local/bin/hyperplace serve --extender-listen 127.0.0.1:0 >"$work/serve.out" 2>&1 &
serve_pid=$!
if wait_for "$work/serve.out" 'msg="extender listening"'; then
  port=$(sed -n 's/.*msg="extender listening" address=127.0.0.1:\([0-9]*\).*/\1/p' \
    "$work/serve.out")
  expect_eq "serve: GET /healthz" "$(http_get "$port" /healthz)" "ok"
else
  fail "serve starts (10 s)" "$(out serve)"
fi
kill -TERM "$serve_pid" 2>/dev/null || true
rc=0
wait "$serve_pid" || rc=$?
serve_pid=""
if ((rc == 0)) && grep -q 'msg="stopped"' "$work/serve.out"; then
  pass "serve stops on SIGTERM, exit 0"
else
  fail "serve stops on SIGTERM, exit 0 (exit $rc)" "$(out serve)"
fi

# An API server by name over TLS, as a kubeconfig names one: the name from /etc/hosts (glibc
# 2.36 has its files and dns lookups in libc: no NSS module in the image), the certificate checked
# against the kubeconfig's CA. openssl s_server replies with a web page, not JSON: a list that
# fails to decode it ("list: ...") got through name, connection and TLS; "cannot connect" or
# "server certificate not trusted" did not.
certs/make-certs.sh "$work/apiserver" --dns apiserver.smoke.test >/dev/null
openssl s_server -accept 127.0.0.1:0 -cert "$work/apiserver/tls.crt" \
  -key "$work/apiserver/tls.key" -www </dev/null >"$work/apiserver.out" 2>&1 &
apiserver_pid=$!
wait_for "$work/apiserver.out" '^ACCEPT ' || true
apiserver_port=$(sed -n 's/^ACCEPT 127.0.0.1:\([0-9]*\)$/\1/p' "$work/apiserver.out")
echo "127.0.0.1 apiserver.smoke.test" >"$rootfs/etc/hosts"
cat >"$rootfs/smoke/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: smoke
  cluster:
    server: https://apiserver.smoke.test:$apiserver_port
    certificate-authority-data: $(base64 -w0 "$work/apiserver/ca.crt")
users:
- {name: smoke, user: {token: smoke}}
contexts:
- {name: smoke, context: {cluster: smoke, user: smoke}}
current-context: smoke
EOF
env -i "$chroot_bin" --userspec=65532:65532 --groups=65532 "$rootfs" \
  /usr/local/bin/hyperplace serve --kubeconfig /smoke/kubeconfig \
  --extender-listen 127.0.0.1:0 >"$work/kube.out" 2>&1 &
serve_pid=$!
wait_for "$work/kube.out" 'msg="list failed"' || true
kill -TERM "$serve_pid" "$apiserver_pid" 2>/dev/null || true
wait "$serve_pid" "$apiserver_pid" 2>/dev/null || true
serve_pid="" apiserver_pid=""
if grep -q 'msg="list failed" .* error="list: ' "$work/kube.out" &&
  ! grep -qE 'cannot connect|not trusted' "$work/kube.out"; then
  pass "serve reaches an API server by name (/etc/hosts) over TLS (kubeconfig CA)"
else
  fail "serve reaches an API server by name (/etc/hosts) over TLS (kubeconfig CA)" \
    "$(grep -m 3 -E 'error=|API server' "$work/kube.out")"
fi

echo "-- the image in a container (podman)"
# In CI the machine is known to run containers (setup.sh installs podman and runc): a skip there
# would hide the only run of the image with a read-only root, so it fails instead.
skip_podman() {
  if [[ "${CI:-}" == "true" ]]; then
    fail "podman runs the image (CI=true)" "$1"
  else
    echo "podman: skipped ($1; the chroot runs above cover the binary)"
  fi
}
if ((!have_podman)); then
  skip_podman "not installed"
else
  mkdir -p "$work/podman"
  loaded_name=$("${podman[@]}" load --quiet --input "$archive" 2>"$work/load.out" |
    sed -n 's/^Loaded image[^:]*: //p' | head -n 1) || true
  if [[ -z "$loaded_name" ]]; then
    fail "podman load" "$(out load)"
  else
    # Read-only root without podman's /tmp tmpfs: the image must need no writable folder.
    # Without CAP_SYS_RESOURCE (some sandboxes) podman's default rlimits (nofile 1048576) cannot
    # be set: ask for less.
    run_opts=(--read-only --read-only-tmpfs=false --network none --cap-drop all
      --security-opt no-new-privileges --ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
    run ctr-version "${podman[@]}" run --rm "${run_opts[@]}" "$loaded_name" version
    # podman's own failures are 125 (podman) and 126 (the runtime cannot start the container);
    # these, from a host that cannot run containers at all, skip the rest. A container that
    # starts but whose binary cannot run (a library missing) exits 127 and fails.
    if ((rc == 125 || rc == 126)) &&
      grep -qiE 'cgroup|rlimit|namespace|operation not permitted|runtime .* not found' \
        "$work/ctr-version.out"; then
      skip_podman "containers cannot run here: $(head -n 1 "$work/ctr-version.out")"
    else
      if ((rc == 0)) && grep -qx "hyperplace $version (json kernel [a-z0-9_]*)" \
        "$work/ctr-version.out"; then
        pass "podman ($runtime, read-only root, no network): version"
      else
        fail "podman ($runtime, read-only root, no network): version (exit $rc)" \
          "$(out ctr-version)"
      fi

      # The Deployment's volumes: the ConfigMap's config.yaml and the TLS Secret (mode 0644, as
      # a Secret volume's default), both read-only.
      # The kubelet makes the nested Secret volume's mount point in the ConfigMap volume
      # (kubernetes#60342); a read-only bind mount of a host folder needs it made beforehand.
      mkdir -p "$work/config/tls" "$work/tls"
      cp "$rootfs/smoke/manifests.yaml" "$work/config/config.yaml"
      certs/make-certs.sh "$work/tls" --dns localhost >/dev/null
      chmod 0644 "$work/tls/"*
      volumes=(-v "$work/config:/etc/hyperplace:ro" -v "$work/tls:/etc/hyperplace/tls:ro")
      run ctr-check "${podman[@]}" run --rm "${run_opts[@]}" "${volumes[@]}" "$loaded_name" \
        check-config /etc/hyperplace/config.yaml
      if ((rc == 0)) && grep -q '^  tlsCertFile: /etc/hyperplace/tls/tls.crt$' \
        "$work/ctr-check.out"; then
        pass "podman: check-config of the mounted configuration"
      else
        fail "podman: check-config of the mounted configuration (exit $rc)" "$(out ctr-check)"
      fi

      name="hyperplace-smoke-$$"
      run ctr-serve "${podman[@]}" run --detach --name "$name" "${run_opts[@]}" \
        "${volumes[@]}" "$loaded_name" serve --config=/etc/hyperplace/config.yaml
      if ((rc != 0)); then
        fail "podman: serve as the Deployment does (exit $rc)" "$(out ctr-serve)"
      else
        started=0
        for ((i = 0; i < 100; i++)); do
          if "${podman[@]}" logs "$name" 2>&1 | grep -q '"msg":"extender listening"'; then
            started=1
            break
          fi
          [[ $("${podman[@]}" inspect --format '{{.State.Running}}' "$name") == true ]] || break
          sleep 0.1
        done
        if ((started)); then
          pid=$("${podman[@]}" inspect --format '{{.State.Pid}}' "$name")
          pass "podman: serve with the manifests' configuration and TLS starts"
          expect_eq "podman: the process runs as 65532:65532" \
            "$(awk '/^Uid:/ {print $2} /^Gid:/ {print $2}' "/proc/$pid/status" | paste -sd:)" \
            "65532:65532"
          expect_eq "podman: GET /healthz on the health port, from inside its network namespace" \
            "$(nsenter -t "$pid" -n bash -c "$(declare -f http_get); http_get 8080 /healthz")" "ok"
          metrics=$(nsenter -t "$pid" -n bash -c "$(declare -f http_get); http_get 8080 /metrics")
          if grep -q "^hyperplace_build_info{.*version=\"$version\".*} 1" <<<"$metrics"; then
            pass "podman: GET /metrics: hyperplace_build_info version $version"
          else
            fail "podman: GET /metrics" "$(head -n 5 <<<"$metrics")"
          fi
        else
          fail "podman: serve with the manifests' configuration and TLS starts (10 s)" \
            "$("${podman[@]}" logs "$name" 2>&1)"
        fi
        "${podman[@]}" stop --time 10 "$name" >/dev/null 2>&1 || true
        code=$("${podman[@]}" inspect --format '{{.State.ExitCode}}' "$name")
        logs=$("${podman[@]}" logs "$name" 2>&1)
        if [[ "$code" == 0 ]] && grep -q '"msg":"stopped"' <<<"$logs"; then
          pass "podman: serve stops on SIGTERM, exit 0"
        else
          fail "podman: serve stops on SIGTERM, exit 0 (exit $code)" "$logs"
        fi
        "${podman[@]}" rm --force "$name" >/dev/null 2>&1 || true
      fi
    fi
  fi
fi

echo "image-smoke: $passed passed, $failed failed"
((failed == 0))
