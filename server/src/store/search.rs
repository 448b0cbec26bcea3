//! The search index both stores keep, decided without the database: how text is folded, which
//! terms a message is indexed under, and how a candidate is checked and shown.
//!
//! Care notes are mostly Japanese, written without spaces, and the words people look for are
//! often two characters long (発熱, 転倒, 服薬). Trigram indexes (FTS5's `trigram` tokenizer,
//! Postgres' `pg_trgm`) cannot look up fewer than three characters, so both stores index
//! **bigrams**, made here at write time:
//!
//! 1. [`fold`]: the text is NFKC-normalized and lower-cased (full-width
//!    ＡＢＣ and half-width ｶﾅ find their usual forms); each folded character remembers the
//!    character of the body it came from, for highlighting.
//! 2. [`message_terms`]: each distinct pair of adjacent folded characters, neither of them white
//!    space, becomes one ASCII term (`<hex>g<hex>` of the two code points), plus one term for
//!    the message's room (`r<hex of the room id>`), so that the index itself restricts a search
//!    to the rooms the user reads.
//! 3. A query word's bigrams must all be present (the index's candidates); then each candidate
//!    is checked for every word as a real substring of the folded body ([`Matcher::matches`]),
//!    so "服薬管理" never matches a note that only holds 服薬, 薬管 and 管理 apart.

use std::collections::BTreeSet;
use unicode_normalization::char::{compose, decompose_compatible};
use yui_protocol::ids::RoomId;

/// A text folded for matching, with the index (in characters) of the original character each
/// folded character came from.
pub struct Folded {
    pub chars: Vec<char>,
    pub origin: Vec<u32>,
}

/// Folds a text: each character's compatibility decomposition, recomposed with the character
/// before it where a composition exists (so half-width ｶ + ﾞ becomes ガ, as NFKC does), then
/// lower-cased.
pub fn fold(text: &str) -> Folded {
    let mut composed: Vec<(char, u32)> = Vec::with_capacity(text.len() / 2);
    for (i, c) in text.chars().enumerate() {
        decompose_compatible(c, |d| {
            if let Some(last) = composed.last_mut() {
                if let Some(x) = compose(last.0, d) {
                    last.0 = x;
                    return;
                }
            }
            composed.push((d, i as u32));
        });
    }
    let mut chars = Vec::with_capacity(composed.len());
    let mut origin = Vec::with_capacity(composed.len());
    for (c, i) in composed {
        for l in c.to_lowercase() {
            chars.push(l);
            origin.push(i);
        }
    }
    Folded { chars, origin }
}

pub fn fold_str(text: &str) -> String {
    fold(text).chars.into_iter().collect()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex of `v` without leading zeros, as `{:x}` writes it.
fn push_hex(s: &mut String, v: u32) {
    let digits = (32 - v.leading_zeros()).div_ceil(4).max(1);
    for i in (0..digits).rev() {
        s.push(HEX[((v >> (i * 4)) & 0xf) as usize] as char);
    }
}

fn bigram(a: char, b: char) -> String {
    let mut s = String::with_capacity(12);
    push_hex(&mut s, a as u32);
    s.push('g');
    push_hex(&mut s, b as u32);
    s
}

/// The distinct bigram terms of a folded text, sorted (as strings). The pairs are made
/// distinct before any term is written: a note repeats many of its pairs, and this runs for
/// every message the index takes in.
fn bigrams(chars: &[char]) -> Vec<String> {
    let mut pairs: Vec<(char, char)> = chars
        .windows(2)
        .filter(|w| !w[0].is_whitespace() && !w[1].is_whitespace())
        .map(|w| (w[0], w[1]))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut terms: Vec<String> = pairs.into_iter().map(|(a, b)| bigram(a, b)).collect();
    terms.sort_unstable();
    terms
}

/// The term that stands for a room in the index.
pub fn room_term(room: &RoomId) -> String {
    let mut s = String::with_capacity(1 + room.as_str().len() * 2);
    s.push('r');
    for b in room.as_str().bytes() {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 0xf)] as char);
    }
    s
}

/// The body's bigram terms (Postgres keeps the room in a column of its own).
pub fn body_terms(body: &str) -> Vec<String> {
    bigrams(&fold(body).chars)
}

/// Every term a message is indexed under: its room's and its body's bigrams.
pub fn message_terms(room: &RoomId, body: &str) -> Vec<String> {
    let mut terms = bigrams(&fold(body).chars);
    terms.push(room_term(room));
    terms
}

/// [`message_terms`] as one space-separated text (the SQLite FTS5 column).
pub fn message_terms_text(room: &RoomId, body: &str) -> String {
    message_terms(room, body).join(" ")
}

/// A validated query, folded: its words, and the bigram terms all of which a match holds.
pub struct Matcher {
    words: Vec<Vec<char>>,
    pub terms: Vec<String>,
}

impl Matcher {
    pub fn new<'a>(words: impl Iterator<Item = &'a str>) -> Matcher {
        let words: Vec<Vec<char>> = words.map(|w| fold(w).chars).collect();
        let mut terms = BTreeSet::new();
        for w in &words {
            terms.extend(bigrams(w));
        }
        Matcher {
            words,
            terms: terms.into_iter().collect(),
        }
    }

    /// Whether the body holds every word (after folding).
    pub fn matches(&self, body: &str) -> bool {
        let folded = fold(body).chars;
        self.words.iter().all(|w| find(&folded, w, 0).is_some())
    }

    /// A plain-text excerpt of the body around the first match (at most [`SNIPPET_CHARS`]
    /// characters, `…` where it is cut), and every match inside it as `[start, end)` offsets
    /// in characters of the excerpt.
    pub fn snippet(&self, body: &str) -> (String, Vec<[u32; 2]>) {
        let original: Vec<char> = body.chars().collect();
        let folded = fold(body);
        // Every match, as ranges of original characters.
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for w in &self.words {
            let mut from = 0;
            while let Some(at) = find(&folded.chars, w, from) {
                let start = folded.origin[at] as usize;
                let end = folded.origin[at + w.len() - 1] as usize + 1;
                ranges.push((start, end));
                from = at + 1;
            }
        }
        ranges.sort_unstable();
        let first = ranges.first().map(|r| r.0).unwrap_or(0);
        let start = first.saturating_sub(SNIPPET_BEFORE);
        let end = (start + SNIPPET_CHARS).min(original.len());
        let mut text = String::new();
        let mut shift = 0u32;
        if start > 0 {
            text.push('…');
            shift = 1;
        }
        // Line breaks read as spaces in a one-line excerpt (same length: offsets stay right).
        text.extend(original[start..end].iter().map(|c| {
            if *c == '\n' || *c == '\t' {
                ' '
            } else {
                *c
            }
        }));
        if end < original.len() {
            text.push('…');
        }
        let mut highlights: Vec<[u32; 2]> = Vec::new();
        for (s, e) in ranges {
            if s < start || e > end {
                continue;
            }
            let h = [(s - start) as u32 + shift, (e - start) as u32 + shift];
            match highlights.last_mut() {
                Some(last) if h[0] <= last[1] => last[1] = last[1].max(h[1]),
                _ => highlights.push(h),
            }
        }
        (text, highlights)
    }
}

/// Characters of the body shown in a snippet, and of them before the first match.
pub const SNIPPET_CHARS: usize = 120;
pub const SNIPPET_BEFORE: usize = 30;

fn find(haystack: &[char], needle: &[char], from: usize) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    (from..=haystack.len() - needle.len()).find(|&i| haystack[i..i + needle.len()] == *needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> RoomId {
        RoomId::parse("tanaka").unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn two_character_words_are_terms() {
        let terms = message_terms(&room(), "夜間に発熱あり。");
        let m = Matcher::new(["発熱"].into_iter());
        assert_eq!(m.terms.len(), 1);
        assert!(terms.contains(&m.terms[0]));
        assert!(terms.contains(&room_term(&room())));
        assert!(m.matches("夜間に発熱あり。"));
        assert!(!m.matches("発作と熱"));
    }

    /// The terms are the index's stored form: written without `format!`, they must stay what
    /// `{:x}` wrote (an index made before would otherwise miss them), distinct and sorted.
    #[test]
    fn terms_are_written_as_before() {
        for v in [
            0u32, 1, 0xf, 0x10, 0x20, 0xff, 0x3042, 0xffff, 0x10000, 0x1f600, 0x10ffff,
        ] {
            let mut s = String::new();
            push_hex(&mut s, v);
            assert_eq!(s, format!("{v:x}"));
        }
        let body = "夜間に発熱あり、解熱剤を使用。発熱なし ABC abc 🙂🙂 a";
        let chars = fold(body).chars;
        let before: BTreeSet<String> = chars
            .windows(2)
            .filter(|w| !w[0].is_whitespace() && !w[1].is_whitespace())
            .map(|w| format!("{:x}g{:x}", w[0] as u32, w[1] as u32))
            .collect();
        assert_eq!(bigrams(&chars), before.into_iter().collect::<Vec<_>>());
        let room = RoomId::parse("tanaka-2.x_z").unwrap_or_else(|e| panic!("{e:?}"));
        let hex: String = room.as_str().bytes().map(|b| format!("{b:02x}")).collect();
        assert_eq!(room_term(&room), format!("r{hex}"));
    }

    #[test]
    fn folding_width_and_case() {
        let m = Matcher::new(["ｶﾞｰｾﾞ", "abc"].into_iter());
        assert!(m.matches("ガーゼ交換 ＡＢＣ"));
        assert!(!m.matches("ガーゼ交換"));
    }

    #[test]
    fn all_bigrams_but_not_the_word() {
        let m = Matcher::new(["服薬管理"].into_iter());
        let body = "服薬 薬管 管理";
        assert!(!m.matches(body));
        assert!(m.matches("本日より服薬管理を開始"));
    }

    #[test]
    fn snippet_marks_matches_in_characters() {
        let m = Matcher::new(["転倒"].into_iter());
        let (text, h) = m.snippet("居間で転倒。\n再度転倒の恐れ");
        assert_eq!(text, "居間で転倒。 再度転倒の恐れ");
        assert_eq!(h, vec![[3, 5], [9, 11]]);
        let long = format!("{}転倒{}", "あ".repeat(100), "い".repeat(200));
        let (text, h) = m.snippet(&long);
        assert!(text.starts_with('…') && text.ends_with('…'));
        let chars: Vec<char> = text.chars().collect();
        let [s, e] = h[0];
        let shown: String = chars[s as usize..e as usize].iter().collect();
        assert_eq!(shown, "転倒");
    }
}
