#!/usr/bin/env bash
# Regenerates the Windows and macOS icon files from the app icon in assets/:
#   packaging/windows/backstop.ico  (16, 32, 48, 64, 128, 256 px; the exe's icon resource, build.rs)
#   packaging/macos/backstop.icns   (16, 32, 48, 128, 256, 512 px; Backstop.app, bundle.sh)
# Uses assets/icon-<size>.png where it exists and renders the missing sizes from assets/backstop.svg.
# Needs ImageMagick (convert) and icnsutils (png2icns). Both outputs are committed; run this after the icon
# changes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

png() {
    local size="$1"
    if [[ -f "assets/icon-$size.png" ]]; then
        cp "assets/icon-$size.png" "$scratch/icon-$size.png"
    else
        convert -background none -density 384 assets/backstop.svg -resize "${size}x${size}" \
            "PNG32:$scratch/icon-$size.png"
    fi
    printf '%s\n' "$scratch/icon-$size.png"
}

ico=()
for size in 16 32 48 64 128 256; do
    ico+=("$(png "$size")")
done
convert "${ico[@]}" packaging/windows/backstop.ico

icns=()
for size in 16 32 48 128 256 512; do
    icns+=("$(png "$size")")
done
png2icns packaging/macos/backstop.icns "${icns[@]}" >/dev/null

identify packaging/windows/backstop.ico
icns2png -l packaging/macos/backstop.icns
