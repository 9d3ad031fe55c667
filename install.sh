#!/bin/sh
# Install a zsc release: download the archive for this machine, check its SHA-256 against the
# release's SHA256SUMS (or a checksum you pin), and put `zsc` in a directory. Needs curl (or
# wget), tar, and sha256sum (or shasum). Used by the GitHub Action (action.yml) and usable on
# its own:
#
#   curl -fsSL https://github.com/OWNER/zsc/releases/download/v0.1.0/install.sh \
#     | sh -s -- --version 0.1.0 --repository OWNER/zsc
#
# Flags, or the environment variables beside them:
#   --version X.Y.Z         ZSC_VERSION        the release (required)
#   --repository OWNER/NAME ZSC_REPOSITORY     whose GitHub releases to install from
#   --download-url URL      ZSC_DOWNLOAD_URL   a mirror laid out like
#                                              https://github.com/OWNER/NAME/releases/download
#                                              (then --repository is not needed)
#   --sha256 HEX            ZSC_SHA256         the archive's checksum, pinned: SHA256SUMS is
#                                              then only a cross-check
#   --dir DIR               ZSC_INSTALL_DIR    where `zsc` goes (default ~/.local/bin)
# On GitHub Actions the directory is added to the PATH of later steps ($GITHUB_PATH), and the
# step output `path` names the binary.
set -eu

die() {
  echo "install.sh: $*" >&2
  exit 1
}

version=${ZSC_VERSION:-}
repository=${ZSC_REPOSITORY:-}
base=${ZSC_DOWNLOAD_URL:-}
pinned=${ZSC_SHA256:-}
dir=${ZSC_INSTALL_DIR:-${HOME:?}/.local/bin}
while [ $# -gt 0 ]; do
  case $1 in
    --version | --repository | --download-url | --sha256 | --dir)
      [ $# -ge 2 ] || die "$1 needs a value"
      case $1 in
        --version) version=$2 ;;
        --repository) repository=$2 ;;
        --download-url) base=$2 ;;
        --sha256) pinned=$2 ;;
        --dir) dir=$2 ;;
      esac
      shift 2
      ;;
    -h | --help)
      sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

version=${version#v}
[ -n "$version" ] || die "say which release to install: --version X.Y.Z (or ZSC_VERSION)"
case $version in
  *[!0-9A-Za-z.+-]*) die "not a version: $version" ;;
esac

case $(uname -s) in
  Linux) ;;
  *) die "zsc releases are static Linux binaries; on $(uname -s), build it: cargo install --locked --git https://github.com/${repository:-OWNER/zsc} --tag v$version zsc" ;;
esac
case $(uname -m) in
  x86_64 | amd64) target=x86_64-unknown-linux-musl ;;
  aarch64 | arm64) target=aarch64-unknown-linux-musl ;;
  *) die "no zsc release for $(uname -m) (there are x86_64 and aarch64)" ;;
esac

if [ -z "$base" ]; then
  [ -n "$repository" ] || die "say where the releases are: --repository OWNER/NAME (or ZSC_REPOSITORY)"
  base="https://github.com/$repository/releases/download"
fi
base=${base%/}/v$version
archive="zsc-$version-$target.tar.gz"

fetch() { # URL FILE
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 3 --proto '=https,http' -o "$2" "$1" || die "could not download $1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1" || die "could not download $1"
  else
    die "needs curl or wget"
  fi
}

sha256() { # FILE
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d ' ' -f 1
  else
    die "needs sha256sum or shasum"
  fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

echo "installing zsc $version ($target) from $base"
fetch "$base/$archive" "$tmp/$archive"
fetch "$base/SHA256SUMS" "$tmp/SHA256SUMS"
listed=$(awk -v f="$archive" '$2 == f || $2 == "*" f { print $1; exit }' "$tmp/SHA256SUMS")
[ -n "$listed" ] || die "SHA256SUMS of v$version lists no $archive"
actual=$(sha256 "$tmp/$archive")
if [ "$actual" != "$listed" ]; then
  die "checksum mismatch for $archive: SHA256SUMS says $listed, the download is $actual; not installed"
fi
if [ -n "$pinned" ] && [ "$actual" != "$pinned" ]; then
  die "checksum mismatch for $archive: pinned $pinned, the download is $actual; not installed"
fi

tar -xzf "$tmp/$archive" -C "$tmp"
[ -f "$tmp/zsc-$version-$target/zsc" ] || die "$archive holds no zsc-$version-$target/zsc"
mkdir -p "$dir"
cp "$tmp/zsc-$version-$target/zsc" "$dir/zsc.new"
chmod 0755 "$dir/zsc.new"
mv -f "$dir/zsc.new" "$dir/zsc"
"$dir/zsc" --version

if [ -n "${GITHUB_PATH:-}" ]; then
  echo "$dir" >>"$GITHUB_PATH"
fi
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  echo "path=$dir/zsc" >>"$GITHUB_OUTPUT"
fi
