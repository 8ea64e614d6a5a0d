//! A recording fake of the media engine ([`MediaControl`]): sessions with distinct loopback
//! addresses, bridges, mixers with their hear matrices, recordings and prompts, all kept in
//! ordered maps so tests can assert the topology and the world can finish prompts in
//! simulated time.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hotline_calls::MediaControl;
use hotline_media::{
    HearMatrix, MediaError, MixerId, PlayOptions, RecordingId, RemoteParams, SessionId,
    SessionInfo, SessionOptions, SessionStats, ToneSpec,
};

/// One call the core made on the media engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaOp {
    Create(SessionId),
    SetRemote(SessionId, SocketAddr),
    Destroy(SessionId),
    Play(SessionId, Vec<String>),
    Music(SessionId),
    Tone(SessionId),
    StopPlayback(SessionId),
    SendDtmf(SessionId, String),
    SuppressDtmf(SessionId, bool),
    Bridge(SessionId, SessionId),
    Unbridge(SessionId),
    CreateMixer(MixerId, Vec<SessionId>, Vec<Vec<bool>>),
    SetMatrix(MixerId, Vec<Vec<bool>>),
    DestroyMixer(MixerId),
    StartRecording(RecordingId, String, Vec<SessionId>),
    PauseRecording(RecordingId),
    ResumeRecording(RecordingId),
    StopRecording(RecordingId),
}

/// What a session is playing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playing {
    /// Prompts; `generation` tells a later play apart when the world finishes it.
    Prompts {
        generation: u64,
        barge_in: bool,
    },
    Music,
    Tone,
}

/// A live mixer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mixer {
    pub parties: Vec<SessionId>,
    /// `matrix[listener][speaker]`.
    pub matrix: Vec<Vec<bool>>,
}

/// A live recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    pub name: String,
    pub legs: Vec<SessionId>,
    pub paused: bool,
}

#[derive(Debug, Default)]
pub struct MediaState {
    next: u64,
    /// Live sessions and their local RTP address.
    pub sessions: BTreeMap<SessionId, SocketAddr>,
    /// Session -> the session it is relayed with (both directions are entered).
    pub bridges: BTreeMap<SessionId, SessionId>,
    pub mixers: BTreeMap<MixerId, Mixer>,
    pub recordings: BTreeMap<RecordingId, Recording>,
    pub playing: BTreeMap<SessionId, Playing>,
    /// DTMF toward this session is suppressed.
    pub suppressed: BTreeMap<SessionId, bool>,
    /// Every call, in order.
    pub log: Vec<MediaOp>,
    /// Calls naming a session, mixer or recording that does not exist (a use after free).
    pub misuse: Vec<String>,
    /// Prompt plays not yet seen by the world (it finishes them in simulated time).
    pub new_plays: Vec<(SessionId, u64, usize)>,
    play_generation: u64,
    /// Sessions whose far end is known (`set_remote`): they carry media, so their figures are
    /// [`canned_stats`]; the others (a phone that only rang) report nothing received.
    pub with_remote: std::collections::BTreeSet<SessionId>,
    /// Every `session_stats` read, in order (kept out of `log`, which tests compare whole).
    pub stats_reads: Vec<SessionId>,
}

/// The quality figures the fake reports for a session with media: distinct per session, so a
/// test can tell which leg's figures went where.
pub fn canned_stats(id: SessionId) -> SessionStats {
    let expected = 1_000 + id.0 * 10;
    let lost = id.0 % 7;
    let loss_percent = lost as f32 * 100.0 / expected as f32;
    let jitter_ms = 1.5 + id.0 as f32 / 4.0;
    let delay = hotline_media::rtcp::one_way_delay_ms(None, jitter_ms);
    let (r_factor, mos) = hotline_media::rtcp::e_model(loss_percent, delay);
    SessionStats {
        packets_sent: expected,
        packets_received: expected - lost,
        packets_expected: expected,
        packets_lost: lost as i64,
        loss_percent,
        jitter_ms,
        one_way_delay_ms: delay,
        r_factor,
        mos,
        ..Default::default()
    }
}

/// The fake engine; shared between the core (as `Arc<dyn MediaControl>`) and the world.
#[derive(Debug, Default)]
pub struct FakeMedia {
    pub state: Mutex<MediaState>,
}

pub fn matrix_rows(m: &HearMatrix) -> Vec<Vec<bool>> {
    (0..m.len())
        .map(|l| (0..m.len()).map(|s| m.hears(l, s)).collect())
        .collect()
}

impl MediaState {
    fn check(&mut self, what: &str, id: SessionId) -> Result<(), MediaError> {
        if self.sessions.contains_key(&id) {
            Ok(())
        } else {
            self.misuse.push(format!("{what} on unknown session {id}"));
            Err(MediaError::Malformed("no such session"))
        }
    }

    fn unbridge(&mut self, id: SessionId) {
        if let Some(peer) = self.bridges.remove(&id) {
            self.bridges.remove(&peer);
        }
    }

    /// The session whose local RTP port is `port`.
    pub fn session_at_port(&self, port: u16) -> Option<SessionId> {
        self.sessions
            .iter()
            .find(|(_, a)| a.port() == port)
            .map(|(id, _)| *id)
    }
}

impl FakeMedia {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, MediaState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl MediaControl for FakeMedia {
    fn create_session(&self, _opts: SessionOptions) -> Result<SessionInfo, MediaError> {
        let mut s = self.lock();
        s.next += 1;
        let id = SessionId(s.next);
        let port = 20_000 + 2 * (s.next % 5_000) as u16;
        let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), port);
        s.sessions.insert(id, local);
        s.log.push(MediaOp::Create(id));
        Ok(SessionInfo { id, local })
    }
    fn set_remote(&self, id: SessionId, remote: RemoteParams) -> Result<(), MediaError> {
        let mut s = self.lock();
        s.check("set_remote", id)?;
        s.with_remote.insert(id);
        s.log.push(MediaOp::SetRemote(id, remote.addr));
        Ok(())
    }
    fn destroy(&self, id: SessionId) -> Result<(), MediaError> {
        let mut s = self.lock();
        s.check("destroy", id)?;
        s.sessions.remove(&id);
        s.unbridge(id);
        s.playing.remove(&id);
        s.suppressed.remove(&id);
        s.with_remote.remove(&id);
        s.log.push(MediaOp::Destroy(id));
        Ok(())
    }
    fn session_stats(&self, id: SessionId) -> Option<SessionStats> {
        let mut s = self.lock();
        s.check("session_stats", id).ok()?;
        s.stats_reads.push(id);
        Some(if s.with_remote.contains(&id) {
            canned_stats(id)
        } else {
            SessionStats::default()
        })
    }
    fn play(
        &self,
        id: SessionId,
        prompts: &[PathBuf],
        opts: PlayOptions,
    ) -> Result<(), MediaError> {
        let mut s = self.lock();
        s.check("play", id)?;
        s.play_generation += 1;
        let generation = s.play_generation;
        s.playing.insert(
            id,
            Playing::Prompts {
                generation,
                barge_in: opts.barge_in,
            },
        );
        let names: Vec<String> = prompts
            .iter()
            .map(|p| {
                p.file_stem()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect();
        s.new_plays.push((id, generation, names.len()));
        s.log.push(MediaOp::Play(id, names));
        Ok(())
    }
    fn music_on_hold(&self, id: SessionId, _file: &Path) -> Result<(), MediaError> {
        let mut s = self.lock();
        s.check("music_on_hold", id)?;
        s.unbridge(id);
        s.playing.insert(id, Playing::Music);
        s.log.push(MediaOp::Music(id));
        Ok(())
    }
    fn play_tone(&self, id: SessionId, _tone: ToneSpec) -> Result<(), MediaError> {
        let mut s = self.lock();
        s.check("play_tone", id)?;
        s.playing.insert(id, Playing::Tone);
        s.log.push(MediaOp::Tone(id));
        Ok(())
    }
    fn stop_playback(&self, id: SessionId) -> Result<(), MediaError> {
        let mut s = self.lock();
        s.check("stop_playback", id)?;
        s.playing.remove(&id);
        s.log.push(MediaOp::StopPlayback(id));
        Ok(())
    }
    fn send_dtmf(&self, id: SessionId, digits: &str) -> Result<(), MediaError> {
        let mut s = self.lock();
        s.check("send_dtmf", id)?;
        s.log.push(MediaOp::SendDtmf(id, digits.to_string()));
        Ok(())
    }
    fn suppress_dtmf(&self, toward: SessionId, on: bool) -> Result<(), MediaError> {
        let mut s = self.lock();
        s.check("suppress_dtmf", toward)?;
        s.suppressed.insert(toward, on);
        s.log.push(MediaOp::SuppressDtmf(toward, on));
        Ok(())
    }
    fn bridge(&self, a: SessionId, b: SessionId) -> Result<(), MediaError> {
        let mut s = self.lock();
        s.check("bridge", a)?;
        s.check("bridge", b)?;
        s.unbridge(a);
        s.unbridge(b);
        s.bridges.insert(a, b);
        s.bridges.insert(b, a);
        s.log.push(MediaOp::Bridge(a, b));
        Ok(())
    }
    fn unbridge(&self, id: SessionId) -> Result<(), MediaError> {
        let mut s = self.lock();
        s.check("unbridge", id)?;
        s.unbridge(id);
        s.log.push(MediaOp::Unbridge(id));
        Ok(())
    }
    fn create_mixer(
        &self,
        parties: &[SessionId],
        matrix: HearMatrix,
    ) -> Result<MixerId, MediaError> {
        let mut s = self.lock();
        for p in parties {
            s.check("create_mixer", *p)?;
        }
        for p in parties {
            s.unbridge(*p);
        }
        s.next += 1;
        let id = MixerId(s.next);
        let rows = matrix_rows(&matrix);
        s.mixers.insert(
            id,
            Mixer {
                parties: parties.to_vec(),
                matrix: rows.clone(),
            },
        );
        s.log.push(MediaOp::CreateMixer(id, parties.to_vec(), rows));
        Ok(id)
    }
    fn set_matrix(&self, mixer: MixerId, matrix: HearMatrix) -> Result<(), MediaError> {
        let mut s = self.lock();
        let rows = matrix_rows(&matrix);
        match s.mixers.get_mut(&mixer) {
            Some(m) => m.matrix = rows.clone(),
            None => {
                s.misuse
                    .push(format!("set_matrix on unknown mixer {mixer}"));
                return Err(MediaError::Malformed("no such mixer"));
            }
        }
        s.log.push(MediaOp::SetMatrix(mixer, rows));
        Ok(())
    }
    fn destroy_mixer(&self, mixer: MixerId) -> Result<(), MediaError> {
        let mut s = self.lock();
        if s.mixers.remove(&mixer).is_none() {
            s.misuse
                .push(format!("destroy_mixer on unknown mixer {mixer}"));
            return Err(MediaError::Malformed("no such mixer"));
        }
        s.log.push(MediaOp::DestroyMixer(mixer));
        Ok(())
    }
    fn start_recording(&self, name: &str, legs: &[SessionId]) -> Result<RecordingId, MediaError> {
        let mut s = self.lock();
        for l in legs {
            s.check("start_recording", *l)?;
        }
        s.next += 1;
        let id = RecordingId(s.next);
        s.recordings.insert(
            id,
            Recording {
                name: name.to_string(),
                legs: legs.to_vec(),
                paused: false,
            },
        );
        s.log
            .push(MediaOp::StartRecording(id, name.to_string(), legs.to_vec()));
        Ok(id)
    }
    fn pause_recording(&self, id: RecordingId) -> Result<(), MediaError> {
        self.set_paused(id, true)
    }
    fn resume_recording(&self, id: RecordingId) -> Result<(), MediaError> {
        self.set_paused(id, false)
    }
    fn stop_recording(&self, id: RecordingId) -> Result<(), MediaError> {
        let mut s = self.lock();
        if s.recordings.remove(&id).is_none() {
            s.misuse
                .push(format!("stop_recording on unknown recording {id}"));
            return Err(MediaError::Malformed("no such recording"));
        }
        s.log.push(MediaOp::StopRecording(id));
        Ok(())
    }
}

impl FakeMedia {
    fn set_paused(&self, id: RecordingId, paused: bool) -> Result<(), MediaError> {
        let mut s = self.lock();
        match s.recordings.get_mut(&id) {
            Some(r) => r.paused = paused,
            None => {
                s.misuse
                    .push(format!("pause/resume on unknown recording {id}"));
                return Err(MediaError::Malformed("no such recording"));
            }
        }
        s.log.push(if paused {
            MediaOp::PauseRecording(id)
        } else {
            MediaOp::ResumeRecording(id)
        });
        Ok(())
    }
}
