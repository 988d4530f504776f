//! [`named!`]: an enum of plain variants that goes by fixed names — on the wire, on the command
//! line and in databases — with its list, its name, `Display` and `FromStr` from one table.

/// `named!(Kind { A => "a", B => "b" })` gives `Kind::ALL`, `as_str`, `Display` and a `FromStr`
/// whose error lists the names.
macro_rules! named {
    ($type:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $type {
            /// Every value, in order.
            pub const ALL: &'static [$type] = &[$($type::$variant),+];

            /// Its name on the wire (and on the command line, and in databases).
            pub fn as_str(self) -> &'static str {
                match self { $($type::$variant => $name),+ }
            }
        }

        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $type {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    format!("no {} {s:?} (one of: {})", stringify!($type).to_lowercase(), names.join(", "))
                })
            }
        }
    };
}
