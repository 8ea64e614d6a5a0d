//! The languages a flow can speak, and where each language's prompts live.
//!
//! English is the base set: every prompt a flow names must exist in English (`<name>.wav` in
//! the prompt directories), and that is checked as an error at load time. Another language is
//! a layer over it: its prompts have the same names under a folder named by the language code
//! (`zh/phrases/welcome`, `zh/digits/7`, `zh/flow/sales-menu`). A prompt missing from the
//! layer plays in English (a load-time warning and, on a call, [`crate::Action::PromptFallback`]).
//! Numbers, dates and prices are different: they follow each language's grammar
//! ([`crate::say`]), so a flow that speaks a language and says values needs all of that
//! language's value prompts (an error otherwise).

use std::fmt;

use serde::Serialize;

use crate::flow::Prompt;

/// A language of the prompts and of the rules for saying numbers, dates and prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Language {
    /// English: the base prompt set (`config/prompts`, `config/ivr/prompts`).
    #[default]
    English,
    /// Mandarin Chinese (Putonghua): prompts under `zh/` in the same directories.
    Mandarin,
}

impl Language {
    /// Every language, base first.
    pub const ALL: [Language; 2] = [Language::English, Language::Mandarin];

    /// The code written in flow files and used as the prompt folder: `en`, `zh`.
    pub fn code(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Mandarin => "zh",
        }
    }

    /// A language by its code: `en` or `zh` as in flow files, or a language tag as a customer
    /// record may hold it (`en-US`, `zh-CN`, `zh_Hans`, `cmn`; any case). Cantonese
    /// (`yue`, `zh-HK`) is not Mandarin.
    pub fn parse(code: &str) -> Option<Language> {
        let tag = code.trim().to_ascii_lowercase().replace('_', "-");
        let mut parts = tag.split('-');
        match (parts.next()?, parts.next()) {
            ("en", _) => Some(Language::English),
            ("zh", Some("hk" | "mo" | "yue")) => None,
            ("zh" | "cmn", _) => Some(Language::Mandarin),
            _ => None,
        }
    }

    /// Whether this is the base set (no folder prefix).
    pub fn is_base(self) -> bool {
        self == Language::English
    }

    /// The prompt name that plays `prompt` in this language: the name itself in English,
    /// `<code>/<name>` otherwise.
    pub fn prompt(self, prompt: &Prompt) -> Prompt {
        if self.is_base() {
            prompt.clone()
        } else {
            Prompt::new(&format!("{}/{}", self.code(), prompt.name()))
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_prefix_prompts() {
        for l in Language::ALL {
            assert_eq!(Language::parse(l.code()), Some(l));
        }
        for tag in ["cmn", "zh-CN", "zh_Hans", "ZH", "zh-TW"] {
            assert_eq!(Language::parse(tag), Some(Language::Mandarin), "{tag}");
        }
        assert_eq!(Language::parse("en-GB"), Some(Language::English));
        for tag in ["fr", "yue", "zh-HK", ""] {
            assert_eq!(Language::parse(tag), None, "{tag}");
        }
        let p = Prompt::new("phrases/welcome");
        assert_eq!(Language::English.prompt(&p).name(), "phrases/welcome");
        assert_eq!(Language::Mandarin.prompt(&p).name(), "zh/phrases/welcome");
    }
}
