//! opsdroid's loudnoises skill: answers a shouted message by shouting back.
use sandbot_sdk::prelude::*;

struct LoudNoises;

impl Skill for LoudNoises {
    fn describe() -> Manifest {
        Manifest::new("loudnoises", env!("CARGO_PKG_VERSION"))
            .description("Shouts back at shouting")
            // No lower-case letter anywhere, and at least two capitals in a row.
            .matcher(
                Matcher::regex("shout", r"^[^a-z]*[A-Z]{2,}[^a-z]*$")
                    .help("SAY SOMETHING IN CAPS — I SHOUT BACK"),
            )
    }

    async fn handle(cx: Context) -> Result<(), String> {
        let text = cx.text().trim_end_matches(['!', '.', '?']);
        cx.respond(format!("{text}!!! WHY ARE WE SHOUTING?"))
    }
}

sandbot_sdk::export!(LoudNoises);
