#!/usr/bin/env bash
# Makes dtmf_sox.wav: the digits 147*0#9D as sox-generated tone pairs (80 ms on, 70 ms off, each
# tone at -14 dBFS), over white noise at -30 dBFS, 8 kHz 16-bit mono. An independent generator
# for the in-band detector test (tests/dtmf_reference.rs). Needs sox; the WAV is committed.
set -euo pipefail
cd "$(dirname "$0")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
declare -A row=([1]=697 [4]=770 [7]=852 ['*']=941 [0]=941 ['#']=941 [9]=852 [D]=941)
declare -A col=([1]=1209 [4]=1209 [7]=1209 ['*']=1209 [0]=1336 ['#']=1477 [9]=1477 [D]=1633)
parts=()
i=0
for d in 1 4 7 '*' 0 '#' 9 D; do
  sox -D -n -r 8000 -b 16 -c 2 "$tmp/p$i.wav" synth 0.08 sine "${row[$d]}" sine "${col[$d]}" gain -14
  sox -D "$tmp/p$i.wav" -c 1 "$tmp/m$i.wav" remix 1,2 pad 0 0.07
  parts+=("$tmp/m$i.wav")
  i=$((i + 1))
done
sox -D "${parts[@]}" "$tmp/tones.wav" pad 0.1 0.1
len=$(soxi -D "$tmp/tones.wav")
sox -D -n -r 8000 -b 16 -c 1 "$tmp/noise.wav" synth "$len" whitenoise gain -30
sox -D -m "$tmp/tones.wav" "$tmp/noise.wav" -b 16 dtmf_sox.wav
