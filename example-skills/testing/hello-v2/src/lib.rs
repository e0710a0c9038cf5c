//! A second build of `hello` that answers differently, for hot-reload tests.
use sandbot_sdk::prelude::*;

struct Hello;

impl Skill for Hello {
    fn describe() -> Manifest {
        Manifest::new("hello", env!("CARGO_PKG_VERSION"))
            .description("Greets you back, formally")
            .matcher(Matcher::regex("greet", "^(hi|hello|hey|hallo)$").case_insensitive())
    }

    async fn handle(cx: Context) -> Result<(), String> {
        cx.respond(format!("Good day, {}", cx.user()))
    }
}

sandbot_sdk::export!(Hello);
