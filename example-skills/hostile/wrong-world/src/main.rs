//! Hostile: a plain wasm32-wasip2 program (world wasi:cli/command), not a
//! sandbot skill. The bot must refuse it at load with a clear reason.

fn main() {
    println!("I am a command, not a skill");
}
