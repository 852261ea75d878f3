-- Many writers: every write of an instance row is a compare-and-set on its revision (storage/store.py).
ALTER TABLE instances ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
