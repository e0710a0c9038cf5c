//! Write sandbot skills in Rust.
//!
//! ```ignore
//! use sandbot_sdk::prelude::*;
//!
//! struct Hello;
//!
//! impl Skill for Hello {
//!     fn describe() -> Manifest {
//!         Manifest::new("hello", env!("CARGO_PKG_VERSION"))
//!             .matcher(Matcher::regex("greet", "^hi$").help("hi — I say hi back"))
//!     }
//!
//!     async fn handle(cx: Context) -> Result<(), String> {
//!         cx.respond(format!("Hi {}", cx.user()))
//!     }
//! }
//!
//! sandbot_sdk::export!(Hello);
//! ```
//!
//! A skill that reads settings (`config::get`) declares them in
//! [`Skill::settings`]: the bot then refuses a key of its section of
//! configuration.yaml it does not declare (a misspelt `urll:`), and a
//! missing required one, at start, on reload and in `sandbot config
//! validate`.
//!
//! Build with `cargo build --target wasm32-wasip2 --release` and drop the
//! `.wasm` into the bot's skills folder.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "skill-with-settings",
        pub_export_macro: true,
        default_bindings_module: "sandbot_sdk::bindings",
        export_macro_name: "__export_skill_bindings",
    });
}

mod context;
mod manifest;

pub mod chat;
pub mod config;
#[cfg(feature = "http")]
pub mod http;
pub mod log;
pub mod memory;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use bindings::sandbot::skill::types::{
    CrontabMatcher, Event, EventKind, Manifest, Matcher, MatcherKind, Membership, Message,
    Reaction, RegexMatcher, ScheduleTick, Setting, WebhookRequest,
};
pub use context::Context;

/// A skill: what it answers to, and what it does then.
pub trait Skill {
    /// Called once when the skill is loaded.
    fn describe() -> Manifest;

    /// The settings it reads from its section of configuration.yaml, called
    /// at load after `describe`. `Some`: every other key of the section is
    /// refused (with the declared name it is nearest), and so is a missing
    /// [`Setting::required`] one (`Some(vec![])`: it reads none). `None`,
    /// the default: nothing is checked.
    ///
    /// ```ignore
    /// fn settings() -> Option<Vec<Setting>> {
    ///     Some(vec![Setting::new("url").help("Alertmanager's base URL").required()])
    /// }
    /// ```
    fn settings() -> Option<Vec<Setting>> {
        None
    }

    /// Called for each event one of the skill's matchers took. An `Err` is
    /// logged by the bot and shown to the user.
    #[allow(async_fn_in_trait)]
    async fn handle(cx: Context) -> Result<(), String>;
}

/// Everything a skill usually needs, in one `use`.
pub mod prelude {
    #[cfg(feature = "http")]
    pub use crate::http;
    pub use crate::{
        Context, Event, EventKind, Manifest, Matcher, Setting, Skill, chat, config, log, memory,
    };
}

/// Makes a type implementing [`Skill`] the skill this component exports.
#[macro_export]
macro_rules! export {
    ($skill:ident) => {
        const _: () = {
            impl $crate::bindings::Guest for $skill {
                fn describe() -> $crate::Manifest {
                    <$skill as $crate::Skill>::describe()
                }

                fn settings() -> ::std::option::Option<::std::vec::Vec<$crate::Setting>> {
                    <$skill as $crate::Skill>::settings()
                }

                async fn handle(
                    event: $crate::Event,
                    matcher_id: ::std::string::String,
                    captures: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    <$skill as $crate::Skill>::handle($crate::Context::new(
                        event, matcher_id, captures,
                    ))
                    .await
                }
            }

    $crate::bindings::__export_skill_bindings!($skill with_types_in $crate::bindings);
        };
    };
}
