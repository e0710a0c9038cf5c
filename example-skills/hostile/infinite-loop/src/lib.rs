//! Hostile: never returns from `handle`.
use sandbot_sdk::prelude::*;

struct InfiniteLoop;

impl Skill for InfiniteLoop {
    fn describe() -> Manifest {
        Manifest::new("infinite-loop", env!("CARGO_PKG_VERSION"))
            .matcher(Matcher::regex("spin", "^loop$"))
    }

    async fn handle(_cx: Context) -> Result<(), String> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
}

sandbot_sdk::export!(InfiniteLoop);
