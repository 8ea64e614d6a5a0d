#!/usr/bin/env bash
# Regenerates Hotline's default prompt sets with espeak-ng and sox.
#   ./generate.sh       the English set (this folder)
#   ./generate.sh zh    the Mandarin set (zh/, same names where English has the same thing)
# Needs: espeak-ng (1.51 or later, with its Mandarin data: Debian's espeak-ng-data has it) and
# sox. Debian: apt-get install -y espeak-ng sox.
# Output: 8 kHz, 16-bit, mono WAV, leading/trailing silence trimmed, normalised to -3 dBFS,
# without dither so that a rerun gives the same bytes. File names are what crates/media/src/say.rs,
# crates/ivr/src/say/ (en.rs, zh.rs) and the IVR flows refer to.
set -euo pipefail
cd "$(dirname "$0")"
command -v espeak-ng >/dev/null || { echo "need espeak-ng (apt-get install -y espeak-ng)" >&2; exit 1; }
command -v sox >/dev/null || { echo "need sox (apt-get install -y sox)" >&2; exit 1; }
SET="${1:-en}"
case "$SET" in
  en) VOICE="${VOICE:-en-us}" ;;
  # Mandarin. espeak-ng 1.51's "cmn" voice reads Chinese characters through its English rules
  # (espeak-ng issues #1028, #1236); "cmn-latn-pinyin" is the same Mandarin voice and reads
  # them right. Check a voice with: espeak-ng -v cmn -x 你好 (English phonemes mean "(en)").
  zh) VOICE="${VOICE:-cmn-latn-pinyin}" ;;
  *) echo "usage: $0 [en|zh]" >&2; exit 2 ;;
esac
espeak-ng --voices | awk '{print $2}' | grep -qx "$VOICE" ||
  { echo "espeak-ng has no voice $VOICE (apt-get install -y espeak-ng-data)" >&2; exit 1; }
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

if [ "$SET" = zh ]; then
  # Names and grammar: crates/ivr/src/say/zh.rs. Numbers are built from these pieces
  # (一百零五 = digits/1 numbers/hundred digits/0 digits/5). The texts avoid characters
  # espeak-ng reads with the wrong tone (重听, 银行, 时间为, 应付): check a new text with
  # espeak-ng -v "$VOICE" -x '...'. Recorded files can replace any of these (same name and format).
  mkdir -p zh && cd zh
  zh=(零 一 二 三 四 五 六 七 八 九)
  for i in "${!zh[@]}"; do say "digits/$i" "${zh[$i]}"; done
  say digits/star "星号"
  say digits/pound "井号"
  say numbers/10 "十"
  for i in 1 2 3 4 5 6 7 8 9; do say "numbers/$((10 + i))" "十${zh[$i]}"; done
  for i in 2 3 4 5 6 7 8 9; do say "numbers/$((10 * i))" "${zh[$i]}十"; done
  say numbers/hundred "百"
  say numbers/thousand "千"
  say numbers/ten-thousand "万"
  say numbers/hundred-million "亿"
  say numbers/liang "两"
  say numbers/point "点"

  # 1..12 in characters, for the months.
  cn() { local n=$1
    if [ "$n" -lt 10 ]; then echo "${zh[$n]}"
    elif [ "$n" -eq 10 ]; then echo "十"
    elif [ "$n" -lt 20 ]; then echo "十${zh[$((n - 10))]}"
    elif [ $((n % 10)) -eq 0 ]; then echo "${zh[$((n / 10))]}十"
    else echo "${zh[$((n / 10))]}十${zh[$((n % 10))]}"; fi; }
  for m in $(seq 1 12); do say "$(printf 'months/%02d' "$m")" "$(cn "$m")月"; done
  say dates/day "日"
  days=(monday tuesday wednesday thursday friday saturday sunday)
  weekday=(星期一 星期二 星期三 星期四 星期五 星期六 星期日)
  for i in "${!days[@]}"; do say "days/${days[$i]}" "${weekday[$i]}"; done
  say time/oclock "点"
  say time/minute "分"
  say time/sharp "整"

  say currency/yuan "元"
  say currency/jiao "角"
  say currency/fen "分"
  say currency/dollar "美元"
  say currency/cent "美分"
  say currency/euro "欧元"
  say currency/euro-cent "欧分"

  say phrases/welcome "欢迎致电热线。"
  say phrases/please-hold "请稍候，您的来电将很快被接听。"
  say phrases/you-are-caller-number "您现在排在第"
  say phrases/in-line "位"
  say phrases/estimated-wait "您预计需要等待"
  say phrases/minute "分钟"
  say phrases/minutes "分钟"
  say phrases/press "请按"
  say phrases/main-menu "销售请按一，技术支持请按二，账单查询请按三，再听一遍请按星号键。"
  say phrases/sales "销售"
  say phrases/support "技术支持"
  say phrases/billing "账单查询"
  say phrases/invalid-option "对不起，您的选择无效。"
  say phrases/try-again "请重试。"
  say phrases/goodbye "感谢您的来电，再见。"
  say phrases/enter-card-number "请输入您的卡号，以井号键结束。"
  say phrases/enter-expiry "请输入卡片有效期，共四位数字。"
  say phrases/enter-cvv "请输入卡片背面的三位安全码。"
  say phrases/amount-due "您需要支付的金额是"
  say phrases/payment-approved "您的付款已成功。"
  say phrases/payment-declined "对不起，您的付款未成功。"
  say phrases/thank-you "谢谢。"
  say phrases/all-agents-busy "我们的客服人员正在为其他客户服务。"
  say phrases/call-recorded "为了保证服务质量，您的通话可能会被录音。"
  say phrases/one-moment "请稍等。"
  say phrases/transferring "正在为您转接，请稍候。"
  say phrases/closed "现在是非工作时间，请在工作时间再来电。"
  echo "zh prompts written: $(find . -name '*.wav' | wc -l) files, $(du -sh . | cut -f1)"
  exit 0
fi

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

echo "prompts written: $(find . -path ./zh -prune -o -name '*.wav' -print | wc -l) files"
