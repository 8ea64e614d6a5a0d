//! Each agent's desktop preferences (today: the language), kept in a small JSON file.
//!
//! Agents share desks, so the language belongs to the agent, not the machine: it is stored per
//! agent id and applied when that agent logs in. The language last chosen on this desktop is
//! used for the login screen. The file is `$XDG_CONFIG_HOME/hotline/desktop.json` (or
//! `~/.config/...`); it holds agent ids and language tags only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hotline_cti::AgentId;
use serde::{Deserialize, Serialize};

use crate::DeskError;
use crate::i18n::Lang;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct PrefsFile {
    #[serde(default)]
    last: Option<Lang>,
    #[serde(default)]
    agents: BTreeMap<String, Lang>,
}

/// The preferences, in memory and (unless [`Preferences::in_memory`]) in a file.
#[derive(Debug, Clone, Default)]
pub struct Preferences {
    path: Option<PathBuf>,
    data: PrefsFile,
}

impl Preferences {
    /// Preferences that are not saved (tests, previews).
    pub fn in_memory() -> Self {
        Preferences::default()
    }

    /// Reads `path` (a missing or unreadable file gives empty preferences, with a log line).
    pub fn open(path: impl AsRef<Path>) -> Self {
        let path = path.as_ref().to_path_buf();
        let data = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "preferences unreadable; starting afresh");
                PrefsFile::default()
            }),
            Err(_) => PrefsFile::default(),
        };
        Preferences {
            path: Some(path),
            data,
        }
    }

    /// The default file: `$XDG_CONFIG_HOME/hotline/desktop.json` or `~/.config/hotline/...`.
    pub fn default_path() -> PathBuf {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .unwrap_or_else(|| PathBuf::from("."));
        base.join("hotline").join("desktop.json")
    }

    /// The language last chosen on this desktop.
    pub fn last(&self) -> Option<Lang> {
        self.data.last
    }

    /// The language `agent` chose.
    pub fn language_of(&self, agent: &AgentId) -> Option<Lang> {
        self.data.agents.get(agent.as_str()).copied()
    }

    /// Records `lang` for `agent` (or only as the last used, before login) and saves.
    pub fn set(&mut self, agent: Option<&AgentId>, lang: Lang) -> Result<(), DeskError> {
        self.data.last = Some(lang);
        if let Some(agent) = agent {
            self.data.agents.insert(agent.as_str().to_owned(), lang);
        }
        let Some(path) = &self.path else {
            return Ok(());
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| DeskError::io(dir, e))?;
        }
        let bytes =
            serde_json::to_vec_pretty(&self.data).map_err(|e| DeskError::Encode(e.to_string()))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, bytes).map_err(|e| DeskError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| DeskError::io(path, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_are_kept_per_agent_across_runs() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("sub/desktop.json");
        let mut p = Preferences::open(&path);
        assert_eq!(p.last(), None);
        p.set(Some(&AgentId::new("alice".to_owned())), Lang::ZhCn)
            .expect("saved");
        p.set(None, Lang::En).expect("saved");
        let again = Preferences::open(&path);
        assert_eq!(
            again.language_of(&AgentId::new("alice".to_owned())),
            Some(Lang::ZhCn)
        );
        assert_eq!(again.language_of(&AgentId::new("bob".to_owned())), None);
        assert_eq!(again.last(), Some(Lang::En));
    }
}
