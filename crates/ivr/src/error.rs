//! The crate's one error type.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong in `hotline-ivr`.
///
/// Flow files are operator input: every problem in one names the file, the line and what is
/// wrong ([`FlowError`]). Nothing a caller or the switch feeds a [`crate::Session`] is an error:
/// stale or out-of-place events are ignored (see the session docs), so this enum is only about
/// configuration and the payment gateway.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// One or more problems in flow files; each names file, line and problem.
    #[error("{}", FlowErrors(.0))]
    Flow(Vec<FlowError>),
    /// A flow file or directory could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Two flow files declare the same flow name.
    #[error("{path}: flow name '{name}' is already used by {other}")]
    DuplicateFlow {
        /// The second file.
        path: PathBuf,
        /// The flow name.
        name: String,
        /// The first file.
        other: PathBuf,
    },
    /// The payment gateway could not be reached or answered nonsense (not a decline).
    #[error("payment gateway: {0}")]
    Gateway(String),
}

struct FlowErrors<'a>(&'a [FlowError]);

impl fmt::Display for FlowErrors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// One problem in a flow file, with its location (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowError {
    /// The flow file as it was given to the loader.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong.
    pub problem: Problem,
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.problem
        )
    }
}

/// The kinds of problem a flow file can have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The file is not valid TOML.
    #[error("TOML syntax: {0}")]
    Syntax(String),
    /// A field names a node that the file does not define.
    #[error("unknown node '{node}' in field '{field}'")]
    UnknownNode {
        /// The referenced name.
        node: String,
        /// The field holding the reference.
        field: String,
    },
    /// No path from the start node reaches this node.
    #[error("node '{0}' is unreachable from the start node")]
    Unreachable(String),
    /// A prompt has no file in the prompts directory.
    #[error("prompt '{prompt}' has no file {expected}")]
    MissingPrompt {
        /// The prompt name as written.
        prompt: String,
        /// The path that was looked for.
        expected: String,
    },
    /// A prompt has no file in one of the flow's languages other than English: the English
    /// prompt plays instead. A warning ([`crate::Flow::warnings`]), not an error.
    #[error(
        "prompt '{prompt}' in field '{field}' has no {language} file {expected}; the English prompt plays instead"
    )]
    MissingTranslation {
        /// The language.
        language: crate::Language,
        /// The prompt name as written.
        prompt: String,
        /// The field naming it.
        field: String,
        /// The path that was looked for.
        expected: String,
    },
    /// A node is defined twice.
    #[error("node '{0}' is defined twice")]
    DuplicateNode(String),
    /// A required field is absent.
    #[error("missing field '{0}'")]
    MissingField(String),
    /// A field that this node type does not know (often a typo).
    #[error("unknown field '{field}' for a {node_type} node")]
    UnknownField {
        /// The field.
        field: String,
        /// The node type (or section) it appeared in.
        node_type: String,
    },
    /// A field has the wrong type or an invalid value.
    #[error("bad field '{field}': {reason}")]
    BadField {
        /// The field.
        field: String,
        /// Why it is bad.
        reason: String,
    },
}
