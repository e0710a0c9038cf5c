//! Generated bindings for the two skill worlds. The sync world reuses the
//! async world's import interfaces, so the host implements them once.

mod async_world {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "skill",
        imports: { default: async },
        exports: { default: async },
    });
}

mod sync_world {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "skill-sync",
        imports: { default: async },
        exports: { default: async },
        with: {
            "sandbot:skill/types": super::async_world::sandbot::skill::types,
            "sandbot:skill/chat": super::async_world::sandbot::skill::chat,
            "sandbot:skill/memory": super::async_world::sandbot::skill::memory,
            "sandbot:skill/config": super::async_world::sandbot::skill::config,
            "sandbot:skill/log": super::async_world::sandbot::skill::log,
        },
    });
}

pub use async_world::sandbot::skill::{chat, config, log, memory, types as wit};
pub use async_world::{Skill as AsyncSkill, SkillPre as AsyncSkillPre};
pub use sync_world::{SkillSync, SkillSyncPre};
