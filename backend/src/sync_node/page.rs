//! The node's own page (`GET /` for a browser): what the original project's page did — the
//! active nodes, the persons, the highest number, add a person, save a number only, sync — live
//! over Socket.IO through a small client in the page itself, so it works with no internet.

const PAGE: &str = include_str!("page.html");

/// The page for the node called `name`, listening on `port`.
pub fn render(name: &str, port: u16) -> String {
    PAGE.replace("{{NAME}}", &escape(name)).replace("{{PORT}}", &port.to_string())
}

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_names_the_node_and_fetches_nothing_from_outside() {
        let page = super::render("node-<1>", 7001);
        assert!(page.contains("<h1>node-&lt;1&gt;</h1>"));
        assert!(page.contains("port === 7001"));
        assert!(!page.contains("{{"), "every placeholder filled");
        for outside in ["http://", "https://", "//cdn", "<script src"] {
            assert!(!page.contains(outside), "the page must not load {outside}");
        }
    }
}
