//! Hostile: `describe` spins forever, so the skill can never be loaded.
use sandbot_sdk::prelude::*;

struct DescribeNeverReturns;

impl Skill for DescribeNeverReturns {
    fn describe() -> Manifest {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }

    async fn handle(_cx: Context) -> Result<(), String> {
        Ok(())
    }
}

sandbot_sdk::export!(DescribeNeverReturns);
