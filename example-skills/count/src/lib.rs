//! Counts things, correctly however many people count at once: each count
//! is one atomic step in the bot's memory, never a read followed by a write.
//!
//!     count coffee        -> coffee: 1       (increment)
//!     count coffee by 5   -> coffee: 6
//!     recount coffee      -> coffee: 7       (compare-and-swap, retried)
//!     how many coffee     -> coffee: 7
//!     reset coffee tea    -> reset coffee, tea   (one batch: all or none)
//!     fill 3              -> filled 3 keys       (one batch of 3 puts)
use sandbot_sdk::memory::Write;
use sandbot_sdk::prelude::*;

fn key(name: &str) -> String {
    format!("count:{}", name.to_lowercase())
}

struct Count;

impl Skill for Count {
    fn describe() -> Manifest {
        Manifest::new("count", env!("CARGO_PKG_VERSION"))
            .description("Counts things, atomically, however many count at once")
            .matcher(
                Matcher::regex("count", r"^count (?P<name>\S+)(?: by (?P<by>-?\d+))?$")
                    .help("count <thing> [by <n>] — add one (or n) to <thing>"),
            )
            .matcher(
                Matcher::regex("recount", r"^recount (?P<name>\S+)$")
                    .help("recount <thing> — add one, by compare-and-swap"),
            )
            .matcher(
                Matcher::regex("how-many", r"^how many (?P<name>\S+)\??$")
                    .help("how many <thing> — its count so far"),
            )
            .matcher(
                Matcher::regex("reset", r"^reset (?P<names>\S+(?: \S+)*)$")
                    .help("reset <thing> [<thing> …] — back to zero, all at once"),
            )
            .matcher(
                Matcher::regex("fill", r"^fill (?P<n>\d+)$")
                    .help("fill <n> — count n things at 100 each, in one batch"),
            )
    }

    async fn handle(cx: Context) -> Result<(), String> {
        let name = cx.capture("name").unwrap_or_default().to_owned();
        match cx.matcher.as_str() {
            "count" => {
                let by = match cx.capture("by") {
                    Some(n) => n.parse().map_err(|_| format!("{n} is not a number"))?,
                    None => 1,
                };
                let now = memory::increment(&key(&name), by)?;
                cx.respond(format!("{name}: {now}"))
            }
            "recount" => {
                // The general pattern for any read-modify-write: read, compute,
                // swap only if nobody wrote in between, else again.
                let now = memory::update(&key(&name), |old| {
                    let n: i64 = old.and_then(|v| v.parse().ok()).unwrap_or(0);
                    (n + 1).to_string()
                })?;
                cx.respond(format!("{name}: {now}"))
            }
            "how-many" => {
                let now = memory::get(&key(&name))?.unwrap_or_else(|| "0".into());
                cx.respond(format!("{name}: {now}"))
            }
            "reset" => {
                let names: Vec<&str> = cx.capture("names").unwrap_or_default().split(' ').collect();
                let writes: Vec<Write> = names.iter().map(|n| Write::Delete(key(n))).collect();
                memory::batch(&writes)?;
                cx.respond(format!("reset {}", names.join(", ")))
            }
            "fill" => {
                let n: usize = cx
                    .capture("n")
                    .unwrap_or("0")
                    .parse()
                    .map_err(|_| "too many")?;
                let writes: Vec<Write> = (1..=n)
                    .map(|i| Write::Put((key(&format!("fill{i}")), "100".into())))
                    .collect();
                memory::batch(&writes)?;
                cx.respond(format!("filled {n} keys"))
            }
            other => Err(format!("unknown matcher {other}")),
        }
    }
}

sandbot_sdk::export!(Count);
