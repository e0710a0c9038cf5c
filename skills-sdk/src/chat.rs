//! Talking in chat.

pub use crate::bindings::sandbot::skill::chat::{Target, react, respond, send, set_result};

/// Sends `text` to `room` on the event's connector.
pub fn send_to(room: &str, text: &str) -> Result<(), String> {
    send(
        &Target {
            room: room.into(),
            connector: None,
            thread: None,
        },
        text,
    )
}

/// Gives this execution a structured result beside what it says: a
/// workflow's templates read it as `tasks.<task>.result` (`{{
/// tasks.build.result.version }}`). Optional; the last call wins.
#[cfg(feature = "json")]
pub fn result_json<T: serde::Serialize>(value: &T) -> Result<(), String> {
    let json = serde_json::to_string(value).map_err(|e| e.to_string())?;
    set_result(&json)
}
