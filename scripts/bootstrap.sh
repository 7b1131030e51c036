#!/usr/bin/env bash
# Sets up Brain MRI Review in ./.venv from a fresh clone.
#   scripts/bootstrap.sh          the app (runtime dependencies only)
#   scripts/bootstrap.sh --dev    the app + test tools + the training package (torch CPU)
# Qt needs a few system libraries to open a window (xcb); as root on Debian/Ubuntu they
# are installed here, otherwise the missing ones are listed for your IT department.
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
[[ "${1:-}" == "--dev" ]] && extras="[dev,train]"

qt_libs=(libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0
         libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 libxcb-image0 libegl1 libgl1
         libfontconfig1 libdbus-1-3)
[[ -n "$extras" ]] && qt_libs+=(xvfb imagemagick xauth x11-utils)
if command -v dpkg >/dev/null 2>&1; then
  missing=()
  for p in "${qt_libs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
      echo "bootstrap: installing system libraries for Qt: ${missing[*]}"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "bootstrap: Qt may need these system packages (ask an administrator): ${missing[*]}" >&2
    fi
  fi
fi

py=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$py" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".${extras}"
echo "bootstrap: ready (.venv)"
