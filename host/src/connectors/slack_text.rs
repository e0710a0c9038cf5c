//! Slack's text both ways: what a skill sees of a message (the bot's
//! mention out, Slack's markup read as the text a person sees, its escapes
//! undone), and a skill's answer escaped so Slack shows it and does not act
//! on it, with the weight of each character once escaped, for the one
//! splitter (`split`) to cut long answers within Slack's size.

/// The text a skill sees for a Slack message's text: the bot's mention
/// (`<@UBOT>` or `<@UBOT|name>`) taken out, Slack's markup turned back into
/// what a person reads (Slack's documented message formatting) and its
/// escapes (`&lt;`, `&gt;`, `&amp;`) undone:
/// - `<#C123|ops>` is `#ops` (`#C123` without a name);
/// - `<https://x>` is the URL; `<https://x|label>` the label when it is what
///   the user typed (`x`, Slack's own auto-link, or `mailto:` stripped) and
///   `label (https://x)` otherwise, so the URL is never lost;
/// - `<!here>`, `<!channel>`, `<!everyone>` are `@here`, ...; other `<!…|label>`
///   (user groups, dates) are their label;
/// - other users' mentions stay `<@U123>`: skills take them for user ids.
///
/// Markup is read before escapes are undone, so `&lt;#C1&gt;` typed by a
/// user stays the text `<#C1>`.
pub fn from_slack(text: &str, bot_user: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&unescape(&rest[..open]));
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            out.push_str(&unescape(&rest[open..]));
            rest = "";
            break;
        };
        out.push_str(&markup(&after[..close], bot_user));
        rest = &after[close + 1..];
    }
    out.push_str(&unescape(rest));
    out.trim_start_matches([':', ',', ' ']).trim().to_owned()
}

/// One `<…>` of Slack markup (without the brackets), as text.
fn markup(inner: &str, bot_user: &str) -> String {
    let (target, label) = match inner.split_once('|') {
        Some((t, l)) => (t, Some(unescape(l)).filter(|l| !l.is_empty())),
        None => (inner, None),
    };
    if let Some(user) = target.strip_prefix('@') {
        if !bot_user.is_empty() && user == bot_user {
            return String::new();
        }
        return format!("<@{user}>");
    }
    if let Some(channel) = target.strip_prefix('#') {
        return format!("#{}", label.unwrap_or_else(|| channel.to_owned()));
    }
    if let Some(special) = target.strip_prefix('!') {
        return match (special, label) {
            ("here" | "channel" | "everyone", _) => format!("@{special}"),
            (_, Some(label)) => label,
            (other, None) => format!("@{}", other.split('^').next().unwrap_or(other)),
        };
    }
    let url = unescape(target);
    match label {
        None => url,
        Some(label) => {
            let bare = url
                .strip_prefix("mailto:")
                .or_else(|| url.strip_prefix("https://"))
                .or_else(|| url.strip_prefix("http://"))
                .unwrap_or(&url);
            if label == url
                || label == bare
                || label.trim_end_matches('/') == bare.trim_end_matches('/')
            {
                label
            } else {
                format!("{label} ({url})")
            }
        }
    }
}

/// Slack's three escapes undone (`&amp;` last, so `&amp;lt;` stays `&lt;`).
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Whether `text` begins by naming the bot (`<@UBOT>` or `<@UBOT|name>`).
pub fn starts_with_mention(text: &str, bot_user: &str) -> bool {
    let Some(rest) = text.trim_start().strip_prefix("<@") else {
        return false;
    };
    !bot_user.is_empty()
        && rest
            .strip_prefix(bot_user)
            .is_some_and(|r| r.starts_with('>') || r.starts_with('|'))
}

/// A skill's text as Slack should show it, not act on it.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// How much of a Slack message a character takes once escaped.
pub fn escaped_weight(c: char) -> usize {
    match c {
        '&' => "&amp;".len(),
        '<' | '>' => "&lt;".len(),
        c => c.len_utf8(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mention_goes_markup_is_read_and_escapes_are_undone() {
        // (Slack's text, what the skill sees), after Slack's documented
        // message formatting.
        let table = [
            ("<@U0BOT> hello", "hello"),
            ("<@U0BOT|sandbot> hello", "hello"),
            ("<@U0BOT|sandbot>: deploy web", "deploy web"),
            ("<@U0BOT>: deploy a &lt;b&gt; &amp; c", "deploy a <b> & c"),
            ("hi <@U0OTHER>", "hi <@U0OTHER>"),
            ("hi <@U0OTHER|bob>", "hi <@U0OTHER>"),
            ("deploy to <#C123|ops>", "deploy to #ops"),
            ("deploy to <#C123>", "deploy to #C123"),
            ("deploy to <#C123|>", "deploy to #C123"),
            (
                "check <https://x.example/a?b=1&amp;c=2>",
                "check https://x.example/a?b=1&c=2",
            ),
            (
                "check <https://x.example|https://x.example>",
                "check https://x.example",
            ),
            ("check <http://x.example|x.example>", "check x.example"),
            (
                "check <https://x.example/|the docs>",
                "check the docs (https://x.example/)",
            ),
            ("mail <mailto:a@b.example|a@b.example>", "mail a@b.example"),
            ("<!here> the site is down", "@here the site is down"),
            ("<!channel|channel> hi", "@channel hi"),
            ("ping <!subteam^S0DEVS|@devs>", "ping @devs"),
            (
                "at <!date^1392734382^{date}|Feb 18, 2014>",
                "at Feb 18, 2014",
            ),
            // What the user typed as text is never read as markup.
            ("say &lt;#C1|x&gt; &amp;lt;", "say <#C1|x> &lt;"),
            ("a < b", "a < b"),
            ("a &gt; b <unclosed", "a > b <unclosed"),
        ];
        for (slack, skill) in table {
            assert_eq!(from_slack(slack, "U0BOT"), skill, "for {slack:?}");
        }
        assert!(starts_with_mention("<@U0BOT|sandbot> hi", "U0BOT"));
        assert!(starts_with_mention(" <@U0BOT> hi", "U0BOT"));
        assert!(!starts_with_mention("<@U0BOTX> hi", "U0BOT"));
        assert!(!starts_with_mention("hi <@U0BOT>", "U0BOT"));
        assert!(!starts_with_mention("<@> hi", ""));
    }
}
