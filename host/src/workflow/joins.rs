//! Joins that could never run, seen from the file alone (the conductor
//! sees the rest as the run goes): a join waiting for more tasks than lead
//! to it, for a task no run reaches, for a task that comes only after it,
//! or for both sides of one task's `succeeded`/`failed` choice. The file
//! is then refused at load, at the join.

use super::spec::Target;

/// A workflow's tasks and the `do:`s between them, by position.
pub(super) struct Graph<'a> {
    pub(super) names: &'a [&'a str],
    /// By task, by `next:` entry.
    pub(super) targets: &'a [Vec<Vec<Target>>],
    /// By task, by `next:` entry: its `when` as written.
    pub(super) whens: &'a [Vec<&'a str>],
    /// By task: the distinct tasks that lead to it.
    pub(super) sources: &'a [Vec<usize>],
    pub(super) starts: &'a [usize],
}

/// Why join `i` (waiting for `join` of its sources, all when `None`)
/// could never run, if it could not.
pub(super) fn never_runs(g: &Graph, i: usize, join: Option<usize>) -> Option<String> {
    let name = g.names[i];
    let sources = &g.sources[i];
    let needed = join.unwrap_or(sources.len());
    if needed > sources.len() {
        return Some(format!(
            "`join: {needed}` waits for more tasks than the {} that lead to it",
            sources.len()
        ));
    }
    let mut from_starts = reachable(g.starts, g.targets);
    for &s in g.starts {
        from_starts[s] = true; // reached by starting
    }
    let after_join = reachable(&[i], g.targets);
    let mut never: Vec<String> = Vec::new();
    for &s in sources {
        if !from_starts[s] {
            never.push(format!("`{}` (no run reaches it)", g.names[s]));
        } else if join.is_none() && after_join[s] {
            never.push(format!("`{}` (it comes only after `{name}`)", g.names[s]));
        }
    }
    if join.is_none() {
        never.extend(exclusive_pairs(g, sources));
    }
    let possible = sources.len() - never.len().min(sources.len());
    (!never.is_empty() && possible < needed)
        .then(|| format!("the join can never run: it waits for {}", never.join(", ")))
}

/// Pairs of a join's sources that one task's end chooses between (one
/// reached only on `succeeded`, the other only on `failed`): both never
/// arrive.
fn exclusive_pairs(g: &Graph, sources: &[usize]) -> Vec<String> {
    // Each source's only way in, when it has one: (task, when).
    let only_way = |s: usize| -> Option<(usize, &str)> {
        let mut ways = g.targets.iter().enumerate().flat_map(|(t, entries)| {
            entries
                .iter()
                .enumerate()
                .filter(move |(_, e)| e.contains(&Target::Task(s)))
                .map(move |(n, _)| (t, g.whens[t][n]))
        });
        let first = ways.next()?;
        ways.next().is_none().then_some(first)
    };
    let mut found = Vec::new();
    for (n, &a) in sources.iter().enumerate() {
        for &b in &sources[n + 1..] {
            if let (Some((ta, wa)), Some((tb, wb))) = (only_way(a), only_way(b))
                && ta == tb
                && matches!((wa, wb), ("succeeded", "failed") | ("failed", "succeeded"))
            {
                found.push(format!(
                    "both `{}` and `{}` (`{}` leads to one or the other)",
                    g.names[a], g.names[b], g.names[ta]
                ));
            }
        }
    }
    found
}

/// Which tasks some path of `do:`s from `from` reaches (`from` itself
/// only when a path comes back to it).
fn reachable(from: &[usize], targets: &[Vec<Vec<Target>>]) -> Vec<bool> {
    let mut seen = vec![false; targets.len()];
    let mut todo: Vec<usize> = from.to_vec();
    while let Some(t) = todo.pop() {
        for target in targets[t].iter().flatten() {
            if let Target::Task(j) = *target
                && !seen[j]
            {
                seen[j] = true;
                todo.push(j);
            }
        }
    }
    seen
}
