//! Talking in chat.

pub use crate::bindings::sandbot::skill::chat::{Target, react, respond, send};

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
