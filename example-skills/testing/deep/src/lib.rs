//! Test skill: a structured result nested as deep as asked, to try the
//! bound a workflow's store holds results to. `nest 127` (as a workflow's
//! task: the capture `depth`) calls `set-result` with 127 arrays one inside
//! the other and says so; a refused result fails the execution with the
//! bot's reason.
use sandbot_sdk::prelude::*;

struct Deep;

impl Skill for Deep {
    fn describe() -> Manifest {
        Manifest::new("deep", env!("CARGO_PKG_VERSION"))
            .matcher(Matcher::regex("nest", r"^nest (?P<depth>\d+)$").help("nest <depth>"))
    }

    async fn handle(cx: Context) -> Result<(), String> {
        let depth: usize = cx
            .capture("depth")
            .unwrap_or("1")
            .parse()
            .map_err(|_| "depth: not a number")?;
        let json = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        sandbot_sdk::chat::set_result(&json)?;
        cx.respond(format!("result nested {depth} deep"))
    }
}

sandbot_sdk::export!(Deep);
