#!/usr/bin/env bash
# Regenerates Hotline's default prompt set with espeak-ng and sox (Debian: apt-get install -y
# espeak-ng sox). Output: 8 kHz, 16-bit, mono WAV, leading/trailing silence trimmed, normalised to
# -3 dBFS, without dither so that a rerun gives the same bytes. File names are what
# crates/media/src/say.rs and the IVR flows refer to.
set -euo pipefail
cd "$(dirname "$0")"
command -v espeak-ng >/dev/null || { echo "need espeak-ng (apt-get install -y espeak-ng)" >&2; exit 1; }
command -v sox >/dev/null || { echo "need sox (apt-get install -y sox)" >&2; exit 1; }
VOICE="${VOICE:-en-us}"
SPEED="${SPEED:-155}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

say() { # say <file without .wav> <text>
  local out="$1.wav" text="$2"
  mkdir -p "$(dirname "$out")"
  espeak-ng -v "$VOICE" -s "$SPEED" -w "$tmp/raw.wav" "$text"
  sox -D "$tmp/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$out" \
    silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse norm -3 pad 0 0.08
}

ones=(zero one two three four five six seven eight nine)
for i in "${!ones[@]}"; do say "digits/$i" "${ones[$i]}"; done
say digits/star "star"
say digits/pound "pound"

teens=(ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen)
for i in "${!teens[@]}"; do say "numbers/$((10 + i))" "${teens[$i]}"; done
tens=(twenty thirty forty fifty sixty seventy eighty ninety)
for i in "${!tens[@]}"; do say "numbers/$((20 + 10 * i))" "${tens[$i]}"; done
say numbers/hundred "hundred"
say numbers/thousand "thousand"
say numbers/million "million"

say currency/dollar "dollar"
say currency/dollars "dollars"
say currency/euro "euro"
say currency/euros "euros"
say currency/cent "cent"
say currency/cents "cents"
say currency/and "and"

months=(january february march april may june july august september october november december)
for i in "${!months[@]}"; do say "$(printf 'months/%02d' $((i + 1)))" "${months[$i]}"; done
for d in monday tuesday wednesday thursday friday saturday sunday; do say "days/$d" "$d"; done

ordinals=(first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth
  thirteenth fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth twentieth
  "twenty first" "twenty second" "twenty third" "twenty fourth" "twenty fifth" "twenty sixth"
  "twenty seventh" "twenty eighth" "twenty ninth" thirtieth "thirty first")
for i in "${!ordinals[@]}"; do say "ordinals/$((i + 1))" "${ordinals[$i]}"; done

say phrases/welcome "Welcome to Hotline."
say phrases/please-hold "Please hold, your call will be answered shortly."
say phrases/you-are-caller-number "You are caller number"
say phrases/estimated-wait "Your estimated wait time is"
say phrases/minute "minute"
say phrases/minutes "minutes"
say phrases/press "Press"
say phrases/for "for"
say phrases/main-menu "For sales, press 1. For support, press 2. For billing, press 3. To hear these options again, press star."
say phrases/sales "sales"
say phrases/support "support"
say phrases/billing "billing"
say phrases/invalid-option "Sorry, that is not a valid option."
say phrases/try-again "Please try again."
say phrases/goodbye "Thank you for calling. Goodbye."
say phrases/enter-card-number "Please enter your card number, followed by the pound key."
say phrases/enter-expiry "Please enter the expiry date, as four digits."
say phrases/enter-cvv "Please enter the three digit security code."
say phrases/amount-due "The amount due is"
say phrases/payment-approved "Your payment has been approved."
say phrases/payment-declined "Sorry, your payment was declined."
say phrases/thank-you "Thank you."
say phrases/all-agents-busy "All of our agents are busy helping other customers."
say phrases/call-recorded "This call may be recorded for quality and training purposes."
say phrases/one-moment "One moment please."
say phrases/transferring "Please hold while I transfer your call."
say phrases/closed "We are currently closed. Please call again during business hours."

# Music on hold: a quiet plucked arpeggio (C, Am, F, G), 8 s, looped by the engine.
mkdir -p moh
notes=(C4 E4 G4 C5 A3 C4 E4 A4 F3 A3 C4 F4 G3 B3 D4 G4)
parts=()
for n in "${notes[@]}"; do
  sox -D -n -r 8000 -c 1 -b 16 "$tmp/note-${#parts[@]}.wav" synth 0.5 pluck "$n" fade 0 0.5 0.2
  parts+=("$tmp/note-${#parts[@]}.wav")
done
sox -D "${parts[@]}" moh/default.wav norm -12

echo "prompts written: $(find . -name '*.wav' | wc -l) files, $(du -sh . | cut -f1)"
