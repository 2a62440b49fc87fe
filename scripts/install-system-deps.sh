#!/usr/bin/env bash
# Debian packages used by the corpus speech sources (models/corpus) and the audio sinks:
#   flite                         speech synthesis with phone timings (models/corpus/tts_flite.py)
#   asterisk-core-sounds-en-wav   real human speech: Asterisk English prompts, 8 kHz WAV (human.py)
#   asterisk-core-sounds-en       their transcripts (core-sounds-en.txt.gz)
#   libportaudio2                 PortAudio for sounddevice: --mic capture and avatar audio playback
#   chromium                      headless browser for the OBS overlay's tests (driven by playwright)
#   mono-devel                    mcs + mono: compiles and runs the Unity client's engine-free C# core in tests
# Idempotent: installs only what is missing and runs `apt-get update` only then.
# A no-op with a message when not run as root or not on Debian/Ubuntu (apt-get and dpkg-query missing).
set -euo pipefail

PACKAGES=(flite asterisk-core-sounds-en-wav asterisk-core-sounds-en libportaudio2 chromium mono-devel)

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-system-deps: not a Debian-based system (no apt-get/dpkg-query); install ${PACKAGES[*]} yourself." >&2
    exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-system-deps: all present (${PACKAGES[*]})."
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps: not root; run: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 0
fi

echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
