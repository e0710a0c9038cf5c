//! opsdroid's hello skill: answers a greeting with the same greeting and your name.
use sandbot_sdk::prelude::*;

struct Hello;

impl Skill for Hello {
    fn describe() -> Manifest {
        Manifest::new("hello", env!("CARGO_PKG_VERSION"))
            .description("Greets you back")
            .matcher(
                Matcher::regex("greet", "^(?P<greeting>hi|hello|hey|hallo)$")
                    .case_insensitive()
                    .help("hi | hello | hey | hallo — I greet you back"),
            )
    }

    async fn handle(cx: Context) -> Result<(), String> {
        let greeting = cx.capture("greeting").unwrap_or("hello").to_lowercase();
        let mut letters = greeting.chars();
        let first = letters
            .next()
            .map(|c| c.to_uppercase().to_string())
            .unwrap_or_default();
        cx.respond(format!("{first}{} {}", letters.as_str(), cx.user()))
    }
}

sandbot_sdk::export!(Hello);
