//! Lines for the bot's log, tagged with the skill's name.

pub use crate::bindings::sandbot::skill::log::Level;
use crate::bindings::sandbot::skill::log::log;

pub fn debug(message: &str) {
    log(Level::Debug, message)
}
pub fn info(message: &str) {
    log(Level::Info, message)
}
pub fn warn(message: &str) {
    log(Level::Warn, message)
}
pub fn error(message: &str) {
    log(Level::Error, message)
}
