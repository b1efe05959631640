//! Undoing Slack's message formatting in command parameters.

/// Removes Slack's link formatting (`<http://x.org|x.org>` → `http://x.org`) and unescapes
/// `&lt;`, `&gt;` and `&amp;`, as Slack escapes those three in message text.
///
/// A link's text holds no `<` (Slack sends one as `&lt;`), so a `<` followed by another `<`
/// before any `>` starts no link; looking no further than that keeps a text of many `<`
/// linear to read.
pub fn unformat_param(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find(['<', '>'])
            .filter(|&i| after.as_bytes()[i] == b'>');
        match close {
            Some(close) if is_link(&after[..close]) => {
                let inner = &after[..close];
                out.push_str(inner.split('|').next().unwrap_or(inner));
                rest = &after[close + 1..];
            }
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn is_link(inner: &str) -> bool {
    let target = inner.split('|').next().unwrap_or(inner);
    ["http://", "https://", "mailto:", "ftp://"]
        .iter()
        .any(|scheme| target.starts_with(scheme))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_lose_their_formatting() {
        assert_eq!(unformat_param("<http://x.org|x.org>"), "http://x.org");
        assert_eq!(
            unformat_param("<https://x.org/a?b=1&amp;c=2>"),
            "https://x.org/a?b=1&c=2"
        );
        assert_eq!(
            unformat_param("see <mailto:a@b.org|a@b.org> now"),
            "see mailto:a@b.org now"
        );
    }

    #[test]
    fn escapes_are_undone_once() {
        assert_eq!(unformat_param("a &lt;b&gt; &amp;lt;"), "a <b> &lt;");
    }

    #[test]
    fn a_bracket_inside_a_link_is_no_link() {
        assert_eq!(unformat_param("<http://a<b>"), "<http://a<b>");
        assert_eq!(unformat_param("<<http://x.org|x>"), "<http://x.org");
    }

    #[test]
    fn many_open_brackets_read_as_they_are() {
        let text = format!("{}<https://x.org|x> &amp;", "<".repeat(100_000));
        let expected = format!("{}https://x.org &", "<".repeat(100_000));
        assert_eq!(unformat_param(&text), expected);
    }

    #[test]
    fn mentions_and_stray_brackets_stay() {
        assert_eq!(
            unformat_param("<@U123> <#C1|general> a<b"),
            "<@U123> <#C1|general> a<b"
        );
    }
}
