//! The byte budget of one record: every text that came from outside is
//! cut to `history.max-text` before the record is queued.

use crate::event::{Execution, ResponseBody};

/// Cuts every text of `e` to `max` bytes, marked (`text::cut_marked`): what
/// came from outside (a message, captures, answers, an error, names, ids
/// of rooms and users) cannot grow a record past a known size. Its id and
/// the event's stay whole: they identify it.
pub(super) fn cut_texts(e: &mut Execution, max: usize) {
    let cut = |s: &mut String| {
        if s.len() > max {
            *s = crate::text::cut_marked(s, max).into_owned();
        }
    };
    let cut_opt = |s: &mut Option<String>| {
        if let Some(s) = s {
            cut(s);
        }
    };
    for s in [&mut e.skill, &mut e.version, &mut e.sha256, &mut e.matcher] {
        cut(s);
    }
    for s in [
        &mut e.alias,
        &mut e.connector,
        &mut e.room,
        &mut e.thread,
        &mut e.user,
        &mut e.user_id,
        &mut e.text,
        &mut e.error,
        &mut e.parent,
        &mut e.undelivered,
    ] {
        cut_opt(s);
    }
    for (k, v) in &mut e.captures {
        cut(k);
        cut(v);
    }
    e.denials.iter_mut().for_each(cut);
    for r in &mut e.responses {
        cut(&mut r.target.connector);
        cut(&mut r.target.room);
        cut_opt(&mut r.target.thread);
        match &mut r.body {
            ResponseBody::Text(t) => cut(t),
            ResponseBody::Reaction { message_id, emoji } => {
                cut(message_id);
                cut(emoji);
            }
        }
    }
}

/// Does every text [`cut_texts`] would cut already fit in `max` bytes (so
/// the record can be queued as it is)? The same fields, read only.
pub(super) fn fits_texts(e: &Execution, max: usize) -> bool {
    let fits = |s: &str| s.len() <= max;
    let fits_opt = |s: &Option<String>| s.as_deref().is_none_or(fits);
    [&e.skill, &e.version, &e.sha256, &e.matcher]
        .into_iter()
        .all(|s| fits(s))
        && [
            &e.alias,
            &e.connector,
            &e.room,
            &e.thread,
            &e.user,
            &e.user_id,
            &e.text,
            &e.error,
            &e.parent,
            &e.undelivered,
        ]
        .into_iter()
        .all(fits_opt)
        && e.captures.iter().all(|(k, v)| fits(k) && fits(v))
        && e.denials.iter().all(|d| fits(d))
        && e.responses.iter().all(|r| {
            fits(&r.target.connector)
                && fits(&r.target.room)
                && fits_opt(&r.target.thread)
                && match &r.body {
                    ResponseBody::Text(t) => fits(t),
                    ResponseBody::Reaction { message_id, emoji } => fits(message_id) && fits(emoji),
                }
        })
}
