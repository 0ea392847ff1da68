//! The charset side of a session: which collation a pinned session starts in, how numeric
//! collation ids map to charsets on *this* target, and how collations the target does not know
//! (MySQL 8's 255 / `utf8mb4_0900_ai_ci` on MariaDB, MDEV-30824) are translated to its closest
//! equivalent instead of failing the replay.
//!
//! The catalog is read from the target itself (`information_schema.COLLATIONS`) once per
//! process, so ids mean what the target means by them.

use std::collections::HashMap;

use crate::config::{CharsetMode, CharsetSettings};
use crate::sql::{SessionEffect, SetValue, string_literal as quote};

/// One collation the target knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollationEntry {
    pub id: u64,
    pub name: String,
    pub charset: String,
    pub is_default: bool,
}

impl CollationEntry {
    /// The statement that puts a session in this collation.
    pub fn set_names(&self) -> String {
        format!("SET NAMES '{}' COLLATE '{}'", self.charset, self.name)
    }
}

/// The target's collations.
#[derive(Debug, Clone, Default)]
pub struct CollationCatalog {
    by_id: HashMap<u64, CollationEntry>,
    by_name: HashMap<String, u64>,
}

/// The query that fills the catalog.
pub const CATALOG_QUERY: &str = "SELECT ID, COLLATION_NAME, CHARACTER_SET_NAME, IS_DEFAULT \
                                 FROM information_schema.COLLATIONS WHERE ID IS NOT NULL";

/// Preferred stand-ins for MySQL 8 collations, closest first. MariaDB 11.4 maps the 0900
/// collations to its UCA 14.0 ones; older MariaDB versions have UCA 5.2.0 at best.
const EQUIVALENTS: &[(&str, &[&str])] = &[
    (
        "_0900_ai_ci",
        &[
            "utf8mb4_uca1400_nopad_ai_ci",
            "utf8mb4_uca1400_ai_ci",
            "utf8mb4_unicode_520_nopad_ci",
            "utf8mb4_unicode_520_ci",
            "utf8mb4_unicode_ci",
        ],
    ),
    (
        "_0900_as_ci",
        &[
            "utf8mb4_uca1400_nopad_as_ci",
            "utf8mb4_uca1400_as_ci",
            "utf8mb4_unicode_520_ci",
        ],
    ),
    (
        "_0900_as_cs",
        &[
            "utf8mb4_uca1400_nopad_as_cs",
            "utf8mb4_uca1400_as_cs",
            "utf8mb4_bin",
        ],
    ),
    ("_0900_bin", &["utf8mb4_nopad_bin", "utf8mb4_bin"]),
];

impl CollationCatalog {
    /// The collations MySQL and MariaDB share ids for (mysql_common's table), for when there is
    /// no server to ask (`replaygate source` names the charsets of the events it journals).
    pub fn builtin() -> Self {
        use mysql_common::collations::{Collation, CollationId};
        Self::from_entries((1u16..=323).filter_map(|id| {
            let collation = Collation::from(CollationId::from(id));
            (collation.id() != CollationId::UNKNOWN_COLLATION_ID).then(|| CollationEntry {
                id: u64::from(id),
                name: collation.collation().to_owned(),
                charset: collation.charset().to_owned(),
                is_default: collation.is_default(),
            })
        }))
    }

    pub fn from_entries(entries: impl IntoIterator<Item = CollationEntry>) -> Self {
        let mut catalog = Self::default();
        for e in entries {
            catalog.by_name.insert(e.name.clone(), e.id);
            catalog.by_id.insert(e.id, e);
        }
        catalog
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn by_id(&self, id: u64) -> Option<&CollationEntry> {
        self.by_id.get(&id)
    }

    pub fn by_name(&self, name: &str) -> Option<&CollationEntry> {
        let id = self.by_name.get(&name.to_ascii_lowercase())?;
        self.by_id.get(id)
    }

    pub fn knows_charset(&self, charset: &str) -> bool {
        self.default_for(charset).is_some()
    }

    /// The target's default collation of a charset.
    pub fn default_for(&self, charset: &str) -> Option<&CollationEntry> {
        let charset = normalise_charset(charset);
        self.by_id
            .values()
            .filter(|e| e.charset == charset)
            .min_by_key(|e| (!e.is_default, e.id))
    }

    /// The collation the target should use for one it does not know: the closest known
    /// equivalent, else the default of the same charset. `None` if the charset is unknown too.
    pub fn equivalent(&self, unknown: &str) -> Option<&CollationEntry> {
        let unknown = unknown.to_ascii_lowercase();
        let charset = unknown.split('_').next().unwrap_or_default();
        EQUIVALENTS
            .iter()
            .filter(|(suffix, _)| unknown.ends_with(suffix))
            .flat_map(|(_, names)| names.iter())
            .find_map(|name| self.by_name(name))
            .filter(|e| e.charset == normalise_charset(charset))
            .or_else(|| self.default_for(charset))
    }

    /// The collation a pinned session starts in.
    pub fn pinned(&self, charset: &str, collation: Option<&str>) -> Option<&CollationEntry> {
        match collation {
            Some(name) => self.by_name(name),
            None => self.default_for(charset),
        }
    }

    /// The collation sessions are pinned to under these settings; `None` in honor mode or when
    /// the target does not know it.
    pub fn pinned_for(&self, settings: &CharsetSettings) -> Option<&CollationEntry> {
        match settings.mode {
            CharsetMode::Pin => self.pinned(&settings.default, settings.collation.as_deref()),
            CharsetMode::Honor => None,
        }
    }
}

/// MariaDB reports `utf8` as `utf8mb3`; both spellings name the same charset.
fn normalise_charset(charset: &str) -> String {
    match charset.to_ascii_lowercase().as_str() {
        "utf8" => "utf8mb3".to_owned(),
        other => other.to_owned(),
    }
}

/// A collation the stream named that the target does not know, and what replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    pub from: String,
    pub to: String,
}

/// Collation names the MySQL protocol assigns to ids, for ids the target does not know (so the
/// log can say "255 (utf8mb4_0900_ai_ci)" and the equivalent can be chosen by name).
fn mysql_collation_name(id: u64) -> Option<String> {
    let id = u16::try_from(id).ok()?;
    let collation =
        mysql_common::collations::Collation::from(mysql_common::collations::CollationId::from(id));
    let name = collation.collation();
    (!name.is_empty() && !name.eq_ignore_ascii_case("unknown")).then(|| name.to_owned())
}

/// Rewrites, in place, the charset effects of one statement that name collations the target
/// does not know. Returns the translations made (empty: nothing to change).
pub fn translate_unknown_collations(
    effects: &mut [SessionEffect],
    catalog: &CollationCatalog,
) -> Vec<Translation> {
    let mut translations = Vec::new();
    if catalog.is_empty() {
        return translations;
    }
    for effect in effects.iter_mut() {
        match effect {
            SessionEffect::SetNames {
                collation: Some(name),
                ..
            } if catalog.by_name(name).is_none() => {
                if let Some(eq) = catalog.equivalent(name) {
                    translations.push(Translation {
                        from: name.clone(),
                        to: eq.name.clone(),
                    });
                    *name = eq.name.clone();
                }
            }
            SessionEffect::SetVariable { name, value } if name.starts_with("collation_") => {
                if let SetValue::Int(id) = value {
                    let Ok(id) = u64::try_from(*id) else { continue };
                    if catalog.by_id(id).is_some() {
                        continue;
                    }
                    let known_as = mysql_collation_name(id);
                    let eq = known_as.as_deref().and_then(|n| catalog.equivalent(n));
                    if let Some(eq) = eq {
                        translations.push(Translation {
                            from: format!("{id} ({})", known_as.unwrap_or_default()),
                            to: format!("{} ({})", eq.id, eq.name),
                        });
                        *value = SetValue::Int(eq.id as i64);
                    }
                } else if let SetValue::Ident(c) | SetValue::Str(c) = value
                    && catalog.by_name(c).is_none()
                    && let Some(eq) = catalog.equivalent(c)
                {
                    translations.push(Translation {
                        from: c.clone(),
                        to: eq.name.clone(),
                    });
                    *value = SetValue::Str(eq.name.clone());
                }
            }
            _ => {}
        }
    }
    translations
}

/// Renders charset effects back into one SET statement (used after a translation).
/// Returns `None` for effects that are not plain SETs.
pub fn render_set_statement(effects: &[SessionEffect]) -> Option<String> {
    match effects {
        [SessionEffect::SetNames { charset, collation }] => Some(match collation {
            Some(c) => format!("SET NAMES {} COLLATE {}", quote(charset), quote(c)),
            None => format!("SET NAMES {}", quote(charset)),
        }),
        [] => None,
        _ => {
            let mut parts = Vec::with_capacity(effects.len());
            for effect in effects {
                let SessionEffect::SetVariable { name, value } = effect else {
                    return None;
                };
                let value = match value {
                    SetValue::Int(n) => n.to_string(),
                    SetValue::Str(s) => quote(s),
                    SetValue::Ident(s) | SetValue::Other(s) => s.clone(),
                    SetValue::Default => "DEFAULT".to_owned(),
                };
                parts.push(format!("@@session.{name}={value}"));
            }
            Some(format!("SET {}", parts.join(",")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mariadb_10_11() -> CollationCatalog {
        let e = |id, name: &str, charset: &str, is_default| CollationEntry {
            id,
            name: name.into(),
            charset: charset.into(),
            is_default,
        };
        CollationCatalog::from_entries([
            e(8, "latin1_swedish_ci", "latin1", true),
            e(33, "utf8mb3_general_ci", "utf8mb3", true),
            e(45, "utf8mb4_general_ci", "utf8mb4", true),
            e(46, "utf8mb4_bin", "utf8mb4", false),
            e(224, "utf8mb4_unicode_ci", "utf8mb4", false),
            e(246, "utf8mb4_unicode_520_ci", "utf8mb4", false),
            e(1270, "utf8mb4_unicode_520_nopad_ci", "utf8mb4", false),
        ])
    }

    #[test]
    fn mysql8_default_collation_id_is_translated() {
        let catalog = mariadb_10_11();
        let mut effects = vec![
            SessionEffect::SetVariable {
                name: "character_set_client".into(),
                value: SetValue::Ident("latin1".into()),
            },
            SessionEffect::SetVariable {
                name: "collation_connection".into(),
                value: SetValue::Int(8),
            },
            SessionEffect::SetVariable {
                name: "collation_server".into(),
                value: SetValue::Int(255),
            },
        ];
        let t = translate_unknown_collations(&mut effects, &catalog);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].from, "255 (utf8mb4_0900_ai_ci)");
        assert_eq!(
            render_set_statement(&effects).unwrap(),
            "SET @@session.character_set_client=latin1,@@session.collation_connection=8,@@session.collation_server=1270"
        );
    }

    #[test]
    fn unknown_collation_names_get_the_closest_equivalent() {
        let catalog = mariadb_10_11();
        let mut effects = vec![SessionEffect::SetNames {
            charset: "utf8mb4".into(),
            collation: Some("utf8mb4_0900_ai_ci".into()),
        }];
        translate_unknown_collations(&mut effects, &catalog);
        assert_eq!(
            render_set_statement(&effects).unwrap(),
            "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_unicode_520_nopad_ci'"
        );
        assert_eq!(
            catalog.equivalent("utf8mb4_0900_bin").unwrap().name,
            "utf8mb4_bin"
        );
        assert_eq!(
            catalog.equivalent("utf8mb4_ja_0900_as_cs").unwrap().name,
            "utf8mb4_bin"
        );
        assert!(catalog.equivalent("gb18030_unicode_520_ci").is_none());
    }

    #[test]
    fn known_collations_are_left_alone() {
        let catalog = mariadb_10_11();
        let mut effects = vec![SessionEffect::SetVariable {
            name: "collation_connection".into(),
            value: SetValue::Int(45),
        }];
        assert!(translate_unknown_collations(&mut effects, &catalog).is_empty());
    }

    #[test]
    fn pinned_collation_defaults_to_the_targets_default() {
        let catalog = mariadb_10_11();
        assert_eq!(catalog.pinned("utf8mb4", None).unwrap().id, 45);
        assert_eq!(catalog.pinned("utf8", None).unwrap().id, 33);
        assert_eq!(
            catalog
                .pinned("utf8mb4", Some("utf8mb4_unicode_ci"))
                .unwrap()
                .id,
            224
        );
        assert!(
            catalog
                .pinned("utf8mb4", Some("utf8mb4_klingon_ci"))
                .is_none()
        );
    }
}
