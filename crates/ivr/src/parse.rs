//! Flow files: TOML with spans, so every problem names file, line and column.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::digits::Digit;
use crate::error::{Error, FlowError, Problem};
use crate::flow::*;
use crate::language::Language;
use crate::say;
use crate::time::{BusinessHours, CivilDate, Weekday, parse_range, parse_utc_offset};

/// Prompt names used when a node does not name its own. They must exist in the prompts
/// directory when the node type is used.
pub mod default_prompts {
    /// Pay: ask for the card number.
    pub const CARD: &str = "phrases/enter-card-number";
    /// Pay: ask for the expiry date (MMYY).
    pub const EXPIRY: &str = "phrases/enter-expiry";
    /// Pay: ask for the security code.
    pub const CVV: &str = "phrases/enter-cvv";
    /// Pay and collect: the entry was not valid.
    pub const INVALID_ENTRY: &str = "flow/invalid-entry";
    /// Pay: approved.
    pub const APPROVED: &str = "phrases/payment-approved";
    /// Pay: declined.
    pub const DECLINED: &str = "phrases/payment-declined";
    /// Pay: offer another card.
    pub const RETRY: &str = "flow/retry-card";
    /// Booking: nothing available.
    pub const NO_AVAILABILITY: &str = "flow/no-availability";
    /// Booking: the chosen item was taken meanwhile.
    pub const ITEM_UNAVAILABLE: &str = "flow/item-unavailable";
}

/// A node's name, the span of its name, its table and the table's span.
type NodeTable<'t, 'i> = (Arc<str>, Range<usize>, &'t DeTable<'i>, Range<usize>);

struct Parser<'s> {
    file: &'s Path,
    src: &'s str,
    catalog: &'s dyn PromptCatalog,
    errors: Vec<FlowError>,
    ids: HashMap<String, NodeId>,
    /// Every prompt the flow plays (not music), with its field and span, for the check of
    /// the flow's other languages once they are all known.
    refs: Vec<(String, &'static str, Range<usize>)>,
    /// Languages set nodes switch to.
    switched_to: Vec<Language>,
}

impl Parser<'_> {
    fn err(&mut self, span: Range<usize>, problem: Problem) {
        let (line, column) = line_col(self.src, span.start);
        self.errors.push(FlowError {
            file: self.file.to_path_buf(),
            line,
            column,
            problem,
        });
    }

    fn bad(&mut self, span: Range<usize>, field: &str, reason: impl Into<String>) {
        self.err(
            span,
            Problem::BadField {
                field: field.to_string(),
                reason: reason.into(),
            },
        );
    }

    /// Checks a prompt the flow plays in the caller's language (`field` names it in
    /// warnings about other languages).
    fn check_prompt(&mut self, name: &str, span: Range<usize>, field: &'static str) -> Prompt {
        self.refs.push((name.to_string(), field, span.clone()));
        self.check_file(name, span)
    }

    /// Checks that a prompt (or music) exists in the base set.
    fn check_file(&mut self, name: &str, span: Range<usize>) -> Prompt {
        if name.is_empty() || name.contains("..") || name.starts_with('/') {
            self.bad(
                span.clone(),
                "prompt",
                format!("'{name}' is not a prompt name"),
            );
        } else if !self.catalog.contains(name) {
            let expected = self.catalog.expected_path(name);
            self.err(
                span,
                Problem::MissingPrompt {
                    prompt: name.to_string(),
                    expected,
                },
            );
        }
        Prompt::new(name)
    }
}

/// 1-based line and column of a byte offset.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = src.get(..offset).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The fields of one table, remembering which were read so leftovers can be reported.
struct Fields<'t, 'i> {
    table: &'t DeTable<'i>,
    span: Range<usize>,
    what: &'static str,
    used: HashSet<&'t str>,
}

impl<'t, 'i> Fields<'t, 'i> {
    fn new(table: &'t DeTable<'i>, span: Range<usize>, what: &'static str) -> Self {
        Fields {
            table,
            span,
            what,
            used: HashSet::new(),
        }
    }

    fn get(&mut self, key: &str) -> Option<&'t Spanned<DeValue<'i>>> {
        let (k, v) = self.table.get_key_value(key)?;
        self.used.insert(k.get_ref().as_ref());
        Some(v)
    }

    fn missing(&self, p: &mut Parser<'_>, key: &str) {
        p.err(self.span.clone(), Problem::MissingField(key.to_string()));
    }

    fn opt_str(&mut self, p: &mut Parser<'_>, key: &str) -> Option<(String, Range<usize>)> {
        let v = self.get(key)?;
        match v.get_ref().as_str() {
            Some(s) => Some((s.to_string(), v.span())),
            None => {
                p.bad(
                    v.span(),
                    key,
                    format!("expected a string, found {}", v.get_ref().type_str()),
                );
                None
            }
        }
    }

    fn str(&mut self, p: &mut Parser<'_>, key: &str) -> String {
        match self.opt_str(p, key) {
            Some((s, _)) => s,
            None => {
                if self.table.get(key).is_none() {
                    self.missing(p, key);
                }
                String::new()
            }
        }
    }

    fn str_or(&mut self, p: &mut Parser<'_>, key: &str, default: &str) -> String {
        self.opt_str(p, key)
            .map_or_else(|| default.to_string(), |s| s.0)
    }

    fn opt_uint(&mut self, p: &mut Parser<'_>, key: &str, range: Range<u64>) -> Option<u64> {
        let v = self.get(key)?;
        let parsed = v
            .get_ref()
            .as_integer()
            .and_then(|i| u64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok());
        match parsed {
            Some(n) if range.contains(&n) => Some(n),
            Some(n) => {
                p.bad(
                    v.span(),
                    key,
                    format!("{n} is outside {}..={}", range.start, range.end - 1),
                );
                None
            }
            None => {
                p.bad(
                    v.span(),
                    key,
                    format!(
                        "expected a non-negative integer, found {}",
                        v.get_ref().type_str()
                    ),
                );
                None
            }
        }
    }

    fn uint(&mut self, p: &mut Parser<'_>, key: &str, default: u64, range: Range<u64>) -> u64 {
        self.opt_uint(p, key, range).unwrap_or(default)
    }

    fn ms(&mut self, p: &mut Parser<'_>, key: &str, default_ms: u64) -> Duration {
        Duration::from_millis(self.uint(p, key, default_ms, 1..3_600_001))
    }

    fn secs(&mut self, p: &mut Parser<'_>, key: &str, default: u64) -> Duration {
        Duration::from_secs(self.uint(p, key, default, 1..86_401))
    }

    fn boolean(&mut self, p: &mut Parser<'_>, key: &str, default: bool) -> bool {
        let Some(v) = self.get(key) else {
            return default;
        };
        match v.get_ref().as_bool() {
            Some(b) => b,
            None => {
                p.bad(
                    v.span(),
                    key,
                    format!("expected true or false, found {}", v.get_ref().type_str()),
                );
                default
            }
        }
    }

    fn str_list(&mut self, p: &mut Parser<'_>, key: &str) -> Option<Vec<(String, Range<usize>)>> {
        let v = self.get(key)?;
        let Some(arr) = v.get_ref().as_array() else {
            p.bad(
                v.span(),
                key,
                format!(
                    "expected an array of strings, found {}",
                    v.get_ref().type_str()
                ),
            );
            return None;
        };
        let mut out = Vec::new();
        for item in arr.iter() {
            match item.get_ref().as_str() {
                Some(s) => out.push((s.to_string(), item.span())),
                None => p.bad(
                    item.span(),
                    key,
                    format!("expected a string, found {}", item.get_ref().type_str()),
                ),
            }
        }
        Some(out)
    }

    /// A list of prompts; a single string is accepted too. Defaults are checked as well,
    /// reported at the node header.
    fn prompts(&mut self, p: &mut Parser<'_>, key: &'static str, default: &[&str]) -> Vec<Prompt> {
        if let Some(v) = self.table.get(key)
            && let Some(s) = v.get_ref().as_str()
        {
            self.get(key);
            return vec![p.check_prompt(s, v.span(), key)];
        }
        match self.str_list(p, key) {
            Some(list) => list
                .into_iter()
                .map(|(s, span)| p.check_prompt(&s, span, key))
                .collect(),
            None => default
                .iter()
                .map(|s| p.check_prompt(s, self.span.clone(), key))
                .collect(),
        }
    }

    fn req_prompts(&mut self, p: &mut Parser<'_>, key: &'static str) -> Vec<Prompt> {
        if self.table.get(key).is_none() {
            self.missing(p, key);
        }
        self.prompts(p, key, &[])
    }

    fn opt_node(&mut self, p: &mut Parser<'_>, key: &str) -> Option<NodeId> {
        let (name, span) = self.opt_str(p, key)?;
        match p.ids.get(&name) {
            Some(id) => Some(*id),
            None => {
                p.err(
                    span,
                    Problem::UnknownNode {
                        node: name,
                        field: key.to_string(),
                    },
                );
                Some(NodeId(0))
            }
        }
    }

    fn node(&mut self, p: &mut Parser<'_>, key: &str) -> NodeId {
        match self.opt_node(p, key) {
            Some(id) => id,
            None => {
                if self.table.get(key).is_none() {
                    self.missing(p, key);
                }
                NodeId(0)
            }
        }
    }

    /// An optional `language = "zh"`.
    fn language(&mut self, p: &mut Parser<'_>) -> Option<Language> {
        let (code, span) = self.opt_str(p, "language")?;
        let l = Language::parse(&code);
        if l.is_none() {
            let known: Vec<&str> = Language::ALL.iter().map(|l| l.code()).collect();
            p.bad(
                span,
                "language",
                format!("'{code}' is not one of {}", known.join(", ")),
            );
        }
        l
    }

    fn opt_digit(&mut self, p: &mut Parser<'_>, key: &str) -> Option<Digit> {
        let (s, span) = self.opt_str(p, key)?;
        let mut chars = s.chars();
        match (chars.next().and_then(Digit::from_char), chars.next()) {
            (Some(d), None) => Some(d),
            _ => {
                p.bad(
                    span,
                    key,
                    format!("'{s}' is not one DTMF key (0-9, *, #, A-D)"),
                );
                None
            }
        }
    }

    fn gather(
        &mut self,
        p: &mut Parser<'_>,
        min: u64,
        max: u64,
        terminator: Option<Digit>,
    ) -> GatherSpec {
        let min_len = self.uint(p, "min_length", min, 1..33) as usize;
        let max_len = self.uint(p, "max_length", max, 1..33) as usize;
        if min_len > max_len {
            p.bad(
                self.span.clone(),
                "min_length",
                format!("min_length {min_len} is above max_length {max_len}"),
            );
        }
        let terminator = match self.table.get("terminator") {
            Some(v) if v.get_ref().as_str() == Some("") => {
                self.get("terminator");
                None
            }
            Some(_) => self.opt_digit(p, "terminator"),
            None => terminator,
        };
        GatherSpec {
            min_len,
            max_len: max_len.max(min_len),
            terminator,
            first_timeout: self.ms(p, "timeout_ms", 5_000),
            inter_digit_timeout: self.ms(p, "inter_digit_timeout_ms", 3_000),
            barge_in: self.boolean(p, "barge_in", true),
        }
    }

    fn retry(&mut self, p: &mut Parser<'_>, fail_default: Option<NodeId>) -> Retry {
        let retries = self.uint(p, "retries", 2, 0..11) as u32;
        let invalid_prompts = self.prompts(p, "invalid_prompts", &[]);
        let timeout_prompts = self.prompts(p, "timeout_prompts", &[]);
        let on_fail = match (self.opt_node(p, "on_fail"), fail_default) {
            (Some(id), _) | (None, Some(id)) => id,
            (None, None) => {
                self.missing(p, "on_fail");
                NodeId(0)
            }
        };
        Retry {
            retries,
            invalid_prompts,
            timeout_prompts,
            on_fail,
        }
    }

    fn finish(self, p: &mut Parser<'_>) {
        let mut leftovers: Vec<_> = self
            .table
            .iter()
            .filter(|(k, _)| !self.used.contains(k.get_ref().as_ref()))
            .map(|(k, _)| (k.span(), k.get_ref().to_string()))
            .collect();
        leftovers.sort_by_key(|(s, _)| s.start);
        for (span, field) in leftovers {
            p.err(
                span,
                Problem::UnknownField {
                    field,
                    node_type: self.what.to_string(),
                },
            );
        }
    }
}

impl Flow {
    /// Parses and validates one flow file. `file` is only used in error messages; prompt
    /// names are checked against `prompts`. Every problem found is returned, each with file,
    /// line and column.
    pub fn parse(file: &Path, text: &str, prompts: &dyn PromptCatalog) -> Result<Flow, Error> {
        let mut p = Parser {
            file,
            src: text,
            catalog: prompts,
            errors: Vec::new(),
            ids: HashMap::new(),
            refs: Vec::new(),
            switched_to: Vec::new(),
        };
        let root = match DeTable::parse(text) {
            Ok(t) => t,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let problem = duplicate_node(text, &e, span.clone())
                    .unwrap_or_else(|| Problem::Syntax(e.message().to_string()));
                p.err(span, problem);
                return Err(Error::Flow(p.errors));
            }
        };
        let root_table = root.get_ref();
        let mut top = Fields::new(root_table, 0..0, "top-level");

        // [flow]
        let mut flow_name = file
            .file_stem()
            .map_or_else(|| "flow".to_string(), |s| s.to_string_lossy().into_owned());
        let mut start: Option<(String, Range<usize>)> = None;
        let mut flow_span = 0..0;
        let mut language = Language::English;
        match top.get("flow") {
            Some(v) => match v.get_ref().as_table() {
                Some(t) => {
                    flow_span = v.span();
                    let mut f = Fields::new(t, v.span(), "[flow]");
                    if let Some((n, _)) = f.opt_str(&mut p, "name") {
                        flow_name = n;
                    }
                    start = f.opt_str(&mut p, "start");
                    if start.is_none() && t.get("start").is_none() {
                        f.missing(&mut p, "start");
                    }
                    if let Some(l) = f.language(&mut p) {
                        language = l;
                    }
                    f.get("description");
                    f.finish(&mut p);
                }
                None => p.bad(v.span(), "flow", "expected a table"),
            },
            None => p.err(0..0, Problem::MissingField("[flow]".to_string())),
        }

        // [nodes.*]: assign ids first so references can be resolved in one pass.
        let mut node_tables: Vec<NodeTable<'_, '_>> = Vec::new();
        match top.get("nodes") {
            Some(v) => match v.get_ref().as_table() {
                Some(t) => {
                    for (k, nv) in t.iter() {
                        match nv.get_ref().as_table() {
                            Some(nt) => node_tables.push((
                                Arc::from(k.get_ref().as_ref()),
                                k.span(),
                                nt,
                                nv.span(),
                            )),
                            None => p.bad(
                                k.span(),
                                k.get_ref(),
                                "a node must be a table ([nodes.NAME])",
                            ),
                        }
                    }
                }
                None => p.bad(v.span(), "nodes", "expected a table of nodes"),
            },
            None => p.err(0..0, Problem::MissingField("[nodes]".to_string())),
        }
        top.finish(&mut p);
        node_tables.sort_by_key(|n| n.1.start);
        for (i, (name, ..)) in node_tables.iter().enumerate() {
            p.ids.insert(name.to_string(), NodeId(i as u32));
        }

        let start_id = match &start {
            Some((s, span)) => match p.ids.get(s) {
                Some(id) => *id,
                None => {
                    p.err(
                        span.clone(),
                        Problem::UnknownNode {
                            node: s.clone(),
                            field: "start".to_string(),
                        },
                    );
                    NodeId(0)
                }
            },
            None => NodeId(0),
        };
        if node_tables.is_empty() && start.is_some() {
            p.err(
                flow_span.clone(),
                Problem::MissingField("[nodes]".to_string()),
            );
        }

        let mut nodes = Vec::with_capacity(node_tables.len());
        let mut number_prompts_needed = false;
        for (name, key_span, table, span) in &node_tables {
            let kind = parse_node(&mut p, table, span.clone());
            if let Some(kind) = kind {
                number_prompts_needed |= kind.says_numbers();
                nodes.push(Node {
                    name: name.clone(),
                    line: line_col(text, key_span.start).0,
                    kind,
                });
            }
        }
        if number_prompts_needed {
            for prompt in say::required_prompts(Language::English) {
                if !p.catalog.contains(prompt) {
                    let expected = p.catalog.expected_path(prompt);
                    p.err(
                        flow_span.clone(),
                        Problem::MissingPrompt {
                            prompt: format!("{prompt} (needed to say numbers and dates)"),
                            expected,
                        },
                    );
                }
            }
        }
        let mut languages = vec![language];
        for l in std::mem::take(&mut p.switched_to) {
            if !languages.contains(&l) {
                languages.push(l);
            }
        }
        let mut warnings = Vec::new();
        let layers: Vec<Layer> = Language::ALL
            .into_iter()
            .filter(|l| !l.is_base())
            .map(|l| {
                layer(
                    &mut p,
                    l,
                    languages.contains(&l),
                    number_prompts_needed,
                    flow_span.clone(),
                    &mut warnings,
                )
            })
            .collect();

        if nodes.len() == node_tables.len() && !nodes.is_empty() && p.errors.is_empty() {
            // Reachability from the start node.
            let mut seen = vec![false; nodes.len()];
            let mut todo = VecDeque::from([start_id]);
            while let Some(id) = todo.pop_front() {
                if std::mem::replace(&mut seen[id.index()], true) {
                    continue;
                }
                todo.extend(nodes[id.index()].kind.successors());
            }
            for (i, reached) in seen.iter().enumerate() {
                if !reached {
                    let span = node_tables[i].1.clone();
                    p.err(span, Problem::Unreachable(nodes[i].name.to_string()));
                }
            }
        }

        if !p.errors.is_empty() {
            p.errors.sort_by_key(|e| (e.line, e.column));
            return Err(Error::Flow(p.errors));
        }
        warnings.sort_by_key(|e: &FlowError| (e.line, e.column));
        let by_name = p.ids;
        Ok(Flow {
            name: flow_name,
            file: file.to_path_buf(),
            start: start_id,
            nodes,
            by_name,
            language,
            languages,
            layers,
            warnings,
        })
    }
}

/// The flow's prompts in `language` (not the base set). When the flow speaks it (`used`),
/// each prompt missing in it is a warning at the place that names it (the English one
/// plays), and each missing value prompt is an error: a number cannot be said half in one
/// language and half in another.
fn layer(
    p: &mut Parser<'_>,
    language: Language,
    used: bool,
    says_values: bool,
    flow_span: Range<usize>,
    warnings: &mut Vec<FlowError>,
) -> Layer {
    let mut prompts = HashMap::new();
    for (name, field, span) in std::mem::take(&mut p.refs) {
        let local = language.prompt(&Prompt::new(&name));
        if p.catalog.contains(local.name()) {
            prompts.insert(Arc::from(name.as_str()), local);
        } else if used {
            let (line, column) = line_col(p.src, span.start);
            warnings.push(FlowError {
                file: p.file.to_path_buf(),
                line,
                column,
                problem: Problem::MissingTranslation {
                    language,
                    expected: p.catalog.expected_path(local.name()),
                    prompt: name.clone(),
                    field: field.to_string(),
                },
            });
        }
        // Kept for the next language.
        p.refs.push((name, field, span));
    }
    let mut values = true;
    if says_values {
        for name in say::required_prompts(language) {
            let local = language.prompt(&Prompt::new(name));
            if p.catalog.contains(local.name()) {
                prompts.insert(Arc::from(*name), local);
            } else {
                values = false;
                if used {
                    let expected = p.catalog.expected_path(local.name());
                    p.err(
                        flow_span.clone(),
                        Problem::MissingPrompt {
                            prompt: format!(
                                "{} (needed to say numbers and dates in {language})",
                                local.name()
                            ),
                            expected,
                        },
                    );
                }
            }
        }
    }
    Layer {
        language,
        prompts,
        values,
    }
}

/// TOML itself rejects a second `[nodes.x]`; name that problem for what it is.
fn duplicate_node(text: &str, e: &toml::de::Error, span: Range<usize>) -> Option<Problem> {
    if !e.message().contains("duplicate key") {
        return None;
    }
    let line_start = text.get(..span.start)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(line_start..)?.lines().next()?.trim();
    if line.starts_with("[nodes.") {
        let name = text.get(span)?.trim_matches(['"', '\'']).to_string();
        Some(Problem::DuplicateNode(name))
    } else {
        None
    }
}

fn parse_node(p: &mut Parser<'_>, table: &DeTable<'_>, span: Range<usize>) -> Option<NodeKind> {
    let mut f = Fields::new(table, span.clone(), "node");
    let Some((ty, ty_span)) = f.opt_str(p, "type") else {
        if table.get("type").is_none() {
            f.missing(p, "type");
        }
        return None;
    };
    let what: &'static str = match ty.as_str() {
        "play" => "play",
        "menu" => "menu",
        "collect" => "collect",
        "identify" => "identify",
        "condition" => "condition",
        "set" => "set",
        "queue" => "queue",
        "transfer" => "transfer",
        "voicemail" => "voicemail",
        "booking" => "booking",
        "pay" => "pay",
        "hangup" => "hangup",
        "return" => "return",
        _ => {
            p.bad(
                ty_span,
                "type",
                format!(
                    "unknown node type '{ty}' (expected play, menu, collect, identify, condition, set, \
                     queue, transfer, voicemail, booking, pay, hangup or return)"
                ),
            );
            return None;
        }
    };
    f.what = what;
    f.get("description");
    let kind = match what {
        "play" => NodeKind::Play {
            prompts: f.req_prompts(p, "prompts"),
            next: f.node(p, "next"),
        },
        "menu" => {
            let prompts = f.req_prompts(p, "prompts");
            let mut branches = Vec::new();
            match f.get("branches") {
                Some(v) => match v.get_ref().as_table() {
                    Some(t) => {
                        let mut entries: Vec<_> = t.iter().collect();
                        entries.sort_by_key(|(k, _)| k.span().start);
                        for (k, target) in entries {
                            let key = k.get_ref().as_ref();
                            let mut chars = key.chars();
                            let digit =
                                match (chars.next().and_then(Digit::from_char), chars.next()) {
                                    (Some(d), None) => Some(d),
                                    _ => {
                                        p.bad(
                                            k.span(),
                                            "branches",
                                            format!("'{key}' is not one DTMF key"),
                                        );
                                        None
                                    }
                                };
                            let id = match target.get_ref().as_str() {
                                Some(name) => match p.ids.get(name) {
                                    Some(id) => Some(*id),
                                    None => {
                                        p.err(
                                            target.span(),
                                            Problem::UnknownNode {
                                                node: name.to_string(),
                                                field: format!("branches.{key}"),
                                            },
                                        );
                                        None
                                    }
                                },
                                None => {
                                    p.bad(target.span(), "branches", "a branch must name a node");
                                    None
                                }
                            };
                            if let (Some(d), Some(id)) = (digit, id) {
                                branches.push((d, id));
                            }
                        }
                        if t.is_empty() {
                            p.bad(v.span(), "branches", "a menu needs at least one branch");
                        }
                    }
                    None => p.bad(v.span(), "branches", "expected a table of digit = \"node\""),
                },
                None => f.missing(p, "branches"),
            }
            NodeKind::Menu {
                prompts,
                branches,
                gather: f.gather(p, 1, 1, None),
                retry: f.retry(p, None),
            }
        }
        "collect" => {
            let prompts = f.req_prompts(p, "prompts");
            let variable = f.str(p, "variable");
            let validation = match f.opt_str(p, "validation") {
                None => Validation::Digits,
                Some((v, vspan)) => match v.as_str() {
                    "digits" => Validation::Digits,
                    "luhn" => Validation::Luhn,
                    "expiry" => Validation::Expiry,
                    "any" => Validation::Any,
                    _ => {
                        p.bad(
                            vspan,
                            "validation",
                            format!("'{v}' is not one of digits, luhn, expiry, any"),
                        );
                        Validation::Digits
                    }
                },
            };
            let (min, max) = match validation {
                Validation::Expiry => (4, 4),
                Validation::Luhn => (12, 19),
                _ => (1, 16),
            };
            let gather = f.gather(p, min, max, Some(Digit::HASH));
            let sensitive = f.boolean(
                p,
                "sensitive",
                matches!(validation, Validation::Luhn | Validation::Expiry),
            );
            NodeKind::Collect(CollectSpec {
                prompts,
                variable,
                gather,
                validation,
                sensitive,
                retry: f.retry(p, None),
                next: f.node(p, "next"),
            })
        }
        "identify" => {
            let by = match f.opt_str(p, "by") {
                Some((s, sp)) => match s.as_str() {
                    "caller_number" => IdentifyBy::CallerNumber,
                    "account" => IdentifyBy::Account,
                    "booking_reference" => IdentifyBy::BookingReference,
                    _ => {
                        p.bad(
                            sp,
                            "by",
                            format!(
                                "'{s}' is not one of caller_number, account, booking_reference"
                            ),
                        );
                        IdentifyBy::CallerNumber
                    }
                },
                None => {
                    f.missing(p, "by");
                    IdentifyBy::CallerNumber
                }
            };
            let prompts = if by == IdentifyBy::CallerNumber {
                f.prompts(p, "prompts", &[])
            } else {
                f.req_prompts(p, "prompts")
            };
            let gather = f.gather(p, 4, 12, Some(Digit::HASH));
            let verify_len = f.opt_uint(p, "verify_length", 1..13);
            let verify_prompts = f.prompts(p, "verify_prompts", &[]);
            if verify_len.is_some() == verify_prompts.is_empty() {
                p.bad(
                    span.clone(),
                    "verify_length",
                    "verify_length and verify_prompts go together",
                );
            }
            let verify = verify_len.map(|n| GatherSpec {
                min_len: n as usize,
                max_len: n as usize,
                ..gather.clone()
            });
            let found = f.node(p, "found");
            let not_found = f.node(p, "not_found");
            NodeKind::Identify(IdentifySpec {
                by,
                prompts,
                gather,
                verify_prompts,
                verify,
                retry: f.retry(p, Some(not_found)),
                found,
                not_found,
            })
        }
        "condition" => {
            let test = parse_test(p, &mut f);
            NodeKind::Condition {
                test,
                then: f.node(p, "then"),
                otherwise: f.node(p, "else"),
            }
        }
        "set" => {
            let priority = f.opt_uint(p, "priority", 0..256).map(|n| n as u8);
            let skills = f
                .str_list(p, "skills")
                .unwrap_or_default()
                .into_iter()
                .map(|s| s.0)
                .collect();
            let mut variables = Vec::new();
            if let Some(v) = f.get("variables") {
                match v.get_ref().as_table() {
                    Some(t) => {
                        let mut entries: Vec<_> = t.iter().collect();
                        entries.sort_by_key(|(k, _)| k.span().start);
                        for (k, val) in entries {
                            match val.get_ref().as_str() {
                                Some(s) => variables.push((k.get_ref().to_string(), s.to_string())),
                                None => {
                                    p.bad(val.span(), "variables", "variable values are strings")
                                }
                            }
                        }
                    }
                    None => p.bad(
                        v.span(),
                        "variables",
                        "expected a table of name = \"value\"",
                    ),
                }
            }
            let language = f.language(p);
            p.switched_to.extend(language);
            NodeKind::Set {
                priority,
                skills,
                variables,
                language,
                next: f.node(p, "next"),
            }
        }
        "queue" => {
            let queue = f.str(p, "queue");
            let announce_position = f.boolean(p, "announce_position", true);
            let announce_wait = f.boolean(p, "announce_wait_time", true);
            let announce_every = f.secs(p, "announce_every_secs", 30);
            let periodic_prompts = f.prompts(p, "periodic_prompts", &[]);
            // Music has no words: the same file in every language.
            let music = f.opt_str(p, "music").map(|(m, sp)| p.check_file(&m, sp));
            let callback_digit = f.opt_digit(p, "callback_digit");
            let callback_prompts = f.prompts(p, "callback_prompts", &[]);
            let on_callback = f.opt_node(p, "on_callback");
            if callback_digit.is_some() != on_callback.is_some() {
                p.bad(
                    span.clone(),
                    "callback_digit",
                    "callback_digit and on_callback go together",
                );
            }
            let max_wait = f
                .opt_uint(p, "max_wait_secs", 1..86_401)
                .map(Duration::from_secs);
            let on_max_wait = f.opt_node(p, "on_max_wait");
            if max_wait.is_some() != on_max_wait.is_some() {
                p.bad(
                    span.clone(),
                    "max_wait_secs",
                    "max_wait_secs and on_max_wait go together",
                );
            }
            NodeKind::Queue(QueueSpec {
                queue,
                announce_position,
                announce_wait,
                announce_every,
                periodic_prompts,
                music,
                callback_digit,
                callback_prompts,
                on_callback,
                max_wait,
                on_max_wait,
            })
        }
        "transfer" => {
            let ext = f.opt_str(p, "extension");
            let num = f.opt_str(p, "number");
            let valid = |s: &str| {
                !s.is_empty()
                    && s.chars()
                        .enumerate()
                        .all(|(i, c)| c.is_ascii_digit() || (i == 0 && c == '+'))
            };
            let target = match (ext, num) {
                (Some((e, sp)), None) => {
                    if !valid(&e) {
                        p.bad(sp, "extension", "digits only");
                    }
                    TransferTarget::Extension(e)
                }
                (None, Some((n, sp))) => {
                    if !valid(&n) {
                        p.bad(sp, "number", "an E.164 number like +4420... or digits");
                    }
                    TransferTarget::External(n)
                }
                (Some(_), Some((_, sp))) => {
                    p.bad(sp, "number", "give either extension or number, not both");
                    TransferTarget::Extension(String::new())
                }
                (None, None) => {
                    f.missing(p, "extension");
                    TransferTarget::Extension(String::new())
                }
            };
            NodeKind::Transfer {
                prompts: f.prompts(p, "prompts", &[]),
                target,
                on_fail: f.opt_node(p, "on_fail"),
            }
        }
        "voicemail" => NodeKind::Voicemail {
            prompts: f.req_prompts(p, "prompts"),
            max_duration: f.secs(p, "max_duration_secs", 120),
            ticket_queue: f.str_or(p, "ticket_queue", "voicemail"),
            subject: f.str_or(p, "subject", "Voicemail"),
            end_digit: match f.opt_str(p, "end_digit") {
                Some((d, _)) if d == "none" => None,
                Some((d, sp)) => match d.chars().next().and_then(Digit::from_char) {
                    Some(digit) if d.chars().count() == 1 => Some(digit),
                    _ => {
                        p.bad(
                            sp,
                            "end_digit",
                            format!("'{d}' is not one key (0-9, *, #) or \"none\""),
                        );
                        None
                    }
                },
                None => Digit::from_char('#'),
            },
            reference_prompts: f.prompts(p, "reference_prompts", &[]),
            next: f.node(p, "next"),
        },
        "booking" => {
            let category = f.str(p, "category");
            let max_items = f.uint(p, "max_items", 5, 1..10) as usize;
            let intro_prompts = f.prompts(p, "intro_prompts", &[]);
            let none_prompts = f.prompts(p, "none_prompts", &[default_prompts::NO_AVAILABILITY]);
            let unavailable_prompts = f.prompts(
                p,
                "unavailable_prompts",
                &[default_prompts::ITEM_UNAVAILABLE],
            );
            let gather = f.gather(p, 1, 1, None);
            let next = f.node(p, "next");
            let on_none = f.node(p, "on_none");
            NodeKind::Booking(BookingSpec {
                category,
                max_items,
                intro_prompts,
                none_prompts,
                unavailable_prompts,
                gather,
                retry: f.retry(p, Some(on_none)),
                next,
                on_none,
            })
        }
        "pay" => {
            let amount = match (
                f.opt_str(p, "amount"),
                f.opt_uint(p, "amount_minor", 1..u64::MAX),
                f.opt_str(p, "amount_variable"),
            ) {
                (Some((a, _)), None, None) if a == "booking" => AmountFrom::Booking,
                (Some((a, _)), None, None) if a == "balance" => AmountFrom::Balance,
                (Some((a, sp)), None, None) => {
                    p.bad(
                        sp,
                        "amount",
                        format!(
                            "'{a}' is not \"booking\" or \"balance\" (use amount_minor or amount_variable)"
                        ),
                    );
                    AmountFrom::Booking
                }
                (None, Some(minor), None) => AmountFrom::Fixed {
                    minor,
                    currency: currency(p, &mut f, &span),
                },
                (None, None, Some((name, _))) => AmountFrom::Variable {
                    name,
                    currency: currency(p, &mut f, &span),
                    currency_variable: f.opt_str(p, "currency_variable").map(|c| c.0),
                },
                (None, None, None) => {
                    f.missing(p, "amount");
                    AmountFrom::Booking
                }
                _ => {
                    p.bad(
                        span.clone(),
                        "amount",
                        "give one of amount = \"booking\" or \"balance\", amount_minor or amount_variable",
                    );
                    AmountFrom::Booking
                }
            };
            NodeKind::Pay(PaySpec {
                amount,
                description: f.str_or(p, "description", "Payment"),
                description_variable: f.opt_str(p, "description_variable").map(|d| d.0),
                card_prompts: f.prompts(p, "card_prompts", &[default_prompts::CARD]),
                expiry_prompts: f.prompts(p, "expiry_prompts", &[default_prompts::EXPIRY]),
                cvv_prompts: f.prompts(p, "cvv_prompts", &[default_prompts::CVV]),
                invalid_prompts: f.prompts(p, "invalid_prompts", &[default_prompts::INVALID_ENTRY]),
                approved_prompts: f.prompts(p, "approved_prompts", &[default_prompts::APPROVED]),
                declined_prompts: f.prompts(p, "declined_prompts", &[default_prompts::DECLINED]),
                retry_prompts: f.prompts(p, "retry_prompts", &[default_prompts::RETRY]),
                retry_digit: f
                    .opt_digit(p, "retry_digit")
                    .unwrap_or(Digit::from_char('1').unwrap_or(Digit::HASH)),
                retries: f.uint(p, "retries", 2, 0..6) as u32,
                entry_retries: f.uint(p, "entry_retries", 2, 0..6) as u32,
                first_timeout: f.ms(p, "timeout_ms", 10_000),
                inter_digit_timeout: f.ms(p, "inter_digit_timeout_ms", 5_000),
                next: f.node(p, "next"),
                on_fail: f.node(p, "on_fail"),
            })
        }
        "hangup" => NodeKind::Hangup {
            prompts: f.prompts(p, "prompts", &[]),
        },
        "return" => NodeKind::Return {
            prompts: f.prompts(p, "prompts", &[]),
        },
        _ => return None,
    };
    f.finish(p);
    Some(kind)
}

fn currency(p: &mut Parser<'_>, f: &mut Fields<'_, '_>, span: &Range<usize>) -> String {
    let currency = f.str(p, "currency");
    if !currency.is_empty()
        && (currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()))
    {
        p.bad(
            span.clone(),
            "currency",
            format!("'{currency}' is not an ISO 4217 code like USD"),
        );
    }
    currency
}

fn parse_test(p: &mut Parser<'_>, f: &mut Fields<'_, '_>) -> Test {
    let Some((test, tspan)) = f.opt_str(p, "test") else {
        f.missing(p, "test");
        return Test::Tier(Vec::new());
    };
    match test.as_str() {
        "business_hours" => {
            let utc_offset_minutes = match f.opt_str(p, "utc_offset") {
                Some((s, sp)) => parse_utc_offset(&s).unwrap_or_else(|| {
                    p.bad(
                        sp,
                        "utc_offset",
                        format!("'{s}' is not like +01:00, -05:30 or Z"),
                    );
                    0
                }),
                None => 0,
            };
            let mut open: [Vec<(u32, u32)>; 7] = Default::default();
            match f.get("hours") {
                Some(v) => match v.get_ref().as_table() {
                    Some(t) => {
                        for (k, val) in t.iter() {
                            let days: Vec<Weekday> = match k.get_ref().as_ref() {
                                "weekdays" => ["mon", "tue", "wed", "thu", "fri"]
                                    .iter()
                                    .filter_map(|d| Weekday::parse(d))
                                    .collect(),
                                "weekend" => ["sat", "sun"]
                                    .iter()
                                    .filter_map(|d| Weekday::parse(d))
                                    .collect(),
                                d => match Weekday::parse(d) {
                                    Some(w) => vec![w],
                                    None => {
                                        p.bad(
                                            k.span(),
                                            "hours",
                                            format!("'{d}' is not mon..sun, weekdays or weekend"),
                                        );
                                        continue;
                                    }
                                },
                            };
                            let ranges: Vec<(String, Range<usize>)> = match val.get_ref() {
                                DeValue::String(s) => vec![(s.to_string(), val.span())],
                                DeValue::Array(a) => a
                                    .iter()
                                    .filter_map(|i| {
                                        i.get_ref().as_str().map(|s| (s.to_string(), i.span()))
                                    })
                                    .collect(),
                                _ => {
                                    p.bad(
                                        val.span(),
                                        "hours",
                                        "expected \"HH:MM-HH:MM\" or a list of them",
                                    );
                                    continue;
                                }
                            };
                            for (r, rspan) in ranges {
                                match parse_range(&r) {
                                    Some(range) => {
                                        days.iter().for_each(|d| open[d.index()].push(range))
                                    }
                                    None => p.bad(
                                        rspan,
                                        "hours",
                                        format!("'{r}' is not HH:MM-HH:MM with start before end"),
                                    ),
                                }
                            }
                        }
                    }
                    None => p.bad(
                        v.span(),
                        "hours",
                        "expected a table like { weekdays = \"09:00-17:00\" }",
                    ),
                },
                None => f.missing(p, "hours"),
            }
            let mut holidays = Vec::new();
            for (h, sp) in f.str_list(p, "holidays").unwrap_or_default() {
                match CivilDate::parse(&h) {
                    Some(d) => holidays.push(d),
                    None => p.bad(sp, "holidays", format!("'{h}' is not a date YYYY-MM-DD")),
                }
            }
            Test::BusinessHours(BusinessHours {
                utc_offset_minutes,
                open,
                holidays,
            })
        }
        "tier" => {
            let tiers: Vec<String> = f
                .str_list(p, "tiers")
                .unwrap_or_default()
                .into_iter()
                .map(|t| t.0)
                .collect();
            if tiers.is_empty() {
                f.missing(p, "tiers");
            }
            Test::Tier(tiers)
        }
        "queue_wait" => Test::QueueWait {
            queue: f.str(p, "queue"),
            max_wait: Duration::from_secs(f.uint(p, "max_wait_secs", 0, 0..86_401)),
        },
        "staffing" => Test::Staffing {
            queue: f.str(p, "queue"),
            min_agents: f.uint(p, "min_agents", 1, 0..100_000) as u32,
        },
        "variable" => Test::Variable {
            name: f.str(p, "variable"),
            equals: f.str(p, "equals"),
        },
        _ => {
            p.bad(
                tspan,
                "test",
                format!(
                    "'{test}' is not one of business_hours, tier, queue_wait, staffing, variable"
                ),
            );
            Test::Tier(Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::line_col;

    #[test]
    fn line_col_counts_from_one() {
        let s = "ab\ncd\né";
        assert_eq!(line_col(s, 0), (1, 1));
        assert_eq!(line_col(s, 4), (2, 2));
        assert_eq!(line_col(s, 6), (3, 1));
        assert_eq!(line_col(s, 999), (3, 2));
    }
}
