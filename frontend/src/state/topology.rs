//! The topology's layout (pure): services grouped by subsystem, each group a box of rows, so
//! that no two labels can overlap — a label has its own row, and a row is as wide as the
//! longest name.

use shared::{ServiceKind, ServiceStatus};

/// The subsystems, in the order they are drawn (left to right, then the next row).
pub const GROUPS: [&str; 6] = [
    "control plane",
    "ML ensemble",
    "shop + registry",
    "mirroring (sync)",
    "replication (async)",
    "sync nodes",
];

/// Groups per row of the picture.
pub const COLUMNS: usize = 3;
/// A group's width, and a row's height, in SVG units.
pub const GROUP_WIDTH: f64 = 190.0;
pub const ROW_HEIGHT: f64 = 24.0;
/// A group's title above its rows, and the margin around each group.
pub const TITLE: f64 = 22.0;
pub const MARGIN: f64 = 10.0;
/// The widest a label gets: longer names are cut, so a label stays inside its group.
pub const LABEL_CHARS: usize = 22;
/// Estimated width of one label character (12 px sans-serif).
pub const CHAR_WIDTH: f64 = 7.0;
/// The circle's radius and where its label starts.
pub const RADIUS: f64 = 7.0;
pub const LABEL_X: f64 = 24.0;

/// Where a service sits.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    /// Index into the services given to [`layout`].
    pub service: usize,
    pub group: usize,
    /// The circle's centre.
    pub x: f64,
    pub y: f64,
    /// The label as drawn (cut to [`LABEL_CHARS`]).
    pub label: String,
}

/// A group's box.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupBox {
    pub name: &'static str,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// The group a service belongs to.
pub fn group_of(service: &ServiceStatus) -> usize {
    match service.kind {
        ServiceKind::Control => 0,
        ServiceKind::Model | ServiceKind::MetaModel => 1,
        ServiceKind::Shop | ServiceKind::Registry => 2,
        ServiceKind::Mirroring => 3,
        ServiceKind::Replication => 4,
        ServiceKind::Store if service.name.contains("async") => 4,
        ServiceKind::Store => 3,
        ServiceKind::SyncNode => 5,
    }
}

/// Every service placed, the groups' boxes, and the picture's (width, height).
pub fn layout(services: &[ServiceStatus]) -> (Vec<Placed>, Vec<GroupBox>, (f64, f64)) {
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); GROUPS.len()];
    for (i, service) in services.iter().enumerate() {
        members[group_of(service)].push(i);
    }
    let rows_of = |row: usize| {
        (row * COLUMNS..((row + 1) * COLUMNS).min(GROUPS.len()))
            .map(|g| members[g].len())
            .max()
            .unwrap_or(0)
    };
    let row_count = GROUPS.len().div_ceil(COLUMNS);
    let mut tops = vec![MARGIN];
    for row in 0..row_count {
        let height = TITLE + rows_of(row).max(1) as f64 * ROW_HEIGHT + MARGIN;
        tops.push(tops[row] + height + MARGIN);
    }
    let (mut placed, mut boxes) = (Vec::new(), Vec::new());
    for (g, name) in GROUPS.iter().enumerate() {
        let (row, column) = (g / COLUMNS, g % COLUMNS);
        let x = MARGIN + column as f64 * (GROUP_WIDTH + MARGIN);
        let y = tops[row];
        boxes.push(GroupBox {
            name,
            x,
            y,
            width: GROUP_WIDTH,
            height: TITLE + rows_of(row).max(1) as f64 * ROW_HEIGHT + MARGIN,
        });
        for (n, &service) in members[g].iter().enumerate() {
            let name = &services[service].name;
            let label = if name.chars().count() > LABEL_CHARS {
                name.chars().take(LABEL_CHARS - 1).chain(['…']).collect()
            } else {
                name.clone()
            };
            placed.push(Placed {
                service,
                group: g,
                x: x + MARGIN + RADIUS,
                y: y + TITLE + ROW_HEIGHT * (n as f64 + 0.5),
                label,
            });
        }
    }
    let width = MARGIN + COLUMNS as f64 * (GROUP_WIDTH + MARGIN);
    (placed, boxes, (width, tops[row_count]))
}

/// A label's estimated box: (left, top, right, bottom).
pub fn label_box(placed: &Placed) -> (f64, f64, f64, f64) {
    let left = placed.x - RADIUS + LABEL_X;
    let width = placed.label.chars().count() as f64 * CHAR_WIDTH;
    (left, placed.y - ROW_HEIGHT / 2.0 + 2.0, left + width, placed.y + ROW_HEIGHT / 2.0 - 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::Health;

    fn service(name: &str, kind: ServiceKind) -> ServiceStatus {
        serde_json::from_value(serde_json::json!({
            "name": name, "kind": kind, "url": "http://localhost:1", "pid": 1,
            "health": Health::Up, "links": [], "paused": false,
        }))
        .unwrap_or_else(|e| panic!("a service status: {e}"))
    }

    fn lab() -> Vec<ServiceStatus> {
        use ServiceKind::*;
        [
            ("control", Control),
            ("shop-a", Shop),
            ("shop-b", Shop),
            ("registry", Registry),
            ("model-a", Model),
            ("model-b", Model),
            ("model-c", Model),
            ("meta-model", MetaModel),
            ("mirroring", Mirroring),
            ("store-sync-primary", Store),
            ("store-sync-mirror", Store),
            ("replication", Replication),
            ("store-async-primary", Store),
            ("store-async-mirror", Store),
            ("node-1", SyncNode),
            ("node-2", SyncNode),
            ("node-3", SyncNode),
            ("a-service-with-a-name-far-too-long-to-fit", Shop),
        ]
        .into_iter()
        .map(|(name, kind)| service(name, kind))
        .collect()
    }

    #[test]
    fn every_service_is_placed_in_its_subsystem_and_no_two_labels_overlap() {
        let services = lab();
        let (placed, boxes, (width, height)) = layout(&services);
        assert_eq!(placed.len(), services.len());
        let group = |name: &str| {
            let i = services.iter().position(|s| s.name == name).unwrap();
            GROUPS[placed.iter().find(|p| p.service == i).unwrap().group]
        };
        assert_eq!(group("store-async-mirror"), "replication (async)");
        assert_eq!(group("store-sync-primary"), "mirroring (sync)");
        assert_eq!(group("meta-model"), "ML ensemble");
        for (i, a) in placed.iter().enumerate() {
            let (l, t, r, b) = label_box(a);
            let home = &boxes[a.group];
            assert!(l >= home.x && r <= home.x + home.width, "{} fits its group", a.label);
            assert!(t >= home.y && b <= home.y + home.height && r <= width && b <= height);
            for other in &placed[i + 1..] {
                let (l2, t2, r2, b2) = label_box(other);
                assert!(
                    r <= l2 || r2 <= l || b <= t2 || b2 <= t,
                    "{} and {} overlap",
                    a.label,
                    other.label
                );
            }
        }
        assert!(placed.iter().any(|p| p.label.ends_with('…')), "a long name is cut");
    }
}
