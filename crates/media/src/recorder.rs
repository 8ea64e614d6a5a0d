//! The recording writer thread. Media threads never touch the disk: every 20 ms they send one
//! interleaved frame per recording here, in a buffer taken from a shared pool that this thread
//! refills, so steady-state recording allocates nothing.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use crate::MediaError;
use crate::engine::{FailReason, MediaEvent, RecordingId};

/// Messages to the writer.
#[derive(Debug)]
pub(crate) enum RecMsg {
    Open {
        id: RecordingId,
        path: PathBuf,
        channels: u16,
    },
    /// Interleaved samples (one frame per channel).
    Data {
        id: RecordingId,
        samples: Vec<i16>,
    },
    Close {
        id: RecordingId,
    },
    Shutdown,
}

type Writer = hound::WavWriter<BufWriter<File>>;

/// The writer's command sender, the shared buffer pool and the thread.
pub(crate) type Spawned = (Sender<RecMsg>, Receiver<Vec<i16>>, JoinHandle<()>);

/// Spawns the writer.
pub(crate) fn spawn(events: Sender<MediaEvent>) -> Result<Spawned, MediaError> {
    let (tx, rx) = crossbeam_channel::unbounded::<RecMsg>();
    let (pool_tx, pool_rx) = crossbeam_channel::unbounded::<Vec<i16>>();
    let join = std::thread::Builder::new()
        .name("media-recorder".into())
        .spawn(move || run(rx, pool_tx, events))
        .map_err(|e| MediaError::io("spawning recorder thread", e))?;
    Ok((tx, pool_rx, join))
}

fn run(rx: Receiver<RecMsg>, pool: Sender<Vec<i16>>, events: Sender<MediaEvent>) {
    let mut open: HashMap<RecordingId, (Writer, PathBuf)> = HashMap::new();
    let fail = |e: String| {
        let _ = events.send(MediaEvent::Failed(FailReason::Recording(e)));
    };
    for msg in rx.iter() {
        match msg {
            RecMsg::Open { id, path, channels } => {
                let spec = hound::WavSpec {
                    channels,
                    sample_rate: 8000,
                    bits_per_sample: 16,
                    sample_format: hound::SampleFormat::Int,
                };
                match hound::WavWriter::create(&path, spec) {
                    Ok(w) => {
                        open.insert(id, (w, path));
                    }
                    Err(e) => fail(format!("creating {}: {e}", path.display())),
                }
            }
            RecMsg::Data { id, mut samples } => {
                if let Some((w, path)) = open.get_mut(&id) {
                    let mut err = None;
                    {
                        let mut i16w = w.get_i16_writer(samples.len() as u32);
                        for s in &samples {
                            i16w.write_sample(*s);
                        }
                        if let Err(e) = i16w.flush() {
                            err = Some(e);
                        }
                    }
                    if let Some(e) = err {
                        fail(format!("writing {}: {e}", path.display()));
                        open.remove(&id);
                    }
                }
                samples.clear();
                let _ = pool.send(samples);
            }
            RecMsg::Close { id } => {
                if let Some((w, path)) = open.remove(&id) {
                    match w.finalize() {
                        Ok(()) => {
                            let _ = events.send(MediaEvent::RecordingStopped {
                                recording: id,
                                path,
                            });
                        }
                        Err(e) => fail(format!("closing {}: {e}", path.display())),
                    }
                }
            }
            RecMsg::Shutdown => break,
        }
    }
    for (id, (w, path)) in open {
        if w.finalize().is_ok() {
            let _ = events.send(MediaEvent::RecordingStopped {
                recording: id,
                path,
            });
        }
    }
}
