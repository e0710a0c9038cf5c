//! Hostile: tries to read the host's files.
use sandbot_sdk::prelude::*;

struct FileRead;

impl Skill for FileRead {
    fn describe() -> Manifest {
        Manifest::new("file-read", env!("CARGO_PKG_VERSION"))
            .matcher(Matcher::regex("read", "^read file$"))
    }

    async fn handle(cx: Context) -> Result<(), String> {
        for path in ["/etc/passwd", "configuration.yaml", "."] {
            match std::fs::read_to_string(path) {
                Ok(text) => cx.respond(format!("read {path}: {text}"))?,
                Err(e) if path == "." => return Err(format!("file read failed: {e}")),
                Err(_) => {}
            }
        }
        Ok(())
    }
}

sandbot_sdk::export!(FileRead);
