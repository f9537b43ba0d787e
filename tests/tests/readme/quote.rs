//! The README's quotes of simulated runs: finding them, comparing them with
//! what a run gives now, and rewriting them (bless mode).
//!
//! A quote is announced by an HTML comment, invisible on the rendered page:
//!
//! - `<!-- readme-check: RUN -->` (or `RUN.PART`) alone on a line, right
//!   above a fenced code block: the block is what the run printed, line for
//!   line. Lines the run marks as wall-clock (timings of this machine) are
//!   left out of the comparison and kept as written when blessing.
//! - `<!-- readme-check: RUN.FIGURE -->` right before a number (`17`,
//!   `3,423`, `13.99`, `-0.5`): the figure, compared exactly at the precision
//!   written (`13.99` must be what the run gives, rounded to two decimals),
//!   or within a tolerance written in the marker, `<!-- readme-check:
//!   RUN.FIGURE ±0.5 -->` or `±5%`. Blessing rewrites the number with as
//!   many decimals as it had, with thousands separators if it had them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The environment variable that turns comparing into rewriting.
pub(crate) const BLESS: &str = "GOSSIP_README_BLESS";

/// Environment variables that change what the runs compute (another seed, a
/// sweep of another size): with one of them set, nothing is compared.
const CHANGE_THE_RUNS: [&str; 2] = ["GOSSIP_SIM_SEED", "GOSSIP_SIM_SEEDS"];

const OPEN: &str = "<!-- readme-check:";
const CLOSE: &str = "-->";

/// The README, from the crate's directory.
pub(crate) fn readme_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")
}

/// Tests in one binary run on several threads: one rewrites the README at a
/// time.
static README: Mutex<()> = Mutex::new(());

/// One marker in the README and what it quotes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Marker {
    /// The run, before the first dot.
    pub(crate) run: String,
    /// The block or figure of the run, after the first dot (empty: the run's
    /// only block).
    pub(crate) part: String,
    /// Line of the marker, from 1.
    pub(crate) line: usize,
    /// What the marker quotes.
    pub(crate) quote: Quote,
}

/// What a marker quotes, as a byte range of the README.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Quote {
    /// The lines of a fenced code block, without the fences; the range ends
    /// after the last line's newline.
    Block { content: std::ops::Range<usize> },
    /// A number; `tolerance` as written in the marker.
    Figure {
        number: std::ops::Range<usize>,
        tolerance: Option<Tolerance>,
    },
}

/// How far a figure may be from the run's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Tolerance {
    /// In the figure's unit.
    Absolute(f64),
    /// A share of the run's figure, in percent.
    Percent(f64),
}

impl Marker {
    /// `run` or `run.part`.
    pub(crate) fn id(&self) -> String {
        if self.part.is_empty() {
            self.run.clone()
        } else {
            format!("{}.{}", self.run, self.part)
        }
    }
}

/// Every marker in `text`, in order, or what is wrong with one.
pub(crate) fn markers(text: &str) -> Result<Vec<Marker>, String> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(start) = text[from..].find(OPEN).map(|i| i + from) {
        // `<!-- readme-check: … -->` in code is the syntax shown, not a marker.
        if text[..start].ends_with('`') {
            from = start + OPEN.len();
            continue;
        }
        let line = text[..start].matches('\n').count() + 1;
        let end = text[start..]
            .find(CLOSE)
            .map(|i| i + start)
            .ok_or_else(|| format!("README.md:{line}: a marker without {CLOSE}"))?;
        let inside = text[start + OPEN.len()..end].trim();
        let (id, tolerance) = match inside.split_once(char::is_whitespace) {
            Some((id, tolerance)) => (id, Some(tolerance.trim())),
            None => (inside, None),
        };
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(format!(
                "README.md:{line}: marker id {id:?}: letters, digits, - _ ."
            ));
        }
        let (run, part) = id.split_once('.').unwrap_or((id, ""));
        let after = end + CLOSE.len();
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let alone = text[line_start..start].trim().is_empty() && text[after..].starts_with('\n');
        let quote = if alone && text[after + 1..].starts_with("```") {
            if tolerance.is_some() {
                return Err(format!(
                    "README.md:{line}: a block is quoted exactly, no tolerance"
                ));
            }
            let fence_end = text[after + 1..]
                .find('\n')
                .map(|i| i + after + 2)
                .ok_or_else(|| format!("README.md:{line}: a block without content"))?;
            let close = text[fence_end..]
                .match_indices("```")
                .find(|&(i, _)| i == 0 || text.as_bytes()[fence_end + i - 1] == b'\n')
                .map(|(i, _)| i + fence_end)
                .ok_or_else(|| format!("README.md:{line}: a block that is never closed"))?;
            Quote::Block {
                content: fence_end..close,
            }
        } else {
            let length = number_length(&text[after..]);
            if length == 0 {
                return Err(format!(
                    "README.md:{line}: {id}: no number right after the marker, nor a fenced \
                     block on the next line"
                ));
            }
            let tolerance = tolerance
                .map(|t| parse_tolerance(t).map_err(|e| format!("README.md:{line}: {e}")))
                .transpose()?;
            Quote::Figure {
                number: after..after + length,
                tolerance,
            }
        };
        found.push(Marker {
            run: run.to_string(),
            part: part.to_string(),
            line,
            quote,
        });
        from = after;
    }
    Ok(found)
}

fn parse_tolerance(text: &str) -> Result<Tolerance, String> {
    let value = text
        .strip_prefix('±')
        .ok_or_else(|| format!("tolerance {text:?}: ±X or ±X%"))?;
    let (value, percent) = match value.strip_suffix('%') {
        Some(value) => (value, true),
        None => (value, false),
    };
    let value: f64 = value
        .parse()
        .map_err(|_| format!("tolerance {text:?}: ±X or ±X%"))?;
    Ok(if percent {
        Tolerance::Percent(value)
    } else {
        Tolerance::Absolute(value)
    })
}

/// Bytes of the number `text` starts with: an optional minus sign, digits
/// with optional thousands separators, optional decimals.
fn number_length(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut i = usize::from(bytes.first() == Some(&b'-'));
    let digits_from = i;
    while i < bytes.len()
        && (bytes[i].is_ascii_digit()
            || (bytes[i] == b','
                && i > digits_from
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)))
    {
        i += 1;
    }
    if i == digits_from {
        return 0;
    }
    if bytes.get(i) == Some(&b'.') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
    }
    i
}

/// `value` written the way `like` is: as many decimals, thousands
/// separators if it has them.
pub(crate) fn format_like(value: f64, like: &str) -> String {
    let decimals = like.split_once('.').map_or(0, |(_, d)| d.len());
    let plain = format!("{value:.decimals$}");
    // "-0" and "-0.0" are 0 as written.
    let plain = if plain
        .trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        plain.trim_start_matches('-').to_string()
    } else {
        plain
    };
    if !like.contains(',') {
        return plain;
    }
    let (sign, unsigned) = match plain.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", plain.as_str()),
    };
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (unsigned, None),
    };
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    match fraction {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// What one run gives for the README: blocks of text, figures, and files
/// the README shows (plots).
#[derive(Debug, Default)]
pub(crate) struct Quotes {
    run: String,
    blocks: Vec<Block>,
    figures: Vec<(String, f64)>,
    files: Vec<(String, Vec<u8>)>,
}

#[derive(Debug)]
struct Block {
    part: String,
    text: String,
    /// Lines starting with one of these (after leading spaces) are timings
    /// of this machine: not compared, kept as written.
    wall_clock: Vec<String>,
}

impl Block {
    fn is_wall_clock(&self, line: &str) -> bool {
        let line = line.trim_start();
        self.wall_clock.iter().any(|p| line.starts_with(p.as_str()))
    }
}

/// A difference between the README and a run.
#[derive(Debug, PartialEq)]
pub(crate) struct Difference {
    /// `run.part`.
    pub(crate) id: String,
    /// Line of the marker.
    pub(crate) line: usize,
    /// What is wrong, in a sentence or a few lines.
    pub(crate) what: String,
}

impl Quotes {
    /// Quotes of the run the README's markers call `run`.
    pub(crate) fn new(run: &str) -> Self {
        Quotes {
            run: run.to_string(),
            ..Quotes::default()
        }
    }

    /// A block of output, quoted under `<!-- readme-check: RUN.PART -->`
    /// (`part` empty: `RUN`).
    pub(crate) fn block(&mut self, part: &str, text: impl Into<String>) -> &mut Self {
        self.blocks.push(Block {
            part: part.to_string(),
            text: text.into(),
            wall_clock: Vec::new(),
        });
        self
    }

    /// Lines of the last block that start with `prefix` (after leading
    /// spaces) are timings of the machine that ran it.
    pub(crate) fn wall_clock(&mut self, prefix: &str) -> &mut Self {
        self.blocks
            .last_mut()
            .expect("a block first")
            .wall_clock
            .push(prefix.to_string());
        self
    }

    /// A figure, quoted under `<!-- readme-check: RUN.NAME -->`.
    pub(crate) fn figure(&mut self, name: &str, value: f64) -> &mut Self {
        assert!(
            !self.figures.iter().any(|(n, _)| n == name),
            "{}.{name} given twice",
            self.run
        );
        self.figures.push((name.to_string(), value));
        self
    }

    /// A file the README shows, by its path from the repository's root
    /// (`docs/simulate.svg`), as the run wrote it.
    pub(crate) fn file(&mut self, path: &str, content: Vec<u8>) -> &mut Self {
        self.files.push((path.to_string(), content));
        self
    }

    /// Compares every quote of this run in `text` with what the run gave;
    /// returns the differences and `text` with every quote replaced by the
    /// run's (wall-clock lines kept).
    pub(crate) fn compare(&self, text: &str) -> Result<(Vec<Difference>, String), String> {
        let markers: Vec<Marker> = markers(text)?
            .into_iter()
            .filter(|m| m.run == self.run)
            .collect();
        if markers.is_empty() {
            return Err(format!("README.md has no marker of {}", self.run));
        }
        let mut differences = Vec::new();
        let mut replacements = Vec::new();
        for marker in &markers {
            let id = marker.id();
            let differ = |what: String| Difference {
                id: id.clone(),
                line: marker.line,
                what,
            };
            match &marker.quote {
                Quote::Block { content } => {
                    let block = self
                        .blocks
                        .iter()
                        .find(|b| b.part == marker.part)
                        .ok_or_else(|| {
                            format!("README.md:{}: {id} is no block of the run", marker.line)
                        })?;
                    let quoted = &text[content.clone()];
                    let (fresh, difference) = block_against(block, quoted);
                    if let Some(what) = difference {
                        differences.push(differ(what));
                    }
                    replacements.push((content.clone(), fresh));
                }
                Quote::Figure { number, tolerance } => {
                    let value = self
                        .figures
                        .iter()
                        .find(|(n, _)| *n == marker.part)
                        .map(|&(_, v)| v)
                        .ok_or_else(|| {
                            format!("README.md:{}: {id} is no figure of the run", marker.line)
                        })?;
                    let written = &text[number.clone()];
                    let fresh = format_like(value, written);
                    let quoted: f64 = written.replace(',', "").parse().expect("a number");
                    let within = match tolerance {
                        None => fresh == written,
                        Some(Tolerance::Absolute(t)) => (quoted - value).abs() <= *t,
                        Some(Tolerance::Percent(p)) => {
                            (quoted - value).abs() <= value.abs() * p / 100.0
                        }
                    };
                    if !within {
                        let allowed = match tolerance {
                            None => "exactly, as written".to_string(),
                            Some(Tolerance::Absolute(t)) => format!("±{t}"),
                            Some(Tolerance::Percent(p)) => format!("±{p}%"),
                        };
                        differences.push(differ(format!(
                            "the README says {written}, the run gives {fresh} ({value}; compared {allowed})"
                        )));
                        replacements.push((number.clone(), fresh));
                    }
                }
            }
        }
        let unquoted: Vec<String> = self
            .blocks
            .iter()
            .map(|b| b.part.clone())
            .chain(self.figures.iter().map(|(n, _)| n.clone()))
            .filter(|part| !markers.iter().any(|m| &m.part == part))
            .map(|part| format!("{}.{part}", self.run))
            .collect();
        if !unquoted.is_empty() {
            return Err(format!(
                "the run gives what README.md does not quote: {}",
                unquoted.join(", ")
            ));
        }
        replacements.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
        let mut blessed = text.to_string();
        for (range, fresh) in replacements {
            blessed.replace_range(range, &fresh);
        }
        Ok((differences, blessed))
    }

    /// Compares the README's quotes of this run with what the run gave, and
    /// panics with every difference; with `GOSSIP_README_BLESS=1`, rewrites
    /// them instead.
    pub(crate) fn settle(&self) {
        let _one_at_a_time = README.lock().unwrap_or_else(|e| e.into_inner());
        let path = readme_path();
        let text = std::fs::read_to_string(&path).expect("README.md is readable");
        let (mut differences, blessed) = self.compare(&text).unwrap_or_else(|e| panic!("{e}"));
        let root = path.parent().expect("the repository").to_path_buf();
        let stale_files: Vec<&(String, Vec<u8>)> = self
            .files
            .iter()
            .filter(|(file, content)| std::fs::read(root.join(file)).ok().as_ref() != Some(content))
            .collect();
        for (file, _) in &stale_files {
            differences.push(Difference {
                id: self.run.clone(),
                line: 0,
                what: format!("{file} differs from what the run draws now"),
            });
        }
        if let Some(name) = CHANGE_THE_RUNS
            .iter()
            .find(|v| std::env::var_os(v).is_some())
        {
            println!(
                "{name} is set: {} is not compared with README.md ({} differences)",
                self.run,
                differences.len()
            );
            for d in &differences {
                println!("README.md:{}: {}: {}", d.line, d.id, d.what);
            }
            return;
        }
        if std::env::var_os(BLESS).is_some_and(|v| v != "0" && !v.is_empty()) {
            if blessed != text {
                std::fs::write(&path, &blessed).expect("README.md is writable");
            }
            for (file, content) in stale_files {
                std::fs::write(root.join(file), content).expect("the file is writable");
            }
            for d in &differences {
                println!("README.md:{}: {}: rewritten: {}", d.line, d.id, d.what);
            }
            return;
        }
        if !differences.is_empty() {
            let mut message = format!(
                "README.md quotes {} differently from what it gives now:\n",
                self.run
            );
            for d in &differences {
                let _ = writeln!(message, "README.md:{}: {}: {}", d.line, d.id, d.what);
            }
            let _ = write!(
                message,
                "If the change is meant, rewrite the quotes: {BLESS}=1 cargo test -p gossip-sim \
                 --test readme{}",
                if cfg!(debug_assertions) {
                    ""
                } else {
                    " --release"
                }
            );
            panic!("{message}");
        }
    }
}

/// The block as the run gives it, with the README's wall-clock lines kept,
/// and what differs, if anything.
fn block_against(block: &Block, quoted: &str) -> (String, Option<String>) {
    let mut kept = quoted.lines().filter(|l| block.is_wall_clock(l));
    let mut fresh = String::new();
    for line in block.text.lines() {
        let line = if block.is_wall_clock(line) {
            kept.next().unwrap_or(line)
        } else {
            line
        };
        fresh.push_str(line.trim_end());
        fresh.push('\n');
    }
    let compared = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !block.is_wall_clock(l))
            .map(|l| l.trim_end().to_string())
            .collect()
    };
    let (was, now) = (compared(quoted), compared(&fresh));
    if was == now {
        return (fresh, None);
    }
    let mut what = String::from("the block differs (- README, + run):");
    let first = was.iter().zip(&now).take_while(|(a, b)| a == b).count();
    for line in was.iter().skip(first).take(6) {
        let _ = write!(what, "\n    - {line}");
    }
    for line in now.iter().skip(first).take(6) {
        let _ = write!(what, "\n    + {line}");
    }
    if was.len().max(now.len()) > first + 6 {
        let _ = write!(what, "\n    ...");
    }
    (fresh, Some(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    const README: &str = "# x\n\
        Detection took <!-- readme-check: cli.detect -->13.99 s, \
        <!-- readme-check: cli.fails ±2% -->3,423 failures.\n\
        <!-- readme-check: cli -->\n\
        ```text\n\
        a 1\n  setup / total  0.2 s\nb 2\n\
        ```\n\
        and <!-- readme-check: other.x -->5 more\n";

    #[test]
    fn markers_are_found_with_what_they_quote() {
        let found = markers(README).unwrap();
        let ids: Vec<String> = found.iter().map(Marker::id).collect();
        assert_eq!(ids, ["cli.detect", "cli.fails", "cli", "other.x"]);
        let Quote::Figure { number, tolerance } = &found[1].quote else {
            panic!("a figure")
        };
        assert_eq!(&README[number.clone()], "3,423");
        assert_eq!(*tolerance, Some(Tolerance::Percent(2.0)));
        let Quote::Block { content } = &found[2].quote else {
            panic!("a block")
        };
        assert_eq!(
            &README[content.clone()],
            "a 1\n  setup / total  0.2 s\nb 2\n"
        );
        assert_eq!(found[2].line, 3);
    }

    #[test]
    fn markers_in_code_are_the_syntax_shown() {
        let text = "Write `<!-- readme-check: RUN.FIGURE -->` before a figure: \
                    <!-- readme-check: cli.x -->5";
        let ids: Vec<String> = markers(text).unwrap().iter().map(Marker::id).collect();
        assert_eq!(ids, ["cli.x"]);
    }

    #[test]
    fn bad_markers_are_refused() {
        assert!(markers("<!-- readme-check: x.y -->many").is_err());
        assert!(markers("<!-- readme-check: x.y").is_err());
        assert!(markers("<!-- readme-check: x.y ~3 -->5").is_err());
        assert!(markers("<!-- readme-check: x y z -->5").is_err());
        assert!(markers("<!-- readme-check: x -->\n```text\nnever closed\n").is_err());
    }

    #[test]
    fn figures_are_written_like_the_readme_writes_them() {
        assert_eq!(format_like(16.984, "16.37"), "16.98");
        assert_eq!(format_like(6856.0, "3,423"), "6,856");
        assert_eq!(format_like(1234567.891, "1,000.0"), "1,234,567.9");
        assert_eq!(format_like(93.4, "93"), "93");
        assert_eq!(format_like(-0.01, "0.0"), "0.0");
        assert_eq!(format_like(-12.5, "-1.0"), "-12.5");
        assert_eq!(number_length("1,000 nodes"), 5);
        assert_eq!(number_length("5.05× less"), 4);
        assert_eq!(number_length("3, and"), 1);
        assert_eq!(number_length("17."), 2);
    }

    fn run() -> Quotes {
        let mut q = Quotes::new("cli");
        q.figure("detect", 13.99).figure("fails", 3480.0);
        q.block("", "a 1\n  setup / total  9.9 s\nb 2\n")
            .wall_clock("setup / total");
        q
    }

    #[test]
    fn equal_quotes_and_wall_clock_lines_do_not_differ() {
        let (differences, blessed) = run().compare(README).unwrap();
        assert_eq!(differences, []);
        assert_eq!(blessed, README, "the README's wall-clock line is kept");
    }

    #[test]
    fn differences_are_told_and_blessing_rewrites_them() {
        let mut q = Quotes::new("cli");
        q.figure("detect", 14.004).figure("fails", 3600.0);
        q.block("", "a 1\n  setup / total  9.9 s\nb 3\nc 4\n")
            .wall_clock("setup / total");
        let (differences, blessed) = q.compare(README).unwrap();
        let what: Vec<&str> = differences.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(what, ["cli.detect", "cli.fails", "cli"]);
        assert!(
            differences[0]
                .what
                .contains("says 13.99, the run gives 14.00")
        );
        assert!(differences[2].what.contains("- b 2\n    + b 3\n    + c 4"));
        assert!(blessed.contains("took <!-- readme-check: cli.detect -->14.00 s"));
        assert!(blessed.contains("-->3,600 failures"));
        assert!(blessed.contains("a 1\n  setup / total  0.2 s\nb 3\nc 4\n```\nand"));
        let (again, same) = q.compare(&blessed).unwrap();
        assert_eq!((again, same.as_str()), (vec![], blessed.as_str()));
    }

    #[test]
    fn a_run_must_quote_what_it_gives_and_give_what_is_quoted() {
        let mut q = run();
        q.figure("unused", 1.0);
        assert!(q.compare(README).unwrap_err().contains("cli.unused"));
        let mut q = Quotes::new("cli");
        q.figure("detect", 13.99);
        assert!(q.compare(README).unwrap_err().contains("cli.fails"));
        assert!(Quotes::new("absent").compare(README).is_err());
    }
}
