//! {{name}}: a sandbot skill. Say `{{name}}` (or `{{name}} something`).
use sandbot_sdk::prelude::*;

struct {{Name}};

impl Skill for {{Name}} {
    fn describe() -> Manifest {
        Manifest::new("{{name}}", env!("CARGO_PKG_VERSION"))
            .description("What {{name}} does")
            .matcher(
                Matcher::regex("main", r"^{{name}}(?:\s+(?P<rest>.+))?$")
                    .case_insensitive()
                    .help("{{name}} [text] — answers you"),
            )
    }

    async fn handle(cx: Context) -> Result<(), String> {
        match cx.capture("rest") {
            Some(rest) => cx.respond(format!("{{name}} heard {rest}, {}", cx.user())),
            None => cx.respond(format!("Hello from {{name}}, {}", cx.user())),
        }
    }
}

sandbot_sdk::export!({{Name}});

#[cfg(test)]
mod tests {
    #[test]
    fn answers() {
        sandbot_sdk::conversation!()
            .user("alice")
            .say("{{name}}")
            .expect("Hello from {{name}}, alice")
            .say("{{name}} the build is green")
            .expect_match("^{{name}} heard the build is green")
            .say("something else")
            .expect_nothing()
            .run();
    }
}
