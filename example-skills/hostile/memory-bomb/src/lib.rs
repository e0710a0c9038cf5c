//! Hostile: allocates without bound, touching every page.
use sandbot_sdk::prelude::*;

struct MemoryBomb;

impl Skill for MemoryBomb {
    fn describe() -> Manifest {
        Manifest::new("memory-bomb", env!("CARGO_PKG_VERSION"))
            .matcher(Matcher::regex("boom", "^bomb$"))
    }

    async fn handle(_cx: Context) -> Result<(), String> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![0xAB; 1 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}

sandbot_sdk::export!(MemoryBomb);
