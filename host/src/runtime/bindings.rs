//! Generated bindings for the two skill worlds. The sync world reuses the
//! async world's import interfaces, so the host implements them once.

mod async_world {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "skill",
        imports: { default: async },
        exports: { default: async },
    });

    impl<T: Send + 'static> SkillPre<T> {
        /// [`SkillPre::instantiate_async`] without typechecking the exports
        /// again, which it does for every instance (a tenth of a fresh
        /// `hello` event's host CPU went to it).
        ///
        /// # Safety
        ///
        /// `instantiate_async` (or [`Skill::new`]) has succeeded on an
        /// instance of this same `SkillPre` before: every instance of one
        /// `InstancePre` has the same exports of the same types, which that
        /// call checked.
        pub async unsafe fn instantiate_checked_async(
            &self,
            mut store: impl wasmtime::AsContextMut<Data = T>,
        ) -> wasmtime::Result<Skill> {
            let mut store = store.as_context_mut();
            let instance = self.instance_pre.instantiate_async(&mut store).await?;
            let missing = || wasmtime::format_err!("a checked export is missing");
            Ok(Skill {
                describe: instance
                    .get_func(&mut store, self.indices.describe)
                    .ok_or_else(missing)?,
                handle: instance
                    .get_func(&mut store, self.indices.handle)
                    .ok_or_else(missing)?,
            })
        }
    }
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

    impl<T: Send + 'static> SkillSyncPre<T> {
        /// As the async world's `SkillPre::instantiate_checked_async`.
        ///
        /// # Safety
        ///
        /// `instantiate_async` (or [`SkillSync::new`]) has succeeded on an
        /// instance of this same `SkillSyncPre` before.
        pub async unsafe fn instantiate_checked_async(
            &self,
            mut store: impl wasmtime::AsContextMut<Data = T>,
        ) -> wasmtime::Result<SkillSync> {
            let mut store = store.as_context_mut();
            let instance = self.instance_pre.instantiate_async(&mut store).await?;
            let missing = || wasmtime::format_err!("a checked export is missing");
            Ok(SkillSync {
                describe: instance
                    .get_func(&mut store, self.indices.describe)
                    .ok_or_else(missing)?,
                handle: instance
                    .get_func(&mut store, self.indices.handle)
                    .ok_or_else(missing)?,
            })
        }
    }
}

pub use async_world::sandbot::skill::{chat, config, log, memory, types as wit};
pub use async_world::{Skill as AsyncSkill, SkillPre as AsyncSkillPre};
pub use sync_world::{SkillSync, SkillSyncPre};
