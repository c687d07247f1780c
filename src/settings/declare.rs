//! The machinery behind `keys.rs`: two macros that turn one declaration per key
//! into the settings structs, the parsing and checking, and the key table that
//! the tests hold `config.js.toml`, `env-sample` and the README against.
//!
//! A `config.js.toml` key is declared as
//!
//! ```text
//! /// Doc line (also the field's rustdoc).
//! "key" => field: Type = default, Rule;
//! ```
//!
//! where `default` is one token that is both Rust and TOML (`":"`, `10`, `[]`,
//! `["a", "b"]`, `{}`) and `Rule` (see `rules.rs`) says what the file holds
//! (`Rule::Raw`: what serde reads, so a wrong type is a TOML error with its line)
//! and how it becomes `Type`, bounds included (a bad value is an error naming the key).
//!
//! A `.env` key is `"KEY" => field: Type = "default", Rule;` (the default is
//! optional: `Type` is then an `Option`). Unset and blank are the same thing.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::SettingsError;

/// One declared key: what the README tables, `config.js.toml` and `env-sample`
/// are checked against (see the tests), and what a `--help`-like listing could print.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    /// As written in `config.js.toml` or `.env`.
    pub name: &'static str,
    /// The default as written in `config.js.toml` (TOML) or `.env` (plain text);
    /// `None`: the key has no default (a secret, or something that is derived).
    pub default: Option<&'static str>,
    /// The declaration's doc line.
    pub doc: &'static str,
    /// For a table (`[https]`): its keys; empty otherwise.
    pub table: &'static [Key],
    /// Compares a written value with the default (`is_default`).
    pub(super) same: fn(&str, &str) -> bool,
}

impl Key {
    /// Whether `written` (TOML for a file key, plain text for an env key) is
    /// this key's default. File values are compared as the key's type, so
    /// `60` and `60.0` or `1_000_000` and `1000000` are the same.
    pub fn is_default(&self, written: &str) -> bool {
        self.default.is_some_and(|d| (self.same)(written, d))
    }
}

/// How one `config.js.toml` key becomes a `T`: what the file holds (serde reads
/// it, so a wrong type is a TOML error with line and column) and the check.
pub(super) trait Rule<T> {
    type Raw: DeserializeOwned + PartialEq;
    /// The keys of a table-valued key (`[https]`).
    const TABLE: &'static [Key] = &[];
    fn check(key: &'static str, raw: Self::Raw) -> Result<T, SettingsError>;
}

/// How one `.env` value becomes a `T`. `value` is `None` when the key is unset
/// or blank and has no default.
pub(super) trait EnvRule<T> {
    fn check(key: &'static str, value: Option<&str>) -> Result<T, SettingsError>;
}

/// The value of a file key: the one given, or its declared default, checked.
pub(super) fn checked<R: Rule<T>, T>(
    key: &'static str,
    default: &'static str,
    given: Option<R::Raw>,
) -> Result<T, SettingsError> {
    let raw = match given {
        Some(raw) => raw,
        None => toml_value(default)
            .unwrap_or_else(|e| panic!("the declared default of {key}, {default}, is not a value of its type: {e}")),
    };
    R::check(key, raw)
}

/// A value written as TOML (`":"`, `[1, 2]`), read as `V`.
fn toml_value<V: DeserializeOwned>(text: &str) -> Result<V, toml::de::Error> {
    #[derive(Deserialize)]
    struct Cell<V> {
        v: V,
    }
    toml::from_str::<Cell<V>>(&format!("v = {text}")).map(|c| c.v)
}

/// `Key::same` of a file key: both sides read as the key's raw type.
pub(super) fn same_toml<V: DeserializeOwned + PartialEq>(written: &str, default: &str) -> bool {
    match (toml_value::<V>(written), toml_value::<V>(default)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `Key::same` of an env key.
pub(super) fn same_text(written: &str, default: &str) -> bool {
    written == default
}

/// An env value as the rules see it: unset and blank are the same.
pub(super) fn env_value<'a>(env: &'a std::collections::HashMap<String, String>, key: &str) -> Option<&'a str> {
    env.get(key).map(String::as_str).filter(|v| !v.trim().is_empty())
}

/// Declares the keys of one TOML table: a serde struct of the table as
/// written (`raw`, unknown keys refused), the key table (`keys`), and one
/// struct per group with `from_keys`, which checks the group's keys and takes
/// them out of the raw table. A group may end with `..Name { fields }`: fields
/// built by `from_sources` from several keys (`.env` among them), passed in as
/// a `Name` struct.
macro_rules! file_keys {
    (
        raw $raw:ident, keys $keys:ident;
        $(
            $(#[$gattr:meta])*
            $gvis:vis struct $group:ident {
                $(
                    $(#[doc = $doc:literal])+
                    $key:literal => $field:ident: $ty:ty = $default:tt, $rule:ty;
                )*
                $(
                    ..$rest:ident {
                        $( $(#[$xattr:meta])* pub $xfield:ident: $xty:ty, )*
                    }
                )?
            }
        )*
    ) => {
        /// The table as written: every key optional, unknown keys refused.
        #[derive(Default, PartialEq, ::serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub(super) struct $raw {
            $($(
                #[serde(rename = $key)]
                $field: Option<<$rule as $crate::settings::declare::Rule<$ty>>::Raw>,
            )*)*
        }

        /// Every key of the table, in declaration order.
        pub const $keys: &[$crate::settings::declare::Key] = &[
            $($(
                $crate::settings::declare::Key {
                    name: $key,
                    default: Some(stringify!($default)),
                    doc: concat!($($doc),+),
                    table: <$rule as $crate::settings::declare::Rule<$ty>>::TABLE,
                    same: $crate::settings::declare::same_toml::<
                        <$rule as $crate::settings::declare::Rule<$ty>>::Raw,
                    >,
                },
            )*)*
        ];

        $(
            $(#[$gattr])*
            $gvis struct $group {
                $( $(#[doc = $doc])+ pub $field: $ty, )*
                $($( $(#[$xattr])* pub $xfield: $xty, )*)?
            }

            $(
                /// The fields of the group that `from_sources` builds from several keys.
                pub(super) struct $rest {
                    $( pub $xfield: $xty, )*
                }
            )?

            impl $group {
                /// Checks the group's keys (a key not given gets its default),
                /// taking them out of `raw`.
                pub(super) fn from_keys(
                    raw: &mut $raw
                    $(, rest: $rest)?
                ) -> Result<$group, $crate::settings::SettingsError> {
                    Ok($group {
                        $(
                            $field: $crate::settings::declare::checked::<$rule, $ty>(
                                $key,
                                stringify!($default),
                                raw.$field.take(),
                            )?,
                        )*
                        $($( $xfield: rest.$xfield, )*)?
                    })
                }
            }
        )*
    };
}

/// Declares the `.env` keys: one struct with a field per key (`from_env`
/// checks them all) and the key table, which also lists the keys read
/// elsewhere (by `load_from`, by main.rs) so they are documented like the rest.
macro_rules! env_keys {
    (
        keys $keys:ident;
        $(#[$gattr:meta])*
        $gvis:vis struct $group:ident {
            $(
                $(#[doc = $doc:literal])+
                $key:literal => $field:ident: $ty:ty $(= $default:expr)?, $rule:ty;
            )*
        }
        read elsewhere {
            $( $(#[doc = $edoc:literal])+ $ekey:literal $(= $edefault:expr)?; )*
        }
    ) => {
        /// Every `.env` key, in declaration order.
        pub const $keys: &[$crate::settings::declare::Key] = &[
            $(
                $crate::settings::declare::Key {
                    name: $key,
                    default: env_keys!(@some $($default)?),
                    doc: concat!($($doc),+),
                    table: &[],
                    same: $crate::settings::declare::same_text,
                },
            )*
            $(
                $crate::settings::declare::Key {
                    name: $ekey,
                    default: env_keys!(@some $($edefault)?),
                    doc: concat!($($edoc),+),
                    table: &[],
                    same: $crate::settings::declare::same_text,
                },
            )*
        ];

        $(#[$gattr])*
        $gvis struct $group {
            $( $(#[doc = $doc])+ pub $field: $ty, )*
        }

        impl $group {
            /// Checks every key (the process environment merged with `.env`).
            pub(super) fn from_env(
                env: &std::collections::HashMap<String, String>,
            ) -> Result<$group, $crate::settings::SettingsError> {
                Ok($group {
                    $(
                        $field: <$rule as $crate::settings::declare::EnvRule<$ty>>::check(
                            $key,
                            $crate::settings::declare::env_value(env, $key) $(.or(Some($default)))?,
                        )?,
                    )*
                })
            }
        }
    };
    (@some) => { None };
    (@some $e:expr) => { Some($e) };
}

pub(super) use env_keys;
pub(super) use file_keys;
