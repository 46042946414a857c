#!/usr/bin/env bash
# Builds Backstop's Debian package with cargo-deb, from the [package.metadata.deb] section of Cargo.toml.
#
#   packaging/build-deb.sh                 cargo build --release --locked, then cargo deb --no-build
#   packaging/build-deb.sh --binary PATH   package an already built binary instead (or BACKSTOP_DEB_BINARY=PATH);
#                                          CI packages the debug binary `cargo test` built, saving a release build
#   --output DIR                           where the .deb goes (default: target/debian, under CARGO_TARGET_DIR if set)
#
# Prints the .deb's path on a line of its own, `deb: PATH`, and its size. The binary is stripped in the package.
# Needs cargo-deb: `cargo install cargo-deb --locked`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
binary="${BACKSTOP_DEB_BINARY:-}"
target_dir="${CARGO_TARGET_DIR:-target}"
output="$target_dir/debian"

usage() {
    sed -n '2,10s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

while (($# > 0)); do
    case "$1" in
    --binary)
        (($# >= 2)) || usage
        binary="$2"
        shift 2
        ;;
    --output)
        (($# >= 2)) || usage
        output="$2"
        shift 2
        ;;
    -h | --help) usage ;;
    *)
        echo "build-deb.sh: unknown argument $1" >&2
        usage
        ;;
    esac
done

if ! cargo deb --version >/dev/null 2>&1; then
    echo "build-deb.sh: cargo-deb is not installed; install it with: cargo install cargo-deb --locked" >&2
    exit 1
fi
mkdir -p "$output"

if [[ -z "$binary" ]]; then
    cargo build --release --locked
    cargo deb --no-build --locked --strip --output "$output" | tee "$output/.build-deb.out"
else
    [[ -f "$binary" && -x "$binary" ]] || {
        echo "build-deb.sh: $binary is not an executable file" >&2
        exit 1
    }
    # cargo-deb takes the binary from the asset path target/release/backstop, which it resolves under the target
    # folder: give it a scratch target folder that holds only this binary (a hard link where possible).
    scratch="$(mktemp -d "${TMPDIR:-/tmp}/backstop-deb.XXXXXX")"
    trap 'rm -rf "$scratch"' EXIT
    mkdir -p "$scratch/release"
    ln "$binary" "$scratch/release/backstop" 2>/dev/null || cp "$binary" "$scratch/release/backstop"
    CARGO_TARGET_DIR="$scratch" cargo deb --no-build --locked --strip --output "$output" |
        tee "$output/.build-deb.out"
fi

deb="$(tail -n 1 "$output/.build-deb.out")"
rm -f "$output/.build-deb.out"
[[ "$deb" == *.deb && -f "$deb" ]] || {
    echo "build-deb.sh: cargo deb did not say where the .deb went (last line: $deb)" >&2
    exit 1
}
deb="$(realpath "$deb")"
echo "deb: $deb"
echo "size: $(du -h "$deb" | cut -f1) ($(stat -c %s "$deb") bytes)"
