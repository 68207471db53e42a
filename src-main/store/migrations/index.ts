/**
 * Numbered migrations, applied in order at open, each in its own transaction together with the
 * `user_version` bump, so a crash leaves the schema at a whole version. Append only: never edit a
 * migration that has shipped.
 */
export const migrations: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'projects, corpora, documents',
    sql: `
      CREATE TABLE projects (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE COLLATE NOCASE,
        created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
      );
      CREATE TABLE corpora (
        id           INTEGER PRIMARY KEY,
        project_id   INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        name         TEXT NOT NULL,
        source_name  TEXT NOT NULL,
        format       TEXT NOT NULL,
        options_json TEXT NOT NULL,
        stats_json   TEXT NOT NULL,
        created_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        UNIQUE (project_id, name)
      );
      CREATE TABLE documents (
        id         INTEGER PRIMARY KEY,
        corpus_id  INTEGER NOT NULL REFERENCES corpora(id) ON DELETE CASCADE,
        ordinal    INTEGER NOT NULL,
        text       TEXT NOT NULL,
        label      TEXT,
        source     TEXT NOT NULL,
        UNIQUE (corpus_id, ordinal)
      );
    `,
  },
]
