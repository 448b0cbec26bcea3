//! Applying `server/migrations/sqlite/*.sql` with the bookkeeping sqlx's migrator used, so a
//! database created by the sqlx-based store opens unchanged, and a database created here
//! still opens with that older build: the same `_sqlx_migrations` table, the same version,
//! description and SHA-384 checksum per file, each migration in its own transaction.

use crate::store::{StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha384};
use std::time::Instant;

/// One migration file.
pub(super) struct Migration {
    pub version: i64,
    /// From the file name, as sqlx derives it (`0001_init.sql` is version 1, "init").
    pub description: &'static str,
    pub sql: &'static str,
}

/// Every file of `server/migrations/sqlite/`, in order (a test checks the list against the
/// directory).
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "init",
        sql: include_str!("../../../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 3,
        description: "write probe",
        sql: include_str!("../../../migrations/sqlite/0003_write_probe.sql"),
    },
    Migration {
        version: 4,
        description: "members version",
        sql: include_str!("../../../migrations/sqlite/0004_members_version.sql"),
    },
    Migration {
        version: 5,
        description: "care notes",
        sql: include_str!("../../../migrations/sqlite/0005_care_notes.sql"),
    },
    Migration {
        version: 6,
        description: "attachments",
        sql: include_str!("../../../migrations/sqlite/0006_attachments.sql"),
    },
    Migration {
        version: 7,
        description: "town",
        sql: include_str!("../../../migrations/sqlite/0007_town.sql"),
    },
    Migration {
        version: 8,
        description: "search",
        sql: include_str!("../../../migrations/sqlite/0008_search.sql"),
    },
    Migration {
        version: 9,
        description: "push",
        sql: include_str!("../../../migrations/sqlite/0009_push.sql"),
    },
    Migration {
        version: 10,
        description: "search time order",
        sql: include_str!("../../../migrations/sqlite/0010_search_time_order.sql"),
    },
    Migration {
        version: 11,
        description: "consent documents",
        sql: include_str!("../../../migrations/sqlite/0011_consent_documents.sql"),
    },
    Migration {
        version: 12,
        description: "search after commit",
        sql: include_str!("../../../migrations/sqlite/0012_search_after_commit.sql"),
    },
    Migration {
        version: 13,
        description: "presence nodes",
        sql: include_str!("../../../migrations/sqlite/0013_presence_nodes.sql"),
    },
    Migration {
        version: 14,
        description: "partial revisions index",
        sql: include_str!("../../../migrations/sqlite/0014_partial_revisions_index.sql"),
    },
];

/// The table sqlx's SQLite migrator keeps, exactly as it creates it.
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
);";

fn checksum(sql: &str) -> Vec<u8> {
    Sha384::digest(sql.as_bytes()).to_vec()
}

fn internal(message: String) -> StoreError {
    StoreError::Internal(crate::store::DbError::Store(message))
}

/// Applies every migration not yet recorded; refuses a database whose recorded migrations
/// failed half-way, were changed since, or are unknown to this build (a newer build's).
pub(super) fn run(conn: &Connection) -> StoreResult<()> {
    conn.execute_batch(CREATE_TABLE)?;
    if let Some(version) = conn
        .query_row(
            "SELECT version FROM _sqlx_migrations WHERE success = false ORDER BY version LIMIT 1",
            [],
            |r| r.get::<_, i64>(0),
        )
        .optional()?
    {
        return Err(internal(format!(
            "migration {version} was left partly applied; fix the database by hand"
        )));
    }
    let applied: Vec<(i64, Vec<u8>)> = {
        let mut stmt = conn.prepare("SELECT version, checksum FROM _sqlx_migrations")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (version, sum) in &applied {
        match MIGRATIONS.iter().find(|m| m.version == *version) {
            None => {
                return Err(internal(format!(
                    "the database has migration {version}, which this build does not know"
                )))
            }
            Some(m) if checksum(m.sql) != *sum => {
                return Err(internal(format!(
                    "migration {version} was applied with different contents"
                )))
            }
            Some(_) => {}
        }
    }
    for m in MIGRATIONS {
        if applied.iter().any(|(v, _)| *v == m.version) {
            continue;
        }
        let started = Instant::now();
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let result = conn.execute_batch(m.sql).and_then(|()| {
            let nanos = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
            conn.execute(
                "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
                 execution_time) VALUES (?1, ?2, TRUE, ?3, ?4)",
                params![m.version, m.description, checksum(m.sql), nanos],
            )
            .map(|_| ())
        });
        let result = result.and_then(|()| conn.execute_batch("COMMIT"));
        if let Err(e) = result {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            return Err(e.into());
        }
        tracing::info!(
            version = m.version,
            description = m.description,
            "applied migration"
        );
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// `MIGRATIONS` lists exactly the files of the directory, with sqlx's versions and
    /// descriptions.
    #[test]
    fn migration_list_matches_the_directory() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite");
        let mut files: Vec<(i64, String, String)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .map(|p| {
                let stem = p.file_stem().unwrap().to_str().unwrap().to_owned();
                let (version, description) = stem.split_once('_').unwrap();
                (
                    version.parse().unwrap(),
                    description.replace('_', " "),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
            .collect();
        files.sort();
        let listed: Vec<(i64, String, String)> = MIGRATIONS
            .iter()
            .map(|m| (m.version, m.description.to_owned(), m.sql.to_owned()))
            .collect();
        assert_eq!(listed, files);
    }
}
