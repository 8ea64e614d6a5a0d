//! The desktop's message catalogue: every user-facing text in English and Simplified Chinese.
//!
//! The texts are [Fluent](https://projectfluent.org) files under `agent-desktop/locales/`
//! (`en/desktop.ftl`, `zh-CN/desktop.ftl`), compiled into the binary and parsed once. Code
//! never holds a user-facing literal: it names a message id and its arguments, with [`t!`]
//! (a text now) or [`msg!`] (a [`Msg`] kept in the state and drawn later, in whatever language
//! the agent has chosen by then). A message missing from a locale shows as its id in brackets
//! (`[id]`), which the catalogue tests forbid.
//!
//! Numbers and durations are formatted by the code (`1:35`); the catalogue carries the words
//! around them, including units (`22 d 3 h` / `22天3小时`).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use serde::{Deserialize, Serialize};

/// The languages the desktop ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Lang {
    /// English.
    #[default]
    #[serde(rename = "en")]
    En,
    /// Simplified Chinese.
    #[serde(rename = "zh-CN")]
    ZhCn,
}

impl Lang {
    /// Every shipped language, in the order of the language switch.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::ZhCn];

    /// The BCP 47 tag (`en`, `zh-CN`).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// The language's own name, as the switch shows it (the same in every UI language).
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::ZhCn => "中文",
        }
    }

    /// The language's name in ASCII, for a screen without a font for its script.
    pub fn ascii_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::ZhCn => "Chinese (zh-CN)",
        }
    }

    /// Parses a tag: `en`, `en-US`, `zh`, `zh-CN`, `zh_CN.UTF-8` (case-insensitive).
    pub fn parse(tag: &str) -> Option<Lang> {
        let t = tag.trim().to_ascii_lowercase().replace('_', "-");
        if t == "en" || t.starts_with("en-") || t.starts_with("en.") {
            Some(Lang::En)
        } else if t == "zh" || t.starts_with("zh-") || t.starts_with("zh.") {
            Some(Lang::ZhCn)
        } else {
            None
        }
    }

    fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("../locales/en/desktop.ftl"),
            Lang::ZhCn => include_str!("../locales/zh-CN/desktop.ftl"),
        }
    }
}

/// An argument of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    /// Text (a name, a number as typed, an id).
    Text(String),
    /// A count (for plurals).
    Count(i64),
    /// Another message of the catalogue (an action's name), translated with this one.
    Key(&'static str),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::Text(s.to_owned())
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Self {
        Arg::Text(s)
    }
}
impl From<&String> for Arg {
    fn from(s: &String) -> Self {
        Arg::Text(s.clone())
    }
}
macro_rules! count_arg {
    ($($t:ty),*) => {$(
        impl From<$t> for Arg {
            fn from(n: $t) -> Self {
                Arg::Count(i64::try_from(n).unwrap_or(i64::MAX))
            }
        }
    )*};
}
count_arg!(u8, u16, u32, u64, usize, i32, i64);

/// A message to show later: its id and arguments, rendered in the agent's language when drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    /// The message id in the catalogue.
    pub key: &'static str,
    /// Named arguments.
    pub args: Vec<(&'static str, Arg)>,
}

impl Msg {
    /// A message without arguments.
    pub fn new(key: &'static str) -> Self {
        Msg {
            key,
            args: Vec::new(),
        }
    }

    /// Adds an argument.
    #[must_use]
    pub fn arg(mut self, name: &'static str, value: impl Into<Arg>) -> Self {
        self.args.push((name, value.into()));
        self
    }

    /// The text in `lang`.
    pub fn render(&self, lang: Lang) -> String {
        format(lang, self.key, &self.args)
    }
}

/// A text now: `t!(lang, "id")` or `t!(lang, "id", name = value, ...)`.
#[macro_export]
macro_rules! t {
    ($lang:expr, $key:literal) => {
        $crate::i18n::format($lang, $key, &[])
    };
    ($lang:expr, $key:literal, $($name:ident = $val:expr),+ $(,)?) => {
        $crate::i18n::format(
            $lang,
            $key,
            &[$((stringify!($name), $crate::i18n::Arg::from($val))),+],
        )
    };
}

/// A message for later: `msg!("id")` or `msg!("id", name = value, ...)`.
#[macro_export]
macro_rules! msg {
    ($key:literal) => {
        $crate::i18n::Msg::new($key)
    };
    ($key:literal, $($name:ident = $val:expr),+ $(,)?) => {
        $crate::i18n::Msg {
            key: $key,
            args: vec![$((stringify!($name), $crate::i18n::Arg::from($val))),+],
        }
    };
}

struct Catalog {
    en: FluentBundle<FluentResource>,
    zh: FluentBundle<FluentResource>,
}

fn bundle(lang: Lang) -> FluentBundle<FluentResource> {
    let id: unic_langid::LanguageIdentifier = lang.tag().parse().unwrap_or_default();
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // No Unicode isolation marks around arguments: egui would draw them as boxes.
    bundle.set_use_isolating(false);
    let resource = match FluentResource::try_new(lang.source().to_owned()) {
        Ok(r) => r,
        Err((r, errors)) => {
            tracing::error!(lang = lang.tag(), ?errors, "message catalogue has errors");
            r
        }
    };
    if let Err(errors) = bundle.add_resource(resource) {
        tracing::error!(
            lang = lang.tag(),
            ?errors,
            "message catalogue has duplicates"
        );
    }
    bundle
}

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| Catalog {
        en: bundle(Lang::En),
        zh: bundle(Lang::ZhCn),
    })
}

fn bundle_of(lang: Lang) -> &'static FluentBundle<FluentResource> {
    let c = catalog();
    match lang {
        Lang::En => &c.en,
        Lang::ZhCn => &c.zh,
    }
}

/// Formats message `key` in `lang` with `args`. A missing message gives `[key]`.
pub fn format(lang: Lang, key: &str, args: &[(&str, Arg)]) -> String {
    let bundle = bundle_of(lang);
    let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
        return format!("[{key}]");
    };
    let nested: Vec<Option<String>> = args
        .iter()
        .map(|(_, v)| match v {
            Arg::Key(k) => Some(format(lang, k, &[])),
            _ => None,
        })
        .collect();
    let mut fargs = FluentArgs::new();
    for ((name, value), nested) in args.iter().zip(&nested) {
        let v: FluentValue<'_> = match (value, nested) {
            (_, Some(text)) => FluentValue::String(Cow::Borrowed(text.as_str())),
            (Arg::Text(s), None) => FluentValue::String(Cow::Borrowed(s.as_str())),
            (Arg::Count(n), None) => FluentValue::from(*n),
            (Arg::Key(_), None) => FluentValue::None,
        };
        fargs.set(*name, v);
    }
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, (!args.is_empty()).then_some(&fargs), &mut errors);
    if !errors.is_empty() {
        tracing::warn!(
            key,
            lang = lang.tag(),
            ?errors,
            "message formatted with errors"
        );
    }
    text.into_owned()
}

/// The message ids of a locale's catalogue (for the completeness tests).
pub fn keys(lang: Lang) -> BTreeSet<String> {
    let resource = match FluentResource::try_new(lang.source().to_owned()) {
        Ok(r) | Err((r, _)) => r,
    };
    resource
        .entries()
        .filter_map(|e| match e {
            fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_owned()),
            _ => None,
        })
        .collect()
}

/// Parse errors in a locale's catalogue (empty when it is valid Fluent).
pub fn parse_errors(lang: Lang) -> Vec<String> {
    match FluentResource::try_new(lang.source().to_owned()) {
        Ok(_) => Vec::new(),
        Err((_, errors)) => errors.iter().map(|e| format!("{e:?}")).collect(),
    }
}

/// The variables (`$name`) message `key` uses in `lang`, for checking both locales agree.
pub fn variables(lang: Lang, key: &str) -> BTreeSet<String> {
    use fluent_syntax::ast::{Expression, InlineExpression, Pattern, PatternElement};
    fn walk_inline(e: &InlineExpression<&str>, out: &mut BTreeSet<String>) {
        if let InlineExpression::VariableReference { id } = e {
            out.insert(id.name.to_owned());
        }
    }
    fn walk(p: &Pattern<&str>, out: &mut BTreeSet<String>) {
        for el in &p.elements {
            if let PatternElement::Placeable { expression } = el {
                match expression {
                    Expression::Inline(e) => walk_inline(e, out),
                    Expression::Select { selector, variants } => {
                        walk_inline(selector, out);
                        for v in variants {
                            walk(&v.value, out);
                        }
                    }
                }
            }
        }
    }
    let resource = match FluentResource::try_new(lang.source().to_owned()) {
        Ok(r) | Err((r, _)) => r,
    };
    let mut out = BTreeSet::new();
    for e in resource.entries() {
        if let fluent_syntax::ast::Entry::Message(m) = e
            && m.id.name == key
            && let Some(v) = &m.value
        {
            walk(v, &mut out);
        }
    }
    out
}

/// A span for "ago"/"in" texts: `m:ss` or `h:mm:ss` under a day, then days and hours.
pub fn span(lang: Lang, secs: u64) -> String {
    if secs < 86_400 {
        crate::clock::format_duration(secs)
    } else {
        t!(
            lang,
            "span-days",
            days = secs / 86_400,
            hours = (secs % 86_400) / 3600
        )
    }
}

/// A ratio as a percentage with one decimal (`81.2 %` in English, `81.2%` in Chinese), or a
/// dash.
pub fn percent(lang: Lang, v: Option<f64>) -> String {
    v.map_or_else(
        || "-".into(),
        |v| t!(lang, "percent", value = format!("{:.1}", v * 100.0)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogues_parse_and_have_the_same_messages_and_variables() {
        for lang in Lang::ALL {
            assert!(
                parse_errors(lang).is_empty(),
                "{lang:?}: {:?}",
                parse_errors(lang)
            );
        }
        let en = keys(Lang::En);
        let zh = keys(Lang::ZhCn);
        assert!(en.len() > 100, "a real catalogue: {}", en.len());
        let only_en: Vec<_> = en.difference(&zh).collect();
        let only_zh: Vec<_> = zh.difference(&en).collect();
        assert!(only_en.is_empty(), "untranslated: {only_en:?}");
        assert!(only_zh.is_empty(), "missing in English: {only_zh:?}");
        for k in &en {
            assert_eq!(
                variables(Lang::En, k),
                variables(Lang::ZhCn, k),
                "variables of {k} differ"
            );
        }
    }

    #[test]
    fn arguments_are_filled_without_isolation_marks() {
        let s = t!(Lang::En, "missed-call", who = "Ada");
        assert!(s.contains("Ada"), "{s}");
        assert!(!s.contains('\u{2068}'));
        let z = t!(Lang::ZhCn, "missed-call", who = "张伟");
        assert!(z.contains("张伟"), "{z}");
        assert_eq!(
            format(Lang::En, "no-such-message", &[]),
            "[no-such-message]"
        );
    }

    #[test]
    fn tags_parse() {
        assert_eq!(Lang::parse("zh_CN.UTF-8"), Some(Lang::ZhCn));
        assert_eq!(Lang::parse("en-US"), Some(Lang::En));
        assert_eq!(Lang::parse("fr"), None);
    }
}
