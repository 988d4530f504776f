//! Export a run as one self-contained HTML file — the verdict, the state panel, the diagram and
//! the chart as they are drawn now (inline SVG, no script, no outside reference) — for a report.

use shared::history::Verdict;
use wasm_bindgen::JsCast;
use yew::prelude::*;

/// What the exported file's SVG and tables need of the dashboard's style.
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#111}\
svg{max-width:100%;height:auto;border:1px solid #ccc}text{font-size:11px}\
.bar.ok,.op.ok rect{fill:#2e7d32}.bar.fail,.op.fail rect{fill:#9e9e9e}.bar.info,.op.info rect{fill:#ef6c00}\
.bar.open,.op.open rect{fill:#90a4ae}.flagged rect,.bar.flagged{stroke:#b71c1c;stroke-width:3;fill:#e53935}\
.point{fill:#000}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}";

/// The export: the elements of the page with these ids, in this order.
const PARTS: [&str; 4] = ["verdict", "state-panel", "spacetime", "linearization"];

fn document_html(id: &str, verdict: &Option<Verdict>) -> Option<String> {
    let document = web_sys::window()?.document()?;
    let parts: String = PARTS
        .iter()
        .filter_map(|part| document.get_element_by_id(part))
        .map(|element| format!("<section>{}</section>", element.outer_html()))
        .collect();
    let anomalies = verdict.as_ref().map_or_else(String::new, |v| {
        let items: String = v
            .anomalies
            .iter()
            .map(|a| format!("<li><b>{}</b>: {}</li>", escape(&a.kind), escape(&a.message)))
            .collect();
        format!("<ul>{items}</ul>")
    });
    Some(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Run {id}</title>\
         <style>{STYLE}</style></head><body><h1>Run {id}</h1>{parts}{anomalies}\
         <p>History: /api/recordings/{id}/history.jsonl of the lab that recorded it.</p></body></html>",
        id = escape(id)
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Offer `html` as a download named `name`.
fn download(name: &str, html: &str) -> Option<()> {
    let parts = js_sys_array(html);
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/html");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).ok()?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).ok()?;
    let document = web_sys::window()?.document()?;
    let anchor: web_sys::HtmlAnchorElement = document.create_element("a").ok()?.dyn_into().ok()?;
    anchor.set_href(&url);
    anchor.set_download(name);
    anchor.click();
    web_sys::Url::revoke_object_url(&url).ok()
}

fn js_sys_array(text: &str) -> wasm_bindgen::JsValue {
    let array = js_sys::Array::new();
    array.push(&wasm_bindgen::JsValue::from_str(text));
    array.into()
}

#[derive(Properties, PartialEq)]
pub struct Props {
    pub id: String,
    pub verdict: Option<Verdict>,
}

#[function_component(Export)]
pub fn export(props: &Props) -> Html {
    let onclick = {
        let (id, verdict) = (props.id.clone(), props.verdict.clone());
        Callback::from(move |_: MouseEvent| {
            if let Some(html) = document_html(&id, &verdict) {
                download(&format!("{id}.report.html"), &html);
            }
        })
    };
    html! {
        <p><button id="export" {onclick}>{ "Export as HTML" }</button>
            <span class="summary">{ " one self-contained file: the verdict, the state panel, the diagram and the chart as drawn now" }</span></p>
    }
}
