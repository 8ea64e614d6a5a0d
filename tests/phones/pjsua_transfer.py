#!/usr/bin/env python3
"""Three real SIP phones (PJSIP through pjsua2) transfer a call by REFER through the switch.

Phones 1001, 1002 and 1003 register with digest auth, each on its own UDP transport on
127.0.0.1. Then, in mode:

* ``blind``: 1001 calls 1002, 1002 answers, 1002 blind-transfers (``xfer``) to 1003, 1003
  answers. Expected: 1002 sees the transfer's final status 200 and its call ends; 1001's call
  stays confirmed; 1003's call is confirmed and hears 1001's tone.
* ``attended``: 1001 calls 1002, 1002 answers and puts 1001 on hold (``--no-hold`` skips it),
  1002 calls 1003, 1003 answers, 1002 transfers the first call with ``Replaces`` naming the
  second (``xferReplaces``). Expected: both of 1002's calls end; 1001's and 1003's stay
  confirmed, and 1003 now hears 1001's tone.
* ``refused``: 1001 calls 1002, 1002 answers; 1002's REFER to an unknown number (1999) gets
  404 and 1001's REFER (the caller's side may not transfer) gets 403; the call goes on, 1003
  never rings.

In the transfer modes 1001 plays a 1 kHz tone from the moment its call has media; after the
transfer, 1003's received RTP packet count must grow and its received signal level must be
loud (the other phones send silence, so only 1001's tone can make it loud). Finally 1001 hangs
up and 1003's call must end: the switch joined them.

``--transferor-hangs-up``: 1002 hangs up by itself as soon as the transfer reports 2xx (what
pjsua's sample app and many softphones do), so its BYE crosses the switch's.
``--expect-reinvite`` (attended): 1003 must receive a re-INVITE after the transfer (the switch
moves its leg onto the caller's media worker) and still hear 1001.

Every wait is bounded. One JSON line is printed per observed event, then a final line
``{"result": "pass"|"fail", ...}``; the exit code is 0 only on pass. PJSIP's own log (with the
SIP messages) goes to ``--pjlog``.
"""

import argparse
import json
import os
import sys
import time

try:
    import pjsua2 as pj
except ImportError as e:  # the test harness turns this into a clear failure
    print(json.dumps({"result": "fail", "failures": [f"pjsua2 not importable: {e}"]}))
    sys.exit(3)

EVENTS = []


def emit(**kv):
    kv.setdefault("t", round(time.monotonic() - START, 3))
    EVENTS.append(kv)
    print(json.dumps(kv), flush=True)


START = time.monotonic()


class Failed(Exception):
    pass


class Phone(pj.Account):
    """One registered extension with its own transport."""

    def __init__(self, ext):
        pj.Account.__init__(self)
        self.ext = ext
        self.reg_code = None
        self.calls = []  # every Call object, kept alive until the end
        self.incoming = []  # calls not answered yet

    def onRegState(self, prm):
        self.reg_code = prm.code
        emit(event="reg", phone=self.ext, code=prm.code, reason=prm.reason)

    def onIncomingCall(self, prm):
        c = PhoneCall(self, f"{self.ext}-in{len(self.calls)}", prm.callId)
        self.calls.append(c)
        self.incoming.append(c)
        info = c.getInfo()
        emit(event="incoming", phone=self.ext, call=c.name, remote=info.remoteUri)


class PhoneCall(pj.Call):
    def __init__(self, phone, name, call_id=pj.PJSUA_INVALID_ID):
        pj.Call.__init__(self, phone, call_id)
        self.phone = phone
        self.name = name
        self.state = None
        self.media_active = False
        self.xfer_final = None
        self.byes = []  # ("uas" | "uac", status): received or sent
        self.tone = None
        self.hangup_on_xfer = False
        self.tsx_log = []  # (method, "uas" | "uac", final status), in order

    def onCallState(self, prm):
        info = self.getInfo()
        self.state = info.state
        emit(
            event="call_state",
            phone=self.phone.ext,
            call=self.name,
            state=info.stateText,
            code=info.lastStatusCode,
            reason=info.lastReason,
        )

    def onCallMediaState(self, prm):
        info = self.getInfo()
        for i, m in enumerate(info.media):
            if m.type == pj.PJMEDIA_TYPE_AUDIO:
                active = m.status in (
                    pj.PJSUA_CALL_MEDIA_ACTIVE,
                    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD,
                )
                self.media_active = m.status == pj.PJSUA_CALL_MEDIA_ACTIVE
                emit(event="media", phone=self.phone.ext, call=self.name, status=int(m.status))
                if active:
                    aud = self.getAudioMedia(i)
                    # The received audio goes to the (null) speaker so the bridge reads it
                    # and measures its level.
                    aud.startTransmit(pj.Endpoint.instance().audDevManager().getPlaybackDevMedia())
                    if self.tone is not None:
                        self.tone.startTransmit(aud)

    def onCallTransferStatus(self, prm):
        emit(
            event="xfer_status",
            phone=self.phone.ext,
            call=self.name,
            code=prm.statusCode,
            reason=prm.reason,
            final=bool(prm.finalNotify),
        )
        if prm.finalNotify:
            self.xfer_final = prm.statusCode
        if self.hangup_on_xfer and prm.statusCode // 100 == 2 and self.isActive():
            # What pjsua's sample app and many PJSIP softphones do: hang up as soon as the
            # transfer succeeded; this BYE crosses the switch's own.
            self.hangup(pj.CallOpParam())
            emit(event="hangup", phone=self.phone.ext, call=self.name, why="transfer succeeded")

    def onCallTsxState(self, prm):
        try:
            ev = prm.e.body.tsxState
            tsx = ev.tsx
        except Exception:  # noqa: BLE001 - not every event carries a transaction
            return
        if tsx.method not in ("BYE", "REFER", "NOTIFY", "INVITE") or tsx.statusCode < 200:
            return
        # Once per transaction, when its final response is sent or received: non-INVITE and
        # failed INVITE transactions go through Completed; 2xx INVITE ones (and timeouts) go
        # straight to Terminated.
        done = pj.PJSIP_TSX_STATE_COMPLETED
        if not (
            tsx.state == done
            or (
                tsx.state == pj.PJSIP_TSX_STATE_TERMINATED
                and ev.prevState not in (done, pj.PJSIP_TSX_STATE_CONFIRMED)
            )
        ):
            return
        role = "uac" if tsx.role == pj.PJSIP_ROLE_UAC else "uas"
        emit(
            event="tsx",
            phone=self.phone.ext,
            call=self.name,
            method=tsx.method,
            role=role,
            code=tsx.statusCode,
        )
        self.tsx_log.append((tsx.method, role, tsx.statusCode))
        if tsx.method == "BYE":
            self.byes.append((role, tsx.statusCode))

    def confirmed(self):
        return self.state == pj.PJSIP_INV_STATE_CONFIRMED

    def disconnected(self):
        return self.state == pj.PJSIP_INV_STATE_DISCONNECTED

    def rx_packets(self):
        try:
            return self.getStreamStat(0).rtcp.rxStat.pkt
        except pj.Error:
            return 0

    def rx_level(self):
        """The level of what this phone hears (0-255). In PJSIP's bridge a call's port
        *transmits* what it receives from the network, so this is the port's tx level."""
        try:
            return self.getAudioMedia(-1).getTxLevel()
        except pj.Error:
            return 0


class Run:
    def __init__(self, args):
        self.args = args
        self.ep = pj.Endpoint()
        self.phones = {}
        self.failures = []
        self.checks = {}
        self.tone = None

    # ----- plumbing ---------------------------------------------------------------------

    def pump(self, ms=20):
        self.ep.libHandleEvents(ms)
        # Answer from here, not from inside the callback.
        for p in self.phones.values():
            while p.incoming:
                c = p.incoming.pop(0)
                op = pj.CallOpParam()
                op.statusCode = 180
                c.answer(op)
                op = pj.CallOpParam()
                op.statusCode = 200
                c.answer(op)
                emit(event="answer", phone=p.ext, call=c.name)

    def wait(self, what, pred, secs=None):
        deadline = time.monotonic() + (secs or self.args.step_timeout)
        while time.monotonic() < deadline:
            if pred():
                emit(event="ok", what=what)
                return
            self.pump()
        raise Failed(f"timed out waiting for: {what}")

    def settle(self, secs):
        end = time.monotonic() + secs
        while time.monotonic() < end:
            self.pump()

    def check(self, name, ok, detail=None):
        self.checks[name] = bool(ok)
        emit(event="check", name=name, ok=bool(ok), detail=detail)
        if not ok:
            self.failures.append(f"{name}: {detail}")

    def uri(self, ext):
        return f"sip:{ext}@{self.args.switch}"

    # ----- setup ------------------------------------------------------------------------

    def start(self):
        a = self.args
        # pjlib logs to stdout until libInit applies the log config: keep stdout JSON only.
        sys.stdout.flush()
        saved = os.dup(1)
        os.dup2(2, 1)
        try:
            self.ep.libCreate()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = False
        cfg.uaConfig.userAgent = "hotline-test-pjsua"
        cfg.logConfig.level = 5
        cfg.logConfig.consoleLevel = 0
        cfg.logConfig.msgLogging = 1
        if a.pjlog:
            cfg.logConfig.filename = a.pjlog
        cfg.medConfig.noVad = True
        cfg.medConfig.ecTailLen = 0
        self.ep.libInit(cfg)
        passwords = dict(p.split("=", 1) for p in a.password)
        for ext in ("1001", "1002", "1003"):
            tcfg = pj.TransportConfig()
            tcfg.port = 0
            tcfg.boundAddress = "127.0.0.1"
            tid = self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
            local = self.ep.transportGetInfo(tid).localName
            phone = Phone(ext)
            acfg = pj.AccountConfig()
            acfg.idUri = self.uri(ext)
            acfg.regConfig.registrarUri = f"sip:{a.switch}"
            acfg.regConfig.timeoutSec = 300
            acfg.sipConfig.transportId = tid
            acfg.sipConfig.authCreds.append(
                pj.AuthCredInfo("digest", "*", ext, 0, passwords[ext])
            )
            acfg.natConfig.sipStunUse = pj.PJSUA_STUN_USE_DISABLED
            acfg.natConfig.mediaStunUse = pj.PJSUA_STUN_USE_DISABLED
            acfg.natConfig.iceEnabled = False
            acfg.natConfig.contactRewriteUse = 0
            acfg.natConfig.viaRewriteUse = 0
            acfg.natConfig.sdpNatRewriteUse = 0
            acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
            # Port 0: each RTP socket on a port the kernel picks (RTCP next to it, PJSIP moves
            # on when that one is taken), so parallel tests and busy port ranges do not clash.
            acfg.mediaConfig.transportConfig.port = a.rtp_port
            acfg.mediaConfig.transportConfig.portRange = 1000 if a.rtp_port else 0
            phone.cfg = acfg
            self.phones[ext] = phone
            emit(event="transport", phone=ext, local=local)
        self.ep.libStart()
        self.ep.audDevManager().setNullDev()
        # G.711 first (what every switch speaks); keep the others as PJSIP ships them.
        for codec, prio in (("PCMU/8000/1", 255), ("PCMA/8000/1", 254)):
            try:
                self.ep.codecSetPriority(codec, prio)
            except pj.Error:
                pass
        self.tone = pj.ToneGenerator()
        self.tone.createToneGenerator()
        for p in self.phones.values():
            p.create(p.cfg)
        self.wait(
            "all phones registered",
            lambda: all(p.reg_code == 200 for p in self.phones.values()),
        )

    # ----- scenario pieces --------------------------------------------------------------

    def call(self, src, dst, name, tone=False):
        phone = self.phones[src]
        c = PhoneCall(phone, name)
        if tone:
            c.tone = self.tone
        phone.calls.append(c)
        c.makeCall(self.uri(dst), pj.CallOpParam(True))
        emit(event="dial", phone=src, call=name, to=dst)
        return c

    def answered_call(self, ext):
        """The newest incoming call of `ext`, once one exists."""
        self.wait(f"{ext} rings", lambda: any("-in" in c.name for c in self.phones[ext].calls))
        return [c for c in self.phones[ext].calls if "-in" in c.name][-1]

    def start_tone(self):
        tg = pj.ToneDesc()
        tg.freq1 = 1000
        tg.freq2 = 0
        tg.on_msec = 1000
        tg.off_msec = 0
        tg.volume = 0
        tones = pj.ToneDescVector()
        tones.append(tg)
        self.tone.play(tones, True)

    def connect(self, src, dst, name, tone=False):
        a = self.call(src, dst, name, tone)
        b = self.answered_call(dst)
        self.wait(
            f"{src} -> {dst} confirmed with media on both ends",
            lambda: a.confirmed() and b.confirmed() and a.media_active and b.media_active,
        )
        return a, b

    def media_check(self, c3, before_level):
        """1003 receives 1001's tone after the transfer."""
        p0 = c3.rx_packets()
        self.settle(self.args.media_secs)
        levels = []
        end = time.monotonic() + self.args.media_secs
        while time.monotonic() < end:
            self.pump()
            levels.append(c3.rx_level())
        p1 = c3.rx_packets()
        loud = max(levels) if levels else 0
        emit(event="media_after", phone="1003", rx_packets_before=p0, rx_packets_after=p1,
             rx_level_max=loud, rx_level_before=before_level)
        self.check("1003 receives RTP after the transfer", p1 > p0 + 10, f"{p0} -> {p1}")
        self.check(
            "1003 hears 1001's tone after the transfer",
            loud >= self.args.loud_level,
            f"max rx level {loud} (threshold {self.args.loud_level})",
        )

    def hangup_end(self, c1, c3):
        c1.hangup(pj.CallOpParam())
        emit(event="hangup", phone="1001", call=c1.name)
        self.wait("1001's call ended", c1.disconnected)
        self.wait("1003's call ended after 1001 hung up (they were joined)", c3.disconnected)
        self.check(
            "1003 got a BYE from the switch",
            ("uas", 200) in c3.byes,
            f"1003 BYEs: {c3.byes}",
        )

    # ----- modes ------------------------------------------------------------------------

    def blind(self):
        self.start_tone()
        c1, c2 = self.connect("1001", "1002", "1001-out", tone=True)
        c2.hangup_on_xfer = self.args.transferor_hangs_up
        c2.xfer(self.uri("1003"), pj.CallOpParam(True))
        emit(event="xfer", phone="1002", call=c2.name, to="1003", kind="blind")
        self.wait("1002 sees the transfer's final status", lambda: c2.xfer_final is not None)
        self.check("transfer final status is 200", c2.xfer_final == 200, c2.xfer_final)
        self.wait("1002's call ended", c2.disconnected)
        c3 = self.answered_call("1003")
        self.wait("1003's call confirmed with media", lambda: c3.confirmed() and c3.media_active)
        self.check("1001's call still confirmed", c1.confirmed(), c1.state)
        if not self.args.transferor_hangs_up:
            self.check(
                "1002 was hung up by the switch (BYE received, not sent)",
                ("uas", 200) in c2.byes and not any(r == "uac" for r, _ in c2.byes),
                f"1002 BYEs: {c2.byes}",
            )
        self.media_check(c3, None)
        self.check("1001's call still confirmed after media", c1.confirmed(), c1.state)
        self.hangup_end(c1, c3)

    def attended(self):
        self.start_tone()
        c1, c2a = self.connect("1001", "1002", "1001-out", tone=True)
        if self.args.hold:
            c2a.setHold(pj.CallOpParam(True))
            emit(event="hold", phone="1002", call=c2a.name)
            self.wait(
                "1002's hold re-INVITE answered",
                lambda: any(m == "INVITE" and r == "uac" for m, r, _ in c2a.tsx_log),
            )
            self.check(
                "the switch accepted the hold",
                ("INVITE", "uac", 200) in c2a.tsx_log and c2a.confirmed(),
                c2a.tsx_log,
            )
        c2b, c3 = self.connect("1002", "1003", "1002-out")
        self.settle(self.args.media_secs)
        before = max(c3.rx_level() for _ in range(3))
        emit(event="media_before", phone="1003", rx_level=before)
        invites_before = c3.tsx_log.count(("INVITE", "uas", 200))
        c2a.hangup_on_xfer = self.args.transferor_hangs_up
        c2a.xferReplaces(c2b, pj.CallOpParam(True))
        emit(event="xfer", phone="1002", call=c2a.name, replaces=c2b.name, kind="attended")
        self.wait("1002 sees the transfer's final status", lambda: c2a.xfer_final is not None)
        self.check("transfer final status is 200", c2a.xfer_final == 200, c2a.xfer_final)
        self.wait("1002's first call ended", c2a.disconnected)
        self.wait("1002's second call ended", c2b.disconnected)
        if self.args.transferor_hangs_up:
            self.check(
                "1002's second call was hung up by the switch",
                ("uas", 200) in c2b.byes,
                f"first {c2a.byes}, second {c2b.byes}",
            )
        else:
            self.check(
                "both of 1002's calls were hung up by the switch",
                ("uas", 200) in c2a.byes and ("uas", 200) in c2b.byes,
                f"first {c2a.byes}, second {c2b.byes}",
            )
        self.check("1001's call still confirmed", c1.confirmed(), c1.state)
        self.check("1003's call still confirmed", c3.confirmed(), c3.state)
        if self.args.expect_reinvite:
            self.wait(
                "1003 re-INVITEd onto the caller's media worker",
                lambda: c3.tsx_log.count(("INVITE", "uas", 200)) > invites_before,
            )
        self.check(
            "1003 heard silence before the transfer (1002 has no tone)",
            before < self.args.loud_level,
            f"rx level {before}",
        )
        self.media_check(c3, before)
        self.check("1001's call still confirmed after media", c1.confirmed(), c1.state)
        self.check("1003's call still confirmed after media", c3.confirmed(), c3.state)
        self.hangup_end(c1, c3)

    def refused(self):
        c1, c2 = self.connect("1001", "1002", "1001-out")
        # The called phone asks for a number nobody answers to.
        c2.xfer(self.uri("1999"), pj.CallOpParam(True))
        emit(event="xfer", phone="1002", call=c2.name, to="1999", kind="blind")
        self.wait("1002 sees the transfer refused", lambda: c2.xfer_final is not None)
        self.check("REFER to an unknown number gets 404", c2.xfer_final == 404, c2.xfer_final)
        # The caller's side may not transfer at all.
        c1.xfer(self.uri("1003"), pj.CallOpParam(True))
        emit(event="xfer", phone="1001", call=c1.name, to="1003", kind="blind")
        self.wait("1001 sees the transfer refused", lambda: c1.xfer_final is not None)
        self.check("REFER from the caller gets 403", c1.xfer_final == 403, c1.xfer_final)
        self.settle(self.args.media_secs)
        self.check("1001's call still confirmed", c1.confirmed(), c1.state)
        self.check("1002's call still confirmed", c2.confirmed(), c2.state)
        self.check("1003 never rang", not self.phones["1003"].calls, len(self.phones["1003"].calls))
        c1.hangup(pj.CallOpParam())
        emit(event="hangup", phone="1001", call=c1.name)
        self.wait("1002's call ended after 1001 hung up", c2.disconnected)

    # ----- teardown ---------------------------------------------------------------------

    def stop(self):
        try:
            self.ep.hangupAllCalls()
            self.settle(0.5)
            for p in self.phones.values():
                p.calls.clear()
                p.incoming.clear()
            if self.tone is not None:
                self.tone = None
            for p in self.phones.values():
                try:
                    p.setRegistration(False)
                except pj.Error:
                    pass
            self.settle(0.3)
            for p in self.phones.values():
                p.shutdown()
        finally:
            self.ep.libDestroy()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--switch", required=True, help="the switch's SIP address, host:port")
    ap.add_argument("--mode", required=True, choices=["blind", "attended", "refused"])
    ap.add_argument(
        "--password",
        action="append",
        default=[],
        help="EXT=PASSWORD, once per phone (1001, 1002, 1003)",
    )
    ap.add_argument("--no-hold", dest="hold", action="store_false",
                    help="attended: 1002 does not hold 1001 before calling 1003")
    ap.add_argument("--transferor-hangs-up", action="store_true",
                    help="1002 hangs up itself as soon as the transfer reports 2xx (as many "
                    "PJSIP softphones do), racing the switch's BYE")
    ap.add_argument("--expect-reinvite", action="store_true",
                    help="attended: the switch must re-INVITE 1003 (its leg moves to another "
                    "media worker)")
    ap.add_argument("--pjlog", help="PJSIP's log file (with the SIP messages)")
    ap.add_argument("--rtp-port", type=int, default=0,
                    help="first RTP port to try (default 0: ports the kernel picks)")
    ap.add_argument("--step-timeout", type=float, default=15.0, help="seconds per wait")
    ap.add_argument("--media-secs", type=float, default=1.0, help="seconds to measure media")
    ap.add_argument("--loud-level", type=int, default=20, help="rx level (0-255) of the tone")
    args = ap.parse_args()
    missing = {"1001", "1002", "1003"} - {p.split("=", 1)[0] for p in args.password}
    if missing:
        ap.error(f"--password missing for {sorted(missing)}")

    run = Run(args)
    crashed = None
    try:
        run.start()
        getattr(run, args.mode)()
    except Failed as e:
        crashed = str(e)
    except pj.Error as e:
        crashed = f"pjsua2 error: {e.info()}"
    finally:
        try:
            run.stop()
        except Exception as e:  # noqa: BLE001 - report, never hang in teardown
            emit(event="teardown_error", error=str(e))
    failures = run.failures + ([crashed] if crashed else [])
    result = {
        "result": "fail" if failures else "pass",
        "mode": args.mode,
        "failures": failures,
        "checks": run.checks,
    }
    print(json.dumps(result), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
