//! The narrow seam between call control and the media engine.
//!
//! Everything else call control needs from the outside goes out as an [`crate::Output`] and
//! comes back as an input, but an SDP answer or offer must carry an RTP port the moment it is
//! written, so sessions are created (and, for symmetry, played to, bridged, mixed, recorded and
//! destroyed) through this trait, synchronously. The switch passes its
//! [`hotline_media::MediaEngine`] (which only queues commands to its worker threads: no call
//! blocks on the network); tests pass a recording fake. `docs/decisions.md` has the reasoning.

use std::path::{Path, PathBuf};

use hotline_media::{
    HearMatrix, MediaEngine, MediaError, MixerId, PlayOptions, RecordingId, RemoteParams,
    SessionId, SessionInfo, SessionOptions, SessionStats, ToneSpec,
};

/// What call control asks of the media engine (the subset of [`MediaEngine`] it uses).
pub trait MediaControl: Send + Sync {
    /// Binds an RTP/RTCP port pair (see [`MediaEngine::create_session`]).
    fn create_session(&self, opts: SessionOptions) -> Result<SessionInfo, MediaError>;
    fn set_remote(&self, id: SessionId, remote: RemoteParams) -> Result<(), MediaError>;
    fn destroy(&self, id: SessionId) -> Result<(), MediaError>;
    /// The session's quality figures now (see [`MediaEngine::session_stats`]): read just before
    /// [`MediaControl::destroy`] for the call record. `None` for an unknown session.
    fn session_stats(&self, id: SessionId) -> Option<SessionStats>;
    /// Plays prompt files in order.
    fn play(&self, id: SessionId, prompts: &[PathBuf], opts: PlayOptions)
    -> Result<(), MediaError>;
    /// Loops a file until stopped.
    fn music_on_hold(&self, id: SessionId, file: &Path) -> Result<(), MediaError>;
    fn play_tone(&self, id: SessionId, tone: ToneSpec) -> Result<(), MediaError>;
    fn stop_playback(&self, id: SessionId) -> Result<(), MediaError>;
    fn send_dtmf(&self, id: SessionId, digits: &str) -> Result<(), MediaError>;
    fn suppress_dtmf(&self, toward: SessionId, on: bool) -> Result<(), MediaError>;
    fn bridge(&self, a: SessionId, b: SessionId) -> Result<(), MediaError>;
    fn unbridge(&self, id: SessionId) -> Result<(), MediaError>;
    fn create_mixer(
        &self,
        parties: &[SessionId],
        matrix: HearMatrix,
    ) -> Result<MixerId, MediaError>;
    fn set_matrix(&self, mixer: MixerId, matrix: HearMatrix) -> Result<(), MediaError>;
    fn destroy_mixer(&self, mixer: MixerId) -> Result<(), MediaError>;
    /// Records `legs` (one channel each) to `<recordings_dir>/<name>.wav`.
    fn start_recording(&self, name: &str, legs: &[SessionId]) -> Result<RecordingId, MediaError>;
    fn pause_recording(&self, id: RecordingId) -> Result<(), MediaError>;
    fn resume_recording(&self, id: RecordingId) -> Result<(), MediaError>;
    fn stop_recording(&self, id: RecordingId) -> Result<(), MediaError>;
}

impl MediaControl for MediaEngine {
    fn create_session(&self, opts: SessionOptions) -> Result<SessionInfo, MediaError> {
        MediaEngine::create_session(self, opts)
    }
    fn set_remote(&self, id: SessionId, remote: RemoteParams) -> Result<(), MediaError> {
        MediaEngine::set_remote(self, id, remote)
    }
    fn destroy(&self, id: SessionId) -> Result<(), MediaError> {
        MediaEngine::destroy(self, id)
    }
    fn session_stats(&self, id: SessionId) -> Option<SessionStats> {
        MediaEngine::session_stats(self, id)
    }
    fn play(
        &self,
        id: SessionId,
        prompts: &[PathBuf],
        opts: PlayOptions,
    ) -> Result<(), MediaError> {
        MediaEngine::play(self, id, prompts, opts)
    }
    fn music_on_hold(&self, id: SessionId, file: &Path) -> Result<(), MediaError> {
        MediaEngine::music_on_hold(self, id, file)
    }
    fn play_tone(&self, id: SessionId, tone: ToneSpec) -> Result<(), MediaError> {
        MediaEngine::play_tone(self, id, tone)
    }
    fn stop_playback(&self, id: SessionId) -> Result<(), MediaError> {
        MediaEngine::stop_playback(self, id)
    }
    fn send_dtmf(&self, id: SessionId, digits: &str) -> Result<(), MediaError> {
        MediaEngine::send_dtmf(self, id, digits)
    }
    fn suppress_dtmf(&self, toward: SessionId, on: bool) -> Result<(), MediaError> {
        MediaEngine::suppress_dtmf(self, toward, on)
    }
    fn bridge(&self, a: SessionId, b: SessionId) -> Result<(), MediaError> {
        MediaEngine::bridge(self, a, b)
    }
    fn unbridge(&self, id: SessionId) -> Result<(), MediaError> {
        MediaEngine::unbridge(self, id)
    }
    fn create_mixer(
        &self,
        parties: &[SessionId],
        matrix: HearMatrix,
    ) -> Result<MixerId, MediaError> {
        MediaEngine::create_mixer(self, parties, matrix)
    }
    fn set_matrix(&self, mixer: MixerId, matrix: HearMatrix) -> Result<(), MediaError> {
        MediaEngine::set_matrix(self, mixer, matrix)
    }
    fn destroy_mixer(&self, mixer: MixerId) -> Result<(), MediaError> {
        MediaEngine::destroy_mixer(self, mixer)
    }
    fn start_recording(&self, name: &str, legs: &[SessionId]) -> Result<RecordingId, MediaError> {
        MediaEngine::start_recording(self, name, legs)
    }
    fn pause_recording(&self, id: RecordingId) -> Result<(), MediaError> {
        MediaEngine::pause_recording(self, id)
    }
    fn resume_recording(&self, id: RecordingId) -> Result<(), MediaError> {
        MediaEngine::resume_recording(self, id)
    }
    fn stop_recording(&self, id: RecordingId) -> Result<(), MediaError> {
        MediaEngine::stop_recording(self, id)
    }
}
