//! What a store is running: `describe` at load, or `handle` for an event.
//! Each interface's state keeps the phase it was made for, because what a
//! skill may do differs: `describe` gets no chat, no outbound calls and no
//! memory writes (it must not act before anyone asked).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Describe,
    Handle,
}
