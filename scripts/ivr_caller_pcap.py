#!/usr/bin/env python3
"""Writes the RTP a benchmark caller sends, as a pcap that sipp plays with play_pcap_audio:
PCMU at 50 packets per second for SECONDS (quiet noise, so the switch's in-band DTMF detector
works on real samples), plus RFC 4733 key presses (payload type 101) at the given times, each
with its own RTP timestamp: 100 ms of key-down packets every 20 ms, then three end packets.

usage: ivr_caller_pcap.py OUT SECONDS [MS:KEY ...]     e.g. out.pcap 40 12500:1 15500:2
"""
import random
import struct
import sys

EPOCH = 1_780_000_000
SRC, DST = (127 << 24) | 1, (127 << 24) | 1
CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}


def checksum(h):
    s = sum(struct.unpack("!%dH" % (len(h) // 2), h))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def frame(rtp):
    udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     struct.pack("!I", SRC), struct.pack("!I", DST))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return b"\x00" * 12 + b"\x08\x00" + ip + udp


def main():
    out, seconds = sys.argv[1], float(sys.argv[2])
    keys = sorted((int(a.split(":")[0]), a.split(":")[1]) for a in sys.argv[3:])
    rnd = random.Random(7)
    packets = []  # (ms, rtp bytes)
    seq = 0
    ssrc = 0x1234ABCD
    for n in range(int(seconds * 50)):
        ms = n * 20
        # mu-law near silence: 0xFF is zero; 0xF0..0xFF are tiny magnitudes.
        payload = bytes(rnd.randrange(0xF0, 0x100) for _ in range(160))
        packets.append((ms, (0x80, 0, n * 160, payload)))
    for at, key in keys:
        ts = (at // 20) * 160
        for i in range(5):
            dur = (i + 1) * 160
            pt = 101 | (0x80 if i == 0 else 0)  # marker on the event's first packet
            packets.append((at + i * 20 + 1, (0x80, pt, ts, struct.pack("!BBH", CODES[key], 10, dur))))
        for i in range(3):
            packets.append((at + 100 + i * 20 + 1, (0x80, 101, ts, struct.pack("!BBH", CODES[key], 0x80 | 10, 800))))
    packets.sort(key=lambda p: p[0])
    body = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for ms, (b0, pt, ts, payload) in packets:
        rtp = struct.pack("!BBHII", b0, pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload
        seq += 1
        f = frame(rtp)
        body += struct.pack("<IIII", EPOCH + ms // 1000, (ms % 1000) * 1000, len(f), len(f)) + f
    open(out, "wb").write(body)


if __name__ == "__main__":
    main()
