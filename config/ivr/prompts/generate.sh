#!/usr/bin/env bash
# Regenerates the IVR flows' own prompts (the shared set is config/prompts, made by
# config/prompts/generate.sh). Same format: 8 kHz, 16-bit, mono WAV, trimmed, -3 dBFS.
# Debian: apt-get install -y espeak-ng sox. Prompt names are "flow/<file>" (see docs/ivr.md).
set -euo pipefail
cd "$(dirname "$0")"
command -v espeak-ng >/dev/null || { echo "need espeak-ng (apt-get install -y espeak-ng)" >&2; exit 1; }
command -v sox >/dev/null || { echo "need sox (apt-get install -y sox)" >&2; exit 1; }
VOICE="${VOICE:-en-us}"
SPEED="${SPEED:-155}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

say() { # say <name> <text>
  local out="flow/$1.wav" text="$2"
  mkdir -p flow
  espeak-ng -v "$VOICE" -s "$SPEED" -w "$tmp/raw.wav" "$text"
  sox "$tmp/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$out" \
    silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse norm -3 pad 0 0.08
}

say at "at"
say less-than-a-minute "less than one minute"
say sales-menu "To make a booking, press 1. To speak with our sales team, press 2."
say enter-account-number "Please enter your account number, followed by the pound key."
say enter-booking-reference "Please enter your booking reference, followed by the pound key."
say enter-pin "Please enter your four digit PIN."
say available-times "Here is what is available."
say no-availability "Sorry, nothing is available right now."
say item-unavailable "Sorry, that one has just been taken."
say booking-confirmed "Your booking is confirmed. A confirmation is on its way."
say invalid-entry "Sorry, that entry is not valid."
say retry-card "To try another card, press 1."
say callback-offer "To be called back instead of waiting, press 1."
say callback-confirmed "We will call you back as soon as an agent is free."
say thank-you-for-waiting "Thank you for waiting. Your call is important to us."
say leave-message "Please leave a message after the tone."
say message-recorded "Your message has been recorded. We will get back to you."
say vip-welcome "Welcome back. As a valued customer, you will be connected with priority."
say returning-to-agent "Thank you. I am returning you to your agent."
say no-balance "There is no amount due on your account."

# Hold music: a slow four-chord loop, 16 seconds, quiet.
sox -n -r 8000 -c 1 -b 16 -e signed-integer "$tmp/c1.wav" synth 4 sine 262 sine 330 sine 392 remix - fade 0.3 4 0.3
sox -n -r 8000 -c 1 -b 16 -e signed-integer "$tmp/c2.wav" synth 4 sine 220 sine 262 sine 330 remix - fade 0.3 4 0.3
sox -n -r 8000 -c 1 -b 16 -e signed-integer "$tmp/c3.wav" synth 4 sine 175 sine 220 sine 262 remix - fade 0.3 4 0.3
sox -n -r 8000 -c 1 -b 16 -e signed-integer "$tmp/c4.wav" synth 4 sine 196 sine 247 sine 294 remix - fade 0.3 4 0.3
sox "$tmp/c1.wav" "$tmp/c2.wav" "$tmp/c3.wav" "$tmp/c4.wav" flow/hold-music.wav norm -12

echo "prompts written: $(find flow -name '*.wav' | wc -l) files, $(du -sh flow | cut -f1)"
