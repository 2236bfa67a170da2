#!/usr/bin/env bash
# Build the one-folder bundle dist/gpuviz/ with PyInstaller, then smoke-test it the way a user
# without Python would run it: a clean environment, from outside the source tree, no display.
#
#   packaging/build.sh                 # uses $PYTHON, else the active virtualenv, else .venv, else python3
#   PYTHON=/path/to/venv/bin/python packaging/build.sh
#
# The Python environment must have gpuviz's dependencies and PyInstaller (`pip install -e ".[bundle]"`);
# the torch it holds (CPU or CUDA build) is the torch the bundle ships. See packaging/README.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

if [ -n "${PYTHON:-}" ]; then :
elif [ -n "${VIRTUAL_ENV:-}" ]; then PYTHON="$VIRTUAL_ENV/bin/python"
elif [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python
else PYTHON=python3; fi
if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
  echo "build.sh: PyInstaller is not installed for $PYTHON (run: $PYTHON -m pip install -e '.[bundle]')" >&2
  exit 2
fi

# This checkout's gpuviz_app, whatever else the environment has installed.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
DIST="$ROOT/dist"
BUNDLE="$DIST/gpuviz"
start=$(date +%s)
echo "== building $BUNDLE with $("$PYTHON" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__)')"
"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$DIST" --workpath "$ROOT/build/pyinstaller" packaging/gpuviz.spec
built=$(date +%s)

echo "== smoke test: a clean environment, outside the source tree, no display"
SMOKE="$(mktemp -d)"
trap 'rm -rf "$SMOKE"' EXIT
cd "$SMOKE"
clean() { env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME="$SMOKE" XDG_CONFIG_HOME="$SMOKE/config" XDG_DATA_HOME="$SMOKE/share" "$@"; }

version="$(clean "$BUNDLE/gpuviz" --version)"
echo "$version"
expected="gpuviz $("$PYTHON" -c 'import gpuviz_app; print(gpuviz_app.__version__)')"
[ "$version" = "$expected" ] || { echo "build.sh: --version said '$version', expected '$expected'" >&2; exit 1; }

t0=$(date +%s)
clean "$BUNDLE/gpuviz" record --steps 10 --screenshot "$SMOKE/smoke.png" --out "$SMOKE/smoke.mp4" --device cpu
[ "$(head -c 8 "$SMOKE/smoke.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] \
  || { echo "build.sh: record did not write a PNG" >&2; exit 1; }
t1=$(date +%s)
if [ -e "$SMOKE/smoke.mp4" ]; then  # PyAV encoding from the bundle
  [ "$(head -c 8 "$SMOKE/smoke.mp4" | tail -c 4)" = "ftyp" ] || { echo "build.sh: smoke.mp4 is not an MP4" >&2; exit 1; }
  echo "video: $(wc -c < "$SMOKE/smoke.mp4") bytes of MP4"
else
  echo "video: this version of record writes no video for --out (nothing to check)"
fi

window_s="skipped (no xvfb-run)"
if command -v xvfb-run >/dev/null; then  # the window too: Qt's xcb platform plugin and GL from the bundle
  t2=$(date +%s)
  clean xvfb-run -a -s "-screen 0 1600x1000x24" "$BUNDLE/gpuviz" --steps 20 --quit-when-done \
    --screenshot "$SMOKE/window.png" --device cpu
  [ -s "$SMOKE/window.png" ] || { echo "build.sh: the window did not save a screenshot" >&2; exit 1; }
  window_s="$(($(date +%s) - t2)) s"
fi

clean "$BUNDLE/gpuviz" install-desktop >/dev/null
grep -qx "Exec=$BUNDLE/gpuviz %F" "$SMOKE/share/applications/io.github.gpuviz.gpuviz.desktop" \
  || { echo "build.sh: install-desktop did not point the launcher at the bundle" >&2; exit 1; }
clean "$BUNDLE/gpuviz" install-desktop --uninstall >/dev/null

# Every shared library finds what it links against, in the bundle or in the base system (PyAV's
# FFmpeg, torch, Qt). Qt's Wayland parts are left out: they use the desktop's own libwayland.
missing="$(find "$BUNDLE" -name '*.so*' -type f ! -path '*wayland*' ! -name 'libQt6Wl*' ! -name 'libQt6Wayland*' \
  -exec sh -c 'ldd "$1" 2>/dev/null | grep "not found" | sed "s|^|$1: |"' _ {} \;)"
[ -z "$missing" ] || { echo "build.sh: unresolved libraries:" >&2; echo "$missing" >&2; exit 1; }

for part in gpuviz_app/resources/digits.npz gpuviz_app/resources/icons/gpuviz-256.png \
            gpuviz_app/resources/desktop/io.github.gpuviz.gpuviz.desktop \
            vispy/glsl vispy/util/fonts/data PySide6/Qt/plugins/platforms PySide6/Qt/plugins/xcbglintegrations av av.libs; do
  [ -e "$BUNDLE/_internal/$part" ] || { echo "build.sh: $part is missing from the bundle" >&2; exit 1; }
done

echo "== ok: $BUNDLE"
echo "size: $(du -sh "$BUNDLE" | cut -f1) ($(find "$BUNDLE" -type f | wc -l) files)"
echo "build: $((built - start)) s; headless record of 10 steps: $((t1 - t0)) s; window of 20 steps: $window_s"
