//! How close two words are, for "did you mean": a misspelt key in the
//! configuration, a slip in a chat command. One measure everywhere, so the
//! bot suggests alike wherever it suggests.

/// Edits between two words, a swap of neighbours counting as one
/// (`hepl` is one slip from `help`).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// The candidate nearest `word` within two edits (one for words of three
/// letters or fewer, where two would fit nearly anything), case and `_`/`-`
/// aside; the first of equals.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let folded = word.to_ascii_lowercase().replace('_', "-");
    let most = if folded.chars().count() <= 3 { 1 } else { 2 };
    candidates
        .into_iter()
        .map(|c| (edit_distance(&folded, c), c))
        .filter(|(d, _)| *d <= most)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slips_are_near_and_other_words_are_not() {
        assert_eq!(edit_distance("deplyo", "deploy"), 1);
        assert_eq!(edit_distance("hepl", "help"), 1);
        assert_eq!(edit_distance("hello", "help"), 2);
        let keys = ["connectors", "skills", "skills-dir", "web"];
        assert_eq!(closest("conectors", keys), Some("connectors"));
        assert_eq!(closest("Skills_Dir", keys), Some("skills-dir"));
        assert_eq!(closest("wbe", keys), Some("web"));
        assert_eq!(closest("history", keys), None);
        assert_eq!(closest("ab", keys), None);
    }
}
