//! Hostile: `panic` panics with a message; `trap` executes `unreachable`.
use sandbot_sdk::prelude::*;

struct TrapAndPanic;

impl Skill for TrapAndPanic {
    fn describe() -> Manifest {
        Manifest::new("trap-and-panic", env!("CARGO_PKG_VERSION"))
            .matcher(Matcher::regex("panic", "^panic$"))
            .matcher(Matcher::regex("trap", "^trap$"))
    }

    async fn handle(cx: Context) -> Result<(), String> {
        if cx.text() == "panic" {
            let limit: Vec<u32> = Vec::new();
            panic!(
                "index {} is out of reach of {:?}",
                std::hint::black_box(7),
                limit
            );
        }
        #[cfg(target_arch = "wasm32")]
        core::arch::wasm32::unreachable();
        #[allow(unreachable_code)]
        Ok(())
    }
}

sandbot_sdk::export!(TrapAndPanic);
