//! The PDF export: A4 portrait, the font at `--export-font` embedded as a subset of the glyphs
//! used (IPAex Gothic by default), headed by the record's title, the resident, the room, the
//! period, who exported it and when; each message as a heading line (time, author, profession,
//! organization, kind, priority, confirmations), its body wrapped to the page width and across
//! pages, and its attachments' names. Every page carries its number.

use super::export::{
    attachments_ja, jst_time, kind_ja, period_ja, priority_ja, profession_ja, Export,
};
use printpdf::{FontData, FontMetrics, GlyphMetrics, Line, Mm, PdfDocument, Point};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use yui_protocol::model::Priority;

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("the font is not a TrueType font printpdf can embed: {0}")]
    Font(String),
    #[error("writing the PDF failed: {0}")]
    Write(String),
}

const PAGE_W: f32 = 210.0;
const PAGE_H: f32 = 297.0;
const MARGIN: f32 = 15.0;
const BODY_PT: f32 = 9.5;
const HEAD_PT: f32 = 9.0;
const TITLE_PT: f32 = 16.0;
/// Millimetres per point.
const PT: f32 = 25.4 / 72.0;

/// Advance widths from the font itself, to wrap lines where they really end.
struct Metrics<'a> {
    face: ttf_parser::Face<'a>,
    per_em: f32,
}

impl Metrics<'_> {
    /// The width of `c` at `size` points, in millimetres (a missing glyph counts as one em).
    fn width(&self, c: char, size: f32) -> f32 {
        let units = self
            .face
            .glyph_index(c)
            .and_then(|g| self.face.glyph_hor_advance(g))
            .map(f32::from)
            .unwrap_or(self.per_em);
        units / self.per_em * size * PT
    }

    /// Splits `text` into lines no wider than `width` mm: at its own line breaks, and wherever
    /// the next character would not fit (Japanese has no spaces to break at). A closing
    /// punctuation mark that would start a line stays at the end of the previous one (a
    /// little past the width: 行頭禁則).
    fn wrap(&self, text: &str, size: f32, width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        for paragraph in text.split('\n') {
            let mut line = String::new();
            let mut used = 0.0;
            for c in paragraph.chars() {
                let c = if c == '\t' { ' ' } else { c };
                let w = self.width(c, size);
                if used + w > width
                    && !line.is_empty()
                    && !"、。，．）」』】〕！？ー…・".contains(c)
                {
                    lines.push(std::mem::take(&mut line));
                    used = 0.0;
                }
                line.push(c);
                used += w;
            }
            lines.push(line);
        }
        lines
    }
}

/// The subset of the font's tables printpdf needs. Unlike printpdf's own reader, the
/// character each glyph stands for (the PDF's ToUnicode map, what copying or `pdftotext` gives
/// back) is the character the document used: IPAex Gothic draws 支 and the Kangxi radical ⽀
/// with one glyph, and a care record must read back as written.
#[derive(Clone, Debug)]
struct JapaneseFont(Arc<FontTables>);

#[derive(Debug)]
struct FontTables {
    metrics: FontMetrics,
    by_char: HashMap<char, u16>,
    by_glyph: HashMap<u16, char>,
    glyphs: HashMap<u16, GlyphMetrics>,
    count: u16,
}

impl JapaneseFont {
    /// The subset of `face` that draws `used`, and that subset's bytes: glyph 0 and the
    /// glyphs of the characters used, renumbered in order (as allsorts numbers them).
    fn subset(
        face: &ttf_parser::Face<'_>,
        bytes: &[u8],
        used: &HashSet<char>,
    ) -> Result<(JapaneseFont, Vec<u8>), PdfError> {
        let mut old: Vec<u16> = used
            .iter()
            .filter_map(|c| face.glyph_index(*c).map(|g| g.0))
            .collect();
        old.push(0);
        old.sort_unstable();
        old.dedup();
        let renumbered: HashMap<u16, u16> = old
            .iter()
            .enumerate()
            .map(|(i, g)| (*g, i as u16))
            .collect();
        let mut by_char = HashMap::new();
        let mut by_glyph = HashMap::new();
        for c in used {
            if let Some(g) = face.glyph_index(*c).and_then(|g| renumbered.get(&g.0)) {
                by_char.insert(*c, *g);
                by_glyph.insert(*g, *c);
            }
        }
        let descender = face.descender();
        let glyphs = old
            .iter()
            .filter_map(|g| {
                let id = ttf_parser::GlyphId(*g);
                let width = u32::from(face.glyph_hor_advance(id)?);
                let height = face
                    .glyph_bounding_box(id)
                    .map(|b| i32::from(b.y_max) - i32::from(b.y_min) - i32::from(descender))
                    .unwrap_or(1000)
                    .max(0) as u32;
                Some((*renumbered.get(g)?, GlyphMetrics { width, height }))
            })
            .collect();
        let subset = {
            use allsorts::binary::read::ReadScope;
            let file = ReadScope::new(bytes)
                .read::<allsorts::font_data::FontData<'_>>()
                .map_err(|e| PdfError::Font(e.to_string()))?;
            let provider = file
                .table_provider(0)
                .map_err(|e| PdfError::Font(e.to_string()))?;
            allsorts::subset::subset(&provider, &old).map_err(|e| PdfError::Font(e.to_string()))?
        };
        let font = JapaneseFont(Arc::new(FontTables {
            metrics: FontMetrics {
                ascent: face.ascender(),
                descent: face.descender(),
                units_per_em: face.units_per_em(),
            },
            by_char,
            by_glyph,
            glyphs,
            count: old.len() as u16,
        }));
        Ok((font, subset))
    }
}

impl FontData for JapaneseFont {
    fn font_metrics(&self) -> FontMetrics {
        self.0.metrics
    }

    fn glyph_id(&self, c: char) -> Option<u16> {
        self.0.by_char.get(&c).copied()
    }

    fn glyph_ids(&self) -> HashMap<u16, char> {
        self.0.by_glyph.clone()
    }

    fn glyph_count(&self) -> u16 {
        self.0.count
    }

    fn glyph_metrics(&self, glyph_id: u16) -> Option<GlyphMetrics> {
        self.0.glyphs.get(&glyph_id).copied()
    }
}

/// What goes on a page, laid out before the document is made (so the font subset holds
/// exactly the characters written).
enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        text: String,
    },
    Rule {
        y: f32,
    },
}

/// Where the next line goes; starts a page when the current one is full.
struct Pen {
    pages: Vec<Vec<Op>>,
    y: f32,
}

impl Pen {
    fn new() -> Pen {
        let mut pen = Pen {
            pages: Vec::new(),
            y: 0.0,
        };
        pen.new_page();
        pen
    }

    fn new_page(&mut self) {
        let number = self.pages.len() + 1;
        self.pages.push(vec![Op::Text {
            x: PAGE_W / 2.0 - 5.0,
            y: MARGIN / 2.0,
            size: 8.0,
            text: format!("- {number} -"),
        }]);
        self.y = PAGE_H - MARGIN;
    }

    fn push(&mut self, op: Op) {
        if let Some(page) = self.pages.last_mut() {
            page.push(op);
        }
    }

    /// Room for `height` mm more on this page, else a new page.
    fn need(&mut self, height: f32) {
        if self.y - height < MARGIN {
            self.new_page();
        }
    }

    fn text(&mut self, text: &str, size: f32, x: f32) {
        let height = size * PT * 1.45;
        self.need(height);
        self.y -= height;
        let y = self.y;
        self.push(Op::Text {
            x: MARGIN + x,
            y,
            size,
            text: text.to_owned(),
        });
    }

    fn rule(&mut self) {
        self.need(3.0);
        self.y -= 1.5;
        let y = self.y;
        self.push(Op::Rule { y });
        self.y -= 1.5;
    }
}

/// The lines under the title.
fn header_lines(e: &Export) -> Vec<String> {
    let resident = e
        .room
        .resident
        .as_ref()
        .map(|r| r.name.clone())
        .unwrap_or_else(|| "—".to_owned());
    vec![
        format!("利用者: {resident}"),
        format!(
            "ルーム: {}（{}）",
            e.room.title.as_str(),
            e.room.room.as_str()
        ),
        format!("期間: {}（日本時間）", period_ja(e)),
        format!(
            "出力者: {}（{}・{}）",
            e.by.name.as_str(),
            profession_ja(e.by.profession),
            e.by.org.as_str()
        ),
        format!("出力日時: {}　件数: {}", jst_time(e.at), e.messages.len()),
    ]
}

const TITLE: &str = "支援経過記録";

fn lay_out(e: &Export, metrics: &Metrics<'_>) -> Vec<Vec<Op>> {
    let mut pen = Pen::new();
    let width = PAGE_W - 2.0 * MARGIN;
    pen.text(TITLE, TITLE_PT, 0.0);
    for line in &header_lines(e) {
        for l in metrics.wrap(line, 10.0, width) {
            pen.text(&l, 10.0, 0.0);
        }
    }
    pen.rule();
    if e.messages.is_empty() {
        pen.text("この期間の記録はありません。", BODY_PT, 0.0);
    }
    for m in &e.messages {
        let mut head = format!(
            "#{}  {}  {}（{}・{}）  {}",
            m.seq,
            jst_time(m.at),
            m.author.name.as_str(),
            profession_ja(m.author.profession),
            m.author.org.as_str(),
            kind_ja(m)
        );
        if m.priority == Priority::Urgent {
            head.push_str(&format!("  【{}】", priority_ja(m.priority)));
        }
        if let Some(n) = m.confirms.filter(|n| *n > 0) {
            head.push_str(&format!("  確認 {n}"));
        }
        // A heading is never left alone at the foot of a page.
        pen.need((HEAD_PT + 2.0 * BODY_PT) * PT * 1.45);
        for l in metrics.wrap(&head, HEAD_PT, width) {
            pen.text(&l, HEAD_PT, 0.0);
        }
        for l in metrics.wrap(&m.body, BODY_PT, width - 4.0) {
            pen.text(&l, BODY_PT, 4.0);
        }
        let files = attachments_ja(m);
        if !files.is_empty() {
            for l in metrics.wrap(&format!("添付: {files}"), HEAD_PT, width - 4.0) {
                pen.text(&l, HEAD_PT, 4.0);
            }
        }
        pen.y -= 2.0;
    }
    pen.pages
}

pub fn render(e: &Export, font_bytes: Vec<u8>) -> Result<Vec<u8>, PdfError> {
    let face =
        ttf_parser::Face::parse(&font_bytes, 0).map_err(|err| PdfError::Font(err.to_string()))?;
    let metrics = Metrics {
        per_em: f32::from(face.units_per_em().max(1)),
        face,
    };
    let pages = lay_out(e, &metrics);
    let used: HashSet<char> = pages
        .iter()
        .flatten()
        .filter_map(|op| match op {
            Op::Text { text, .. } => Some(text.chars()),
            Op::Rule { .. } => None,
        })
        .flatten()
        .collect();
    let (data, subset) = JapaneseFont::subset(&metrics.face, &font_bytes, &used)?;
    let (doc, page, layer) = PdfDocument::new(TITLE, Mm(PAGE_W), Mm(PAGE_H), "1");
    // Subset already: printpdf's own subsetting would take its character map from the font.
    let font = doc
        .add_external_font_data_with_subsetting(subset, data, false)
        .map_err(|err| PdfError::Font(err.to_string()))?;
    let mut layer = doc.get_page(page).get_layer(layer);
    for (i, ops) in pages.iter().enumerate() {
        if i > 0 {
            let (page, l) = doc.add_page(Mm(PAGE_W), Mm(PAGE_H), "1");
            layer = doc.get_page(page).get_layer(l);
        }
        for op in ops {
            match op {
                Op::Text { x, y, size, text } => layer.use_text(text, *size, Mm(*x), Mm(*y), &font),
                Op::Rule { y } => layer.add_line(Line {
                    points: vec![
                        (Point::new(Mm(MARGIN), Mm(*y)), false),
                        (Point::new(Mm(PAGE_W - MARGIN), Mm(*y)), false),
                    ],
                    is_closed: false,
                }),
            }
        }
    }
    doc.save_to_bytes()
        .map_err(|err| PdfError::Write(err.to_string()))
}
