#!/usr/bin/env bash
# Lays out Backstop.app from a built binary:
#   Backstop.app/Contents/Info.plist             (packaging/macos/Info.plist, @VERSION@ = Cargo.toml's version)
#   Backstop.app/Contents/PkgInfo
#   Backstop.app/Contents/MacOS/backstop         (the binary)
#   Backstop.app/Contents/Resources/backstop.icns
# Usage: packaging/macos/bundle.sh [BINARY [OUT_DIR]]
#   BINARY   default target/release/backstop (build it first: cargo build --release)
#   OUT_DIR  where Backstop.app is made, default target/macos; an existing Backstop.app there is replaced.
# The plist is checked with plutil where it exists (macOS), else with python3's plistlib. The script does not
# sign or notarize; see packaging/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
binary="${1:-$root/target/release/backstop}"
out_dir="${2:-$root/target/macos}"

die() {
    printf 'bundle.sh: %s\n' "$*" >&2
    exit 1
}

[[ -f "$binary" && -x "$binary" ]] || die "no executable at $binary (build it first: cargo build --release)"
# The first `version = ` line of Cargo.toml is the package's own (it comes right after `name`).
version="$(sed -n 's/^version = "\([^"]*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)"
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || die "cannot read the version from $root/Cargo.toml"

app="$out_dir/Backstop.app"
staging="$out_dir/.Backstop.app.partial"
rm -rf "$staging"
mkdir -p "$staging/Contents/MacOS" "$staging/Contents/Resources"
sed "s/@VERSION@/$version/g" "$here/Info.plist" >"$staging/Contents/Info.plist"
printf 'APPL????' >"$staging/Contents/PkgInfo"
install -m 0755 "$binary" "$staging/Contents/MacOS/backstop"
install -m 0644 "$here/backstop.icns" "$staging/Contents/Resources/backstop.icns"

if command -v plutil >/dev/null 2>&1; then
    plutil -lint "$staging/Contents/Info.plist" >/dev/null || die "Info.plist does not validate"
else
    python3 - "$staging/Contents/Info.plist" "$version" <<'PY' || die "Info.plist does not validate"
import plistlib, sys
with open(sys.argv[1], "rb") as f:
    info = plistlib.load(f)
expected = {
    "CFBundleIdentifier": "io.github.backstop.Backstop",
    "CFBundleExecutable": "backstop",
    "CFBundleIconFile": "backstop.icns",
    "CFBundlePackageType": "APPL",
    "CFBundleShortVersionString": sys.argv[2],
    "NSHighResolutionCapable": True,
}
wrong = {k: info.get(k) for k, v in expected.items() if info.get(k) != v}
if wrong:
    sys.exit(f"unexpected Info.plist values: {wrong}")
PY
fi

rm -rf "$app"
mv "$staging" "$app"
echo "$app (version $version)"
