//! Hostile: recurses without end until the wasm call stack runs out.
use sandbot_sdk::prelude::*;

struct DeepRecursion;

#[inline(never)]
#[allow(unconditional_recursion)]
fn descend(depth: u64) -> u64 {
    // `black_box` after the call keeps it from being a tail call the
    // optimiser could turn into a loop.
    std::hint::black_box(descend(depth + 1)) ^ depth
}

impl Skill for DeepRecursion {
    fn describe() -> Manifest {
        Manifest::new("deep-recursion", env!("CARGO_PKG_VERSION"))
            .matcher(Matcher::regex("recurse", "^recurse$"))
    }

    async fn handle(cx: Context) -> Result<(), String> {
        let n = descend(0);
        cx.respond(format!("reached {n}"))
    }
}

sandbot_sdk::export!(DeepRecursion);
