//! Generated bindings for the two skill worlds. The sync world reuses the
//! async world's import interfaces, so the host implements them once.

/// `instantiate_checked_async` for a world's generated `Pre` type.
macro_rules! checked_instantiation {
    ($pre:ident, $skill:ident) => {
        impl<T: Send + 'static> $pre<T> {
            /// `instantiate_async` without typechecking the exports again,
            /// which it does for every instance (3% of a fresh `hello`
            /// event's CPU went to it).
            ///
            /// # Safety
            ///
            /// `instantiate_async` (or the skill type's `new`) has succeeded
            /// on an instance of this same `Pre` before: every instance of
            /// one `InstancePre` has the same exports of the same types,
            /// which that call checked, and the generated calls rely on it.
            pub async unsafe fn instantiate_checked_async(
                &self,
                mut store: impl wasmtime::AsContextMut<Data = T>,
            ) -> wasmtime::Result<$skill> {
                let mut store = store.as_context_mut();
                let instance = self.instance_pre.instantiate_async(&mut store).await?;
                let missing = || wasmtime::format_err!("a checked export is missing");
                Ok($skill {
                    describe: instance
                        .get_func(&mut store, self.indices.describe)
                        .ok_or_else(missing)?,
                    handle: instance
                        .get_func(&mut store, self.indices.handle)
                        .ok_or_else(missing)?,
                })
            }
        }
    };
}

mod async_world {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "skill",
        imports: { default: async },
        exports: { default: async },
    });

    checked_instantiation!(SkillPre, Skill);
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

    checked_instantiation!(SkillSyncPre, SkillSync);
}

pub use async_world::sandbot::skill::{chat, config, log, memory, types as wit};
pub use async_world::{Skill as AsyncSkill, SkillPre as AsyncSkillPre};
pub use sync_world::{SkillSync, SkillSyncPre};
