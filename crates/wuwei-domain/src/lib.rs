//! The pure domain of wuwei: what a region, a role, a scope and an audit record are, and the
//! rules between them. No I/O and no clock: time is always a parameter, so every rule here can
//! be tested with any instant.

/// A string-named enum: `as_str`/`parse`/`ALL`, `Display` and serde as the snake_case name, so
/// that the names in the API, the database and the code are one and the same (see the glossary).
/// Defined before the modules so that every module below can use it (textual macro scope);
/// `case` keeps its own older variant, which shadows this one there.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),* }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown value {s}")))
            }
        }
    };
}

pub mod access;
pub mod audit;
pub mod case;
pub mod figures;
pub mod geo;
pub mod intake;
pub mod locate;
pub mod mediation;
pub mod points;
pub mod region;
pub mod validate;
