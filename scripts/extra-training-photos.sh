#!/usr/bin/env bash
# Links the extra training photos the bundled model's recipe uses into one
# folder (default runs/extra-photos): 23 photographs shipped by two Debian
# packages, both GPL-2+ (see each package's /usr/share/doc/*/copyright):
#   mate-backgrounds            the 12 photos in nature/
#   plasma-workspace-wallpapers the 11 photographs among its 30 wallpapers
#                               (the rest are renders and drawings), each at
#                               its largest size
# They are high-quality JPEGs (IJG quality about 70-100); the recipe's
# data.max_side (1024) downscales them 1.6-2.5x with area averaging, which
# leaves no visible trace of their own compression. Installs the packages
# with apt-get when run as root and they are missing.
#
#   bash scripts/extra-training-photos.sh [DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-runs/extra-photos}
mate=/usr/share/backgrounds/mate/nature
plasma=/usr/share/wallpapers
plasma_photos=(BytheWater ColdRipple ColorfulCups DarkestHour EveningGlow FallenLeaf Grey Kite
               OneStandsOut Path summer_1am)

missing=()
[ -d "$mate" ] || missing+=(mate-backgrounds)
[ -d "$plasma/Path" ] || missing+=(plasma-workspace-wallpapers)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "extra-training-photos.sh: install ${missing[*]} (apt-get install ${missing[*]}) or run as root" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" > /dev/null
fi

rm -rf "$dir"
mkdir -p "$dir"
for f in "$mate"/*.jpg; do ln -s "$f" "$dir/mate-$(basename "$f")"; done
for name in "${plasma_photos[@]}"; do
  # The largest file of the wallpaper's sizes (they are one photo, rescaled).
  largest=$(ls -S "$plasma/$name/contents/images/"* | head -1)
  ln -s "$largest" "$dir/plasma-$name.${largest##*.}"
done
echo "extra-training-photos.sh: $(ls "$dir" | wc -l) photos linked in $dir"
