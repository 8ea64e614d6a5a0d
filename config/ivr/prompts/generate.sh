#!/usr/bin/env bash
# Regenerates the IVR flows' own prompts (the shared set is config/prompts, made by
# config/prompts/generate.sh). Same format: 8 kHz, 16-bit, mono WAV, trimmed, -3 dBFS, no dither
# (a rerun gives the same bytes).
#   ./generate.sh       English: flow/<name>.wav
#   ./generate.sh zh    Mandarin: zh/flow/<name>.wav (the flows play them for callers in zh)
# Needs espeak-ng (1.51 or later with its Mandarin data) and sox. Debian: apt-get install -y
# espeak-ng sox. Prompt names are "flow/<file>" (see docs/ivr.md).
set -euo pipefail
cd "$(dirname "$0")"
command -v espeak-ng >/dev/null || { echo "need espeak-ng (apt-get install -y espeak-ng)" >&2; exit 1; }
command -v sox >/dev/null || { echo "need sox (apt-get install -y sox)" >&2; exit 1; }
SET="${1:-en}"
EN_VOICE="${EN_VOICE:-en-us}"
# espeak-ng 1.51's "cmn" reads characters through English rules (issues #1028, #1236);
# "cmn-latn-pinyin" is the same Mandarin voice and reads them right.
ZH_VOICE="${ZH_VOICE:-cmn-latn-pinyin}"
case "$SET" in
  en) VOICE="$EN_VOICE"; out_dir=flow ;;
  zh) VOICE="$ZH_VOICE"; out_dir=zh/flow ;;
  *) echo "usage: $0 [en|zh]" >&2; exit 2 ;;
esac
for v in "$EN_VOICE" "$ZH_VOICE"; do
  espeak-ng --voices | awk '{print $2}' | grep -qx "$v" ||
    { echo "espeak-ng has no voice $v (apt-get install -y espeak-ng-data)" >&2; exit 1; }
done
SPEED="${SPEED:-155}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

say_in() { # say_in <voice> <name> <text>
  local out="$out_dir/$2.wav"
  mkdir -p "$out_dir"
  espeak-ng -v "$1" -s "$SPEED" -w "$tmp/raw.wav" "$3"
  sox -D "$tmp/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$out" \
    silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse norm -3 pad 0 0.08
}
say() { say_in "$VOICE" "$@"; }

if [ "$SET" = zh ]; then
  # The texts avoid characters espeak-ng reads with the wrong tone (重试, 银行, 作为):
  # check a new one with espeak-ng -v "$ZH_VOICE" -x.
  say less-than-a-minute "不到一分钟"
  say sales-menu "预订请按一，销售咨询请按二。"
  say enter-account-number "请输入您的账号，以井号键结束。"
  say enter-booking-reference "请输入您的预订编号，以井号键结束。"
  say enter-pin "请输入您的四位密码。"
  say available-times "以下是可预订的时间。"
  say no-availability "对不起，目前没有可预订的时间。"
  say item-unavailable "对不起，该时段刚刚已被预订。"
  say booking-confirmed "您的预订已确认，确认信息已发送给您。"
  say invalid-entry "对不起，您的输入无效。"
  say retry-card "如需换一张卡，请按一。"
  say callback-offer "如需回电而不用等待，请按一。"
  say callback-confirmed "座席人员空闲时，我们会尽快给您回电。"
  say thank-you-for-waiting "感谢您的耐心等待，您的来电对我们很重要。"
  say leave-message "请在提示音后留言。"
  say message-recorded "您的留言已录制，我们会尽快与您联系。"
  say vip-welcome "欢迎回来。您是我们的贵宾客户，将获得优先接听。"
  say returning-to-agent "谢谢，正在为您转回座席。"
  say no-balance "您的账户目前无需付款。"
  say reference-number "您的留言编号是"
  # The offer of the other language is said in that language.
  say_in "$EN_VOICE" other-language "For English, press nine."
  echo "prompts written: $(find zh -name '*.wav' | wc -l) files, $(du -sh zh | cut -f1)"
  exit 0
fi

say at "at"
say reference-number "Your reference number is"
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
# The offer of the other language is said in that language.
say_in "$ZH_VOICE" other-language "普通话服务，请按九。"

# Hold music: a slow four-chord loop, 16 seconds, quiet.
sox -n -r 8000 -c 1 -b 16 -e signed-integer "$tmp/c1.wav" synth 4 sine 262 sine 330 sine 392 remix - fade 0.3 4 0.3
sox -n -r 8000 -c 1 -b 16 -e signed-integer "$tmp/c2.wav" synth 4 sine 220 sine 262 sine 330 remix - fade 0.3 4 0.3
sox -n -r 8000 -c 1 -b 16 -e signed-integer "$tmp/c3.wav" synth 4 sine 175 sine 220 sine 262 remix - fade 0.3 4 0.3
sox -n -r 8000 -c 1 -b 16 -e signed-integer "$tmp/c4.wav" synth 4 sine 196 sine 247 sine 294 remix - fade 0.3 4 0.3
sox "$tmp/c1.wav" "$tmp/c2.wav" "$tmp/c3.wav" "$tmp/c4.wav" flow/hold-music.wav norm -12

echo "prompts written: $(find flow -name '*.wav' | wc -l) files, $(du -sh flow | cut -f1)"
