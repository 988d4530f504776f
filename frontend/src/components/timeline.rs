//! The lab's live event timeline, newest first.

use shared::LabEvent;
use yew::prelude::*;

#[derive(Debug, Properties, PartialEq)]
pub struct Props {
    pub events: Vec<LabEvent>,
}

/// `hh:mm:ss.mmm` (UTC) of a Unix time in milliseconds.
pub fn clock(at_ms: u64) -> String {
    let ms = at_ms % 1000;
    let s = at_ms / 1000;
    format!("{:02}:{:02}:{:02}.{ms:03}", (s / 3600) % 24, (s / 60) % 60, s % 60)
}

#[function_component(Timeline)]
pub fn timeline(props: &Props) -> Html {
    html! {
        <table id="timeline" class="table compact">
            <tbody>
                { for props.events.iter().map(|e| {
                    let kind = serde_json::to_value(e.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
                    html! {
                        <tr class={classes!("event", kind.clone())}>
                            <td class="time">{ clock(e.at_ms) }</td>
                            <td class="service">{ &e.service }</td>
                            <td class="kind">{ kind }</td>
                            <td>{ &e.message }</td>
                        </tr>
                    }
                }) }
            </tbody>
        </table>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clock_shows_utc_time_of_day_with_milliseconds() {
        assert_eq!(super::clock(3_723_004), "01:02:03.004");
        assert_eq!(super::clock(86_400_000 + 5), "00:00:00.005");
    }
}
