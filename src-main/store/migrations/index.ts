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
  {
    version: 2,
    name: 'word search index over documents',
    // Contentless (the text lives in `documents`), with deletes by rowid; the `corpus` column holds
    // a `c<id>` token so one query intersects a corpus' postings with the words'. Filled after an
    // import commits, in chunks, and resumed at open after a crash (`indexed_through`).
    sql: `
      CREATE VIRTUAL TABLE documents_fts USING fts5(
        corpus, text, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2'
      );
      ALTER TABLE corpora ADD COLUMN indexed_through INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE corpora ADD COLUMN search_ready INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 3,
    name: 'tokenizers',
    // The tokenizer.json text is the tokenizer: vocabulary and normalisation in the format Hugging
    // Face loads; its hash pins it in checkpoints.
    sql: `
      CREATE TABLE tokenizers (
        id              INTEGER PRIMARY KEY,
        project_id      INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        name            TEXT NOT NULL,
        origin          TEXT NOT NULL CHECK (origin IN ('trained', 'imported')),
        corpus_id       INTEGER REFERENCES corpora(id) ON DELETE SET NULL,
        source_name     TEXT NOT NULL,
        options_json    TEXT,
        tokenizer_json  TEXT NOT NULL,
        vocab_size      INTEGER NOT NULL,
        lowercase       INTEGER NOT NULL,
        hash            TEXT NOT NULL,
        train_json      TEXT,
        diagnostics_json TEXT,
        created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        UNIQUE (project_id, name)
      );
    `,
  },
  {
    version: 4,
    name: 'runs, metrics, checkpoints',
    // A checkpoint's tensors are chunked BLOBs (≤ 4 MiB each) written in the same transaction as
    // the metrics and run state of the step that produced them. Metrics are keyed by
    // (run, name, step, split), so re-running steps after a resume replaces rather than duplicates.
    sql: `
      CREATE TABLE runs (
        id                INTEGER PRIMARY KEY,
        project_id        INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        kind              TEXT NOT NULL CHECK (kind IN ('pretrain', 'finetune')),
        name              TEXT NOT NULL,
        status            TEXT NOT NULL DEFAULT 'queued'
                            CHECK (status IN ('queued', 'running', 'paused', 'done', 'diverged', 'crashed', 'cancelled')),
        config_json       TEXT NOT NULL,
        model_config_json TEXT NOT NULL,
        corpus_id         INTEGER REFERENCES corpora(id) ON DELETE SET NULL,
        tokenizer_id      INTEGER REFERENCES tokenizers(id) ON DELETE SET NULL,
        parent_run_id     INTEGER REFERENCES runs(id) ON DELETE SET NULL,
        backend           TEXT,
        step              INTEGER NOT NULL DEFAULT 0,
        epoch             INTEGER NOT NULL DEFAULT 0,
        created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        started_at        TEXT,
        finished_at       TEXT,
        error             TEXT
      );
      CREATE INDEX runs_project ON runs (project_id, created_at);
      CREATE TABLE metrics (
        run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step       INTEGER NOT NULL,
        split      TEXT NOT NULL CHECK (split IN ('train', 'validation')),
        name       TEXT NOT NULL,
        value      REAL,
        wall_time  REAL NOT NULL,
        PRIMARY KEY (run_id, name, step, split)
      ) WITHOUT ROWID;
      CREATE TABLE checkpoints (
        id              INTEGER PRIMARY KEY,
        run_id          INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step            INTEGER NOT NULL,
        kind            TEXT NOT NULL CHECK (kind IN ('interval', 'best', 'final')),
        validation_loss REAL,
        manifest_json   TEXT NOT NULL,
        bytes           INTEGER NOT NULL,
        created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
      );
      CREATE INDEX checkpoints_run ON checkpoints (run_id, step);
      CREATE TABLE checkpoint_chunks (
        checkpoint_id INTEGER NOT NULL REFERENCES checkpoints(id) ON DELETE CASCADE,
        idx           INTEGER NOT NULL,
        data          BLOB NOT NULL,
        PRIMARY KEY (checkpoint_id, idx)
      );
    `,
  },
  {
    version: 5,
    name: 'fill-mask probes at checkpoints',
    sql: `
      CREATE TABLE probes (
        run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step        INTEGER NOT NULL,
        results_json TEXT NOT NULL,
        created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (run_id, step)
      );
    `,
  },
  {
    version: 6,
    name: 'which process runs a run',
    // A studio that opens marks runs left 'running' as crashed, except those whose process is alive
    // (a web-mode studio and a CLI can share one home).
    sql: `ALTER TABLE runs ADD COLUMN owner_pid INTEGER;`,
  },
  {
    version: 7,
    name: 'datasets, label classes, labels, splits',
    // A dataset is a corpus' documents under one task's label schema. Labels name classes by id
    // (a rename touches one row) and carry who gave them: one row per (document, annotator), each
    // written in its own transaction the moment the analyst gives it. A split, once made, is kept.
    sql: `
      CREATE TABLE datasets (
        id                   INTEGER PRIMARY KEY,
        project_id           INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        corpus_id            INTEGER NOT NULL REFERENCES corpora(id) ON DELETE CASCADE,
        name                 TEXT NOT NULL,
        task                 TEXT NOT NULL CHECK (task IN ('classify', 'multilabel', 'tag', 'qa', 'summarize')),
        allow_overlap        INTEGER NOT NULL DEFAULT 0,
        split_seed           INTEGER,
        split_fractions_json TEXT,
        created_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        UNIQUE (project_id, name)
      );
      CREATE TABLE label_classes (
        id         INTEGER PRIMARY KEY,
        dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        name       TEXT NOT NULL,
        color      TEXT NOT NULL,
        position   INTEGER NOT NULL,
        UNIQUE (dataset_id, name)
      );
      CREATE TABLE labels (
        dataset_id  INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        annotator   TEXT NOT NULL,
        value_json  TEXT NOT NULL,
        updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        PRIMARY KEY (dataset_id, document_id, annotator)
      ) WITHOUT ROWID;
      CREATE INDEX labels_document ON labels (document_id);
      CREATE TABLE splits (
        dataset_id  INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        split       TEXT NOT NULL CHECK (split IN ('train', 'validation', 'test')),
        PRIMARY KEY (dataset_id, document_id)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 8,
    name: 'fine-tuning data, evaluations, model-in-the-loop predictions',
    // A fine-tuning run freezes the examples it trains, validates and tests on (gzip JSON), so it
    // resumes and evaluates on exactly the same data whatever is relabelled later.
    sql: `
      CREATE TABLE run_datasets (
        run_id      INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
        dataset_id  INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
        task        TEXT NOT NULL CHECK (task IN ('classify', 'multilabel', 'tag', 'qa', 'summarize')),
        labels_json TEXT NOT NULL,
        examples    BLOB NOT NULL
      );
      CREATE TABLE evaluations (
        id              INTEGER PRIMARY KEY,
        run_id          INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        checkpoint_step INTEGER NOT NULL,
        split           TEXT NOT NULL CHECK (split IN ('validation', 'test')),
        metrics_json    TEXT NOT NULL,
        predictions     BLOB NOT NULL,
        created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
      );
      CREATE INDEX evaluations_run ON evaluations (run_id, id);
      CREATE TABLE predictions (
        dataset_id  INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
        run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        value_json  TEXT NOT NULL,
        confidence  REAL NOT NULL,
        entropy     REAL NOT NULL,
        margin      REAL NOT NULL,
        PRIMARY KEY (dataset_id, document_id)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 9,
    name: 'experiments: tags, notes, archive, the persistent queue, sweeps, exports',
    // The queue is the order of runs waiting for the one worker: a position per queued run, kept
    // across restarts (NULL once a process has claimed the run). Validation metrics are sparse, so
    // a partial index over them finds a run's best validation value without scanning every
    // training point, at next to no cost per training write.
    sql: `
      CREATE TABLE sweeps (
        id          INTEGER PRIMARY KEY,
        project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        name        TEXT NOT NULL,
        method      TEXT NOT NULL CHECK (method IN ('grid', 'random')),
        base_run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
        space_json  TEXT NOT NULL,
        created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        UNIQUE (project_id, name)
      );
      ALTER TABLE runs ADD COLUMN tags_json TEXT NOT NULL DEFAULT '[]';
      ALTER TABLE runs ADD COLUMN notes TEXT NOT NULL DEFAULT '';
      ALTER TABLE runs ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE runs ADD COLUMN queue_position INTEGER;
      ALTER TABLE runs ADD COLUMN sweep_id INTEGER REFERENCES sweeps(id) ON DELETE SET NULL;
      ALTER TABLE runs ADD COLUMN environment_json TEXT;
      CREATE INDEX runs_queue ON runs (queue_position) WHERE queue_position IS NOT NULL;
      CREATE INDEX runs_sweep ON runs (sweep_id) WHERE sweep_id IS NOT NULL;
      CREATE INDEX runs_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;
      CREATE INDEX metrics_validation ON metrics (run_id, name, value) WHERE split = 'validation';
      CREATE TABLE exports (
        id              INTEGER PRIMARY KEY,
        run_id          INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        checkpoint_step INTEGER NOT NULL,
        format          TEXT NOT NULL,
        folder          TEXT NOT NULL,
        created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
      );
      CREATE INDEX exports_run ON exports (run_id, id);
    `,
  },
]
