# shellcheck shell=bash
# ci/lib-images.sh — building and describing the services' OCI images without Nix. Source it after
# ci/lib.sh, from the repository root. `ci/images` builds them, `ci/images-test` runs them.
#
# What goes into an image, and its config, is nix/images.json: the flake's images (nix/images.nix)
# read the same file, and ci/images-test checks that both sides agree.
#
# Functions:
#   images_dir                  default output folder ($CARGO_TARGET_DIR/images, else target/images)
#   images_ensure_tools         buildah, skopeo, jq, CA certificates (Debian packages)
#   images_build OUT SVC...     one OCI archive per service: OUT/SVC.oci.tar and OUT/SVC.digest
#   images_report OUT SVC...    a table of each image's size, layers and digest
#   images_version, images_revision, images_source, images_epoch   the values of the labels

IMAGES_SPEC=nix/images.json

images_dir() {
  printf '%s/images' "${CARGO_TARGET_DIR:-$PWD/target}"
}

images_is_listed() { # WORD LIST...
  local w="$1" x
  shift
  for x in "$@"; do [[ "$x" == "$w" ]] && return 0; done
  return 1
}

images_is_service() {
  images_is_listed "$1" "${ECOMMERCE_SERVICES[@]}"
}

images_ensure_tools() {
  ensure_apt buildah skopeo jq ca-certificates
}

# The workspace's version and repository (Cargo.toml [workspace.package]).
_images_workspace_field() {
  sed -n '/^\[workspace\.package\]/,/^\[/ s/^'"$1"' = "\(.*\)"$/\1/p' Cargo.toml
}
images_version() { _images_workspace_field version; }
images_source() { _images_workspace_field repository; }

# The commit the images are built from; a checkout with uncommitted changes is marked, so an image
# never claims a revision it does not hold.
images_revision() {
  local rev
  rev="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
  if [[ "$rev" != unknown && -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
    rev+="-dirty"
  fi
  printf '%s' "$rev"
}

# Every timestamp in the images: SOURCE_DATE_EPOCH when set, else the commit's time.
images_epoch() {
  if [[ -n "${SOURCE_DATE_EPOCH:-}" ]]; then
    printf '%s' "$SOURCE_DATE_EPOCH"
  else
    git log -1 --format=%ct 2>/dev/null || echo 0
  fi
}

_images_spec() { # JQ_FILTER [jq args...]
  local filter="$1"
  shift
  jq -r "$@" "$filter" "$IMAGES_SPEC"
}

# _images_rootfs DIR SERVICE — the image's files, with fixed modes and times.
_images_rootfs() {
  local root="$1" svc="$2" epoch bin_dir site user_name uid gid
  epoch="$(images_epoch)"
  bin_dir="$(_images_spec .binDir)"
  user_name="$(_images_spec .userName)"
  uid="$(_images_spec '.user | split(":")[0]')"
  gid="$(_images_spec '.user | split(":")[1]')"
  mkdir -p "$root$bin_dir" "$root/etc/ssl/certs" "$root/tmp"
  install -m 0755 "$(release_dir)/$svc" "$root$bin_dir/$svc"
  install -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  printf 'root:x:0:0:root:/root:/sbin/nologin\n%s:x:%s:%s:%s:/nonexistent:/sbin/nologin\n' \
    "$user_name" "$uid" "$gid" "$user_name" >"$root/etc/passwd"
  printf 'root:x:0:\n%s:x:%s:\n' "$user_name" "$gid" >"$root/etc/group"
  chmod 0644 "$root/etc/passwd" "$root/etc/group"
  site="$(_images_spec '.services[$s].site // empty' --arg s "$svc")"
  if [[ -n "$site" ]]; then
    [[ -f frontend/dist/index.html ]] || {
      _ci_err "$svc carries the storefront, but frontend/dist has no index.html: run ci/frontend-build"
      return 1
    }
    mkdir -p "$root$site"
    cp -R frontend/dist/. "$root$site/"
  fi
  find "$root" -type d -exec chmod 0755 {} +
  find "$root" -type f ! -path "$root$bin_dir/*" -exec chmod 0644 {} +
  # A sticky, world-writable mount point: writable only where a volume is mounted (the root
  # file system runs read-only).
  chmod 1777 "$root/tmp"
  find "$root" -exec touch -h -d "@$epoch" {} +
}

# _images_config_args SERVICE — buildah config's arguments, one per line, from nix/images.json.
_images_config_args() {
  local svc="$1" version source revision
  version="$(images_version)"
  source="$(images_source)"
  revision="$(images_revision)"
  jq -r --arg s "$svc" --arg version "$version" --arg source "$source" --arg revision "$revision" '
    . as $spec | $spec.services[$s] as $svc |
    "--user", $spec.user,
    "--entrypoint", ([$spec.binDir + "/" + $s] | tojson),
    "--cmd", ($spec.cmd | tojson),
    "--workingdir", "/",
    "--stop-signal", "SIGTERM",
    (($spec.env + ($svc.env // {})) | to_entries | sort_by(.key)[] | "--env", "\(.key)=\(.value)"),
    ($svc.ports[] | "--port", "\(.)/tcp"),
    (($spec.labels + {
        "org.opencontainers.image.source": $source,
        "org.opencontainers.image.revision": $revision,
        "org.opencontainers.image.version": $version,
        "org.opencontainers.image.title": ("ecommerce-" + $s),
        "org.opencontainers.image.description": $svc.description
      }) | to_entries | sort_by(.key)[] | "--label", "\(.key)=\(.value)")
  ' "$IMAGES_SPEC"
}

# images_build OUT SERVICE... — build each image into OUT.
images_build() {
  local out="$1"
  shift
  mkdir -p "$out"
  local svc stage ctr version epoch
  version="$(images_version)"
  epoch="$(images_epoch)"
  for svc in "$@"; do
    [[ -x "$(release_dir)/$svc" ]] || {
      _ci_err "no release binary $(release_dir)/$svc: run ci/images without --no-build"
      return 1
    }
    stage="$(mktemp -d "$_CI_RUN_DIR/rootfs-$svc.XXXXXX")"
    _images_rootfs "$stage" "$svc"
    local -a config=()
    mapfile -t config < <(_images_config_args "$svc")
    ctr="$(buildah from --quiet scratch)"
    # The container is removed however this ends (commit --rm removes it on success).
    if ! {
      buildah copy --quiet --chown 0:0 "$ctr" "$stage/" / >/dev/null &&
        buildah config "${config[@]}" "$ctr" &&
        rm -f "$out/$svc.oci.tar" &&
        buildah commit --quiet --rm --omit-history --identity-label=false --timestamp "$epoch" \
          "$ctr" "oci-archive:$out/$svc.oci.tar:ecommerce/$svc:$version" >/dev/null
    }; then
      buildah rm "$ctr" >/dev/null 2>&1 || true
      _ci_err "building the $svc image failed"
      return 1
    fi
    skopeo inspect "oci-archive:$out/$svc.oci.tar" | jq -r .Digest >"$out/$svc.digest"
    rm -rf "$stage"
    printf '  ecommerce/%s:%s  %s\n' "$svc" "$version" "$(<"$out/$svc.digest")"
  done
}

# images_report OUT SERVICE... — size (uncompressed layers and gzip'd, as a registry stores
# them), layer count and digest of each image, as a table and as closing lines of the summary.
images_report() {
  local out="$1"
  shift
  local svc archive manifest layers raw gz digest line
  printf '%-9s %10s %10s %7s  %s\n' image "size MiB" "gzip MiB" layers digest
  for svc in "$@"; do
    archive="$out/$svc.oci.tar"
    manifest="$(skopeo inspect --raw "oci-archive:$archive")"
    layers="$(jq '.layers | length' <<<"$manifest")"
    raw=0
    gz=0
    local blob
    for blob in $(jq -r '.layers[].digest | sub("sha256:"; "")' <<<"$manifest"); do
      raw=$((raw + $(tar -xOf "$archive" "blobs/sha256/$blob" | wc -c)))
      gz=$((gz + $(tar -xOf "$archive" "blobs/sha256/$blob" | gzip -6 -n | wc -c)))
    done
    digest="$(<"$out/$svc.digest")"
    printf -v line '%-9s %10s %10s %7s  %s' "$svc" "$(_images_mib "$raw")" "$(_images_mib "$gz")" "$layers" "$digest"
    printf '%s\n' "$line"
    phase_note "image $line"
  done
}

_images_mib() { # BYTES -> "12.3"
  printf '%d.%d' "$(($1 / 1048576))" "$((($1 % 1048576) * 10 / 1048576))"
}
