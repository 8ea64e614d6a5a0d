//! Fonts for names in any script: a CJK font found on the system, added as an egui fallback.
//!
//! egui's built-in fonts have no Chinese, Japanese or Korean glyphs, so such names would show as
//! empty boxes. At start the desktop looks for Noto Sans CJK (Debian `fonts-noto-cjk`) or
//! another CJK font in the usual places (or the file in `HOTLINE_CJK_FONT`) and appends it to
//! both font families as the last fallback, so Latin text keeps egui's fonts. The file is
//! shared with egui (memory-mapped bytes are not needed: it is read once, about 20 MB).
//! Without one, [`FontStatus::Missing`] makes the state bar and the log say so in words.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where CJK fonts are looked for, in order, with the face to use in a collection (`.ttc`):
/// face 2 of Noto Sans CJK is Simplified Chinese.
pub const CANDIDATES: &[(&str, u32)] = &[
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    (
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
        2,
    ),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
    ("/System/Library/Fonts/PingFang.ttc", 0),
    ("C:\\Windows\\Fonts\\msyh.ttc", 0),
];

/// The name of the fallback font in egui's font definitions.
pub const CJK_FONT_NAME: &str = "cjk-fallback";

/// What the font set-up found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FontStatus {
    /// Not looked for yet (tests that do not care).
    NotChecked,
    /// A CJK font is loaded as fallback.
    Loaded {
        /// The file.
        path: PathBuf,
    },
    /// No CJK font was found: Chinese text shows as boxes.
    Missing {
        /// The places looked at.
        looked: Vec<PathBuf>,
    },
}

/// A font file to use, with its face index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FontFile {
    /// The file.
    pub path: PathBuf,
    /// The face in a collection.
    pub index: u32,
}

/// The CJK font to load: `HOTLINE_CJK_FONT` (a file, face 0, or `file#index`), else the first
/// candidate that exists.
pub fn find_cjk_font(
    env: Option<&str>,
    candidates: &[(&str, u32)],
) -> Result<FontFile, Vec<PathBuf>> {
    if let Some(spec) = env.filter(|s| !s.is_empty()) {
        let (file, index) = match spec.rsplit_once('#') {
            Some((f, i)) => (f, i.parse().unwrap_or(0)),
            None => (spec, 0),
        };
        if Path::new(file).is_file() {
            return Ok(FontFile {
                path: file.into(),
                index,
            });
        }
    }
    for (path, index) in candidates {
        if Path::new(path).is_file() {
            return Ok(FontFile {
                path: (*path).into(),
                index: *index,
            });
        }
    }
    let mut looked: Vec<PathBuf> = env.into_iter().map(PathBuf::from).collect();
    looked.extend(candidates.iter().map(|(p, _)| PathBuf::from(p)));
    Err(looked)
}

/// Loads `file` into `ctx` as the last fallback of both families.
pub fn install(ctx: &egui::Context, file: &FontFile) -> std::io::Result<()> {
    let bytes = std::fs::read(&file.path)?;
    let mut defs = egui::FontDefinitions::default();
    defs.font_data.insert(
        CJK_FONT_NAME.to_owned(),
        Arc::new(egui::FontData::from_blob(Arc::new(bytes), file.index)),
    );
    for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
        defs.families
            .entry(family)
            .or_default()
            .push(CJK_FONT_NAME.to_owned());
    }
    ctx.set_fonts(defs);
    Ok(())
}

/// Finds and installs a CJK font (from `HOTLINE_CJK_FONT` or the system), logging the outcome.
pub fn setup(ctx: &egui::Context) -> FontStatus {
    let env = std::env::var("HOTLINE_CJK_FONT").ok();
    setup_with(ctx, env.as_deref(), CANDIDATES)
}

/// [`setup`] with the places to look given (tests).
pub fn setup_with(
    ctx: &egui::Context,
    env: Option<&str>,
    candidates: &[(&str, u32)],
) -> FontStatus {
    match find_cjk_font(env, candidates) {
        Ok(file) => match install(ctx, &file) {
            Ok(()) => {
                tracing::info!(path = %file.path.display(), "CJK font loaded as fallback");
                FontStatus::Loaded { path: file.path }
            }
            Err(e) => {
                tracing::warn!(path = %file.path.display(), error = %e, "cannot read the CJK font; Chinese text will show as boxes");
                FontStatus::Missing {
                    looked: vec![file.path],
                }
            }
        },
        Err(looked) => {
            tracing::warn!(
                "no CJK font found (install fonts-noto-cjk or set HOTLINE_CJK_FONT); Chinese text will show as boxes"
            );
            FontStatus::Missing { looked }
        }
    }
}
