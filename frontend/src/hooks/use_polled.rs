//! Polling: every page keeps its view fresh by asking the lab again every so often.

use gloo_timers::callback::Interval;
use yew::prelude::*;

/// Call `poll` with `deps` at once, then every `every_ms` milliseconds, for as long as the
/// component is shown; when `deps` change (a service's URL becomes known, another user is
/// picked), start over with the new ones.
///
/// `poll` typically spawns the requests and dispatches what they answer; it is the closure of
/// the render in which `deps` last changed (so it should capture only dispatchers and handles
/// that stay the same from render to render, and take the rest from `deps`).
#[hook]
pub fn use_polled<D, F>(deps: D, every_ms: u32, poll: F)
where
    D: PartialEq + Clone + 'static,
    F: Fn(&D) + 'static,
{
    use_effect_with(deps, move |deps| {
        poll(deps);
        let deps = deps.clone();
        let timer = Interval::new(every_ms, move || poll(&deps));
        move || drop(timer)
    });
}
