#!/usr/bin/env bash
# Build the double-clickable app and smoke-test the frozen result (one command).
#
#   scripts/build_and_smoke.sh              build with build.spec, then test dist/BrainMRIReview
#   scripts/build_and_smoke.sh --no-build   only test an existing dist/BrainMRIReview
#
# Checks, in order (any failure stops with exit 1 and says why):
#   1. the folder: executable present, no torch / training code / OpenCV, no unused Qt modules, < 250 MB
#   2. --self-test with no network at all (unshare -n; a clear note if not permitted):
#      exit 0 with a bundled model, exit 1 "no model installed" without one
#   3. the frozen CLI over ../shared/dicom (when present), offline too; its rows must equal
#      the source checkout's CLI on the same files and model
#   4. the GUI on a virtual screen (Xvfb): the window appears, stays up a few seconds,
#      "main window shown" in the app's log and no error there or on stderr
# Prints build time, folder size and start-up time to a visible window; the details go to
# build/smoke/ (logs, CSVs, a screenshot). Needs .venv with the [build] extra and, for the
# GUI, Xvfb + xwininfo (scripts/bootstrap.sh --dev installs them as root).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# BUILD_ROOT: where dist/ and build/ go (the checkout by default; the frozen-app test
# gives a temporary folder so that no 229 MB build is left inside the checkout)
BUILD_ROOT=$(cd "${BUILD_ROOT:-$ROOT}" && pwd)
export BRAIN_MRI_BUILD_DIR=$BUILD_ROOT/build  # build.spec writes build_info.json there
APP=$BUILD_ROOT/dist/BrainMRIReview
EXE=$APP/BrainMRIReview
OUT=$BUILD_ROOT/build/smoke
MAX_MB=${SMOKE_MAX_MB:-250}  # the folder limit (override only to see the other checks)
PY=.venv/bin/python
SHARED=../shared/dicom
build=1
[[ ${1:-} == --no-build ]] && build=0
mkdir -p "$OUT"
find "$OUT" -mindepth 1 -maxdepth 1 ! -name build.log -exec rm -rf {} +  # keep the last build's log
summary=()
say() { echo "smoke: $*"; }
fail() { echo "smoke: FAILED - $*" >&2; exit 1; }
note() { summary+=("$*"); say "$*"; }

# ---- build -----------------------------------------------------------------------------
if ((build)); then
  [[ -x .venv/bin/pyinstaller ]] || fail "pyinstaller missing: .venv/bin/pip install -e '.[build]'"
  say "building (log: $OUT/build.log) ..."
  t0=$(date +%s)
  .venv/bin/pyinstaller --noconfirm --clean --distpath "$BUILD_ROOT/dist" \
    --workpath "$BUILD_ROOT/build" build.spec >"$OUT/build.log" 2>&1 \
    || { tail -30 "$OUT/build.log" >&2; fail "pyinstaller failed (see $OUT/build.log)"; }
  note "build time: $(( $(date +%s) - t0 )) s"
fi

# ---- 1. the folder -----------------------------------------------------------------------
[[ -x $EXE ]] || fail "$EXE not found (build first)"
INFO=$(find "$APP" -maxdepth 2 -name build_info.json | head -1)
[[ -n $INFO ]] || fail "build_info.json missing from the bundle"
model=$("$PY" -c 'import json,sys; m=json.load(open(sys.argv[1]))["model"]; print(m["file"] if m else "")' "$INFO")
say "build record: $(tr -d '\n ' <"$INFO" | cut -c1-200)"
find "$APP" | sed "s#^$APP/##" | sort >"$OUT/contents.txt"
bad=$(grep -iE '(^|/)(torch|training|torchvision|cv2|opencv[a-z_.-]*)(/|$|[-_.])|libtorch' "$OUT/contents.txt" || true)
[[ -z $bad ]] || fail "torch, training or OpenCV in the bundle: $(echo "$bad" | head -3 | tr '\n' ' ')"
qt_bad=$(grep -iE 'Qt6?(WebEngine|Quick|Qml|3D|Multimedia|Pdf|Charts|Graphs|DataVis|Location|Network|Sql|Test|Designer)' "$OUT/contents.txt" || true)
[[ -z $qt_bad ]] || fail "unused Qt modules in the bundle: $(echo "$qt_bad" | head -3 | tr '\n' ' ')"
mb=$(du -sm "$APP" | cut -f1)
note "folder size: $(du -sh "$APP" | cut -f1) ($mb MB, $(wc -l <"$OUT/contents.txt") files; Qt libraries: $(grep -oE 'libQt6[A-Za-z]+' "$OUT/contents.txt" | sort -u | sed 's/libQt6//' | tr '\n' ' '))"
too_big=""
((mb < MAX_MB)) || too_big="the folder weighs $mb MB (limit $MAX_MB MB)"  # reported at the end
# every bundled library must find its dependencies inside the folder or on the system
libs="$APP/_internal:$APP/_internal/PySide6/Qt/lib"
missing=$(find "$APP" -name '*.so*' -type f | while read -r f; do
  LD_LIBRARY_PATH=$libs ldd "$f" 2>/dev/null | grep 'not found' | sed "s#^#${f#$APP/}: #" || true
done | sort -u)
[[ -z $missing ]] || fail "libraries with missing dependencies: $(echo "$missing" | head -5)"

# ---- 2. self-test, no network --------------------------------------------------------------
offline=(unshare -n)
if ! unshare -n true 2>/dev/null; then
  offline=()
  note "NOTE: unshare -n is not permitted here: self-test and CLI ran WITH network access"
fi
set +e
"${offline[@]}" "$EXE" --self-test >"$OUT/selftest.txt" 2>&1
rc=$?
set -e
cat "$OUT/selftest.txt"
if [[ -n $model ]]; then
  ((rc == 0)) || fail "self-test exit $rc with a bundled model"
  note "self-test (${offline[*]:-with network}): passed, $(tail -1 "$OUT/selftest.txt")"
else
  ((rc == 1)) && grep -q "no model installed" "$OUT/selftest.txt" \
    || fail "self-test without a model: expected exit 1 'no model installed', got $rc"
  note "self-test (${offline[*]:-with network}): no model installed -> exit 1 as expected"
fi

# ---- 3. frozen CLI over ../shared/dicom -------------------------------------------------------
if [[ ! -d $SHARED ]]; then
  note "CLI: skipped, $SHARED is absent"
elif [[ -z $model ]]; then
  set +e; "${offline[@]}" "$EXE" --cli "$SHARED" --csv "$OUT/cli.csv" 2>"$OUT/cli.err"; rc=$?; set -e
  ((rc == 2)) && grep -q "no model installed" "$OUT/cli.err" \
    || fail "frozen CLI without a model: expected exit 2 'no model installed', got $rc"
  note "CLI: no model installed -> exit 2 as expected"
else
  "${offline[@]}" "$EXE" --cli "$SHARED" --csv "$OUT/cli.csv" 2>"$OUT/cli.err" \
    || { cat "$OUT/cli.err" >&2; fail "frozen CLI failed"; }
  "$PY" -m desktop.cli "$SHARED" --csv "$OUT/cli_source.csv" --model "$APP/_internal/$model" \
    2>"$OUT/cli_source.err" || fail "source CLI failed (see $OUT/cli_source.err)"
  "$PY" - "$OUT/cli.csv" "$OUT/cli_source.csv" <<'EOF' || fail "frozen CLI differs from the source CLI"
import csv, sys
def rows(p):
    with open(p, newline="", encoding="utf-8") as fh:
        return [{k: v for k, v in r.items() if k not in ("exported_at",)} for r in csv.DictReader(fh)]
frozen, source = rows(sys.argv[1]), rows(sys.argv[2])
errors = [r for r in frozen if r["status"] == "error"]
assert frozen, "no rows"
assert not errors, f"{len(errors)} error rows, e.g. {errors[0]['path']}: {errors[0]['message']}"
assert frozen == source, "rows differ"
status = {}
for r in frozen:
    status[r["status"]] = status.get(r["status"], 0) + 1
print(f"smoke: CLI: {len(frozen)} rows, {status}, identical to the source checkout's CLI")
EOF
  note "CLI (${offline[*]:-with network}) over $SHARED: $(grep -m1 " rows: " "$OUT/cli.err" | cut -c1-150)"
fi

# ---- 4. GUI on a virtual screen ------------------------------------------------------------------
if ! command -v Xvfb >/dev/null || ! command -v xwininfo >/dev/null; then
  note "GUI: skipped, Xvfb/xwininfo missing (scripts/bootstrap.sh --dev installs them as root)"
else
  # Xvfb picks a free display itself and writes its number once it accepts clients
  # (a fixed or random number can collide with another X server on the machine)
  : >"$OUT/xvfb.display"
  Xvfb -displayfd 3 -screen 0 1440x900x24 -nolisten tcp 3>"$OUT/xvfb.display" >"$OUT/xvfb.log" 2>&1 &
  xvfb=$!
  app=""
  cleanup() { [[ -n $app ]] && kill "$app" 2>/dev/null; kill "$xvfb" 2>/dev/null; wait 2>/dev/null || true; }
  trap cleanup EXIT
  for _ in $(seq 300); do [[ -s $OUT/xvfb.display ]] && break; sleep 0.1; done
  [[ -s $OUT/xvfb.display ]] || { cat "$OUT/xvfb.log" >&2; fail "Xvfb did not start"; }
  display=":$(head -1 "$OUT/xvfb.display")"
  gui_run() {  # $1 = tag; starts the app, waits for its window, keeps it up 4 s
    local tag=$1 data="$OUT/data-$1" t0 t1 waited=0
    mkdir -p "$data"
    t0=$(date +%s.%N)
    DISPLAY=$display QT_QPA_PLATFORM=xcb BRAIN_MRI_REVIEW_DATA_DIR=$data \
      "$EXE" >"$OUT/gui-$tag.out" 2>&1 &
    app=$!
    until DISPLAY=$display xwininfo -root -tree 2>/dev/null | grep -q '"Brain MRI Review'; do
      kill -0 "$app" 2>/dev/null || { cat "$OUT/gui-$tag.out" >&2; fail "GUI ($tag) exited before a window appeared"; }
      sleep 0.1; waited=$((waited + 1))
      ((waited < 900)) || fail "GUI ($tag): no window after 90 s"
    done
    t1=$(date +%s.%N)
    # CPU seconds the app used until then (the wall time depends on what else runs)
    CPU=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' "/proc/$app/stat")
    sleep 4
    kill -0 "$app" 2>/dev/null || fail "GUI ($tag) exited within 4 s of showing its window"
    [[ $tag == cold ]] && command -v import >/dev/null && DISPLAY=$display import -window root "$OUT/gui.png" 2>/dev/null || true
    kill "$app"; wait "$app" 2>/dev/null || true; app=""
    local log="$data/logs/brain-mri-review.log"
    [[ -f $log ]] || fail "GUI ($tag): no log file at $log"
    grep -q "main window shown" "$log" || fail "GUI ($tag): 'main window shown' missing from $log"
    if grep -E " (ERROR|CRITICAL) |Traceback" "$log" "$OUT/gui-$tag.out"; then
      fail "GUI ($tag): errors in the log or on stderr"
    fi
    STARTUP=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    SHOWN=$(grep -o "main window shown.*" "$log" | head -1)
  }
  gui_run cold
  cold="$STARTUP s ($CPU s CPU)"
  gui_run warm
  note "GUI: window appeared, up 4 s, no error ($SHOWN); start-up to a visible window: $cold first start, $STARTUP s ($CPU s CPU) second"
fi

echo
printf '  %s\n' "${summary[@]}" | tee "$OUT/summary.txt"
[[ -z $too_big ]] || fail "$too_big (every other check passed)"
echo "smoke: PASSED"
