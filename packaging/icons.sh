#!/usr/bin/env bash
# Regenerates every icon file from the app icon's SVG sources (commit what it writes):
#   assets/backstop.svg     → assets/icon-32.png … icon-512.png (the window's icon is icon-256.png)
#   assets/backstop-16.svg  → assets/icon-16.png (the same picture drawn on the 16 px grid, so it stays sharp)
#   packaging/windows/backstop.ico  (16, 32, 48, 64, 128, 256 px; the exe's icon resource, build.rs)
#   packaging/macos/backstop.icns   (16, 32, 48, 128, 256, 512 px; Backstop.app, bundle.sh)
# Needs rsvg-convert (apt librsvg2-bin), ImageMagick (convert) and icnsutils (png2icns).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

for tool in rsvg-convert convert png2icns; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "packaging/icons.sh: $tool not found (apt install librsvg2-bin imagemagick icnsutils)" >&2
        exit 1
    }
done

render() {
    local svg="$1" size="$2" out="assets/icon-$2.png"
    rsvg-convert --width "$size" --height "$size" --format png --output "$out.tmp" "assets/$svg"
    mv "$out.tmp" "$out"
    echo "$out"
}

render backstop-16.svg 16
for size in 32 48 64 128 256 512; do
    render backstop.svg "$size"
done

ico=()
for size in 16 32 48 64 128 256; do
    ico+=("assets/icon-$size.png")
done
convert "${ico[@]}" packaging/windows/backstop.ico

icns=()
for size in 16 32 48 128 256 512; do
    icns+=("assets/icon-$size.png")
done
png2icns packaging/macos/backstop.icns "${icns[@]}" >/dev/null

identify packaging/windows/backstop.ico
icns2png -l packaging/macos/backstop.icns
